"""Same seed, same machine: the same loss history, bit for bit (in-process, tiny data)."""

from __future__ import annotations

import pytest
import torch

from lenet.models import LeNet5, LeNetModern, default_recipe
from lenet.train import fit, seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_data(n: int = 160):
    g = torch.Generator().manual_seed(123)
    images = torch.rand(n, 1, 28, 28, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    return (images[:128], labels[:128]), (images[128:], labels[128:])


def _run(model_cls, seed: int, **kwargs):
    seed_everything(seed)
    model = model_cls()
    transform, loss_fn = default_recipe(model)
    train, test = _tiny_data()
    history = fit(model, train, test, epochs=2, batch_size=32, seed=seed, progress=False,
                  device="cpu", transform=transform, loss_fn=loss_fn, **kwargs)
    return history, model


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_same_seed_same_history_and_weights_modern_adam():
    h1, m1 = _run(LeNetModern, 3, lr=1e-3, optimizer="adam", schedule="onecycle")
    h2, m2 = _run(LeNetModern, 3, lr=1e-3, optimizer="adam", schedule="onecycle")
    assert h1.as_dict() == h2.as_dict()
    assert _same_weights(m1, m2)


def test_same_seed_same_history_lenet5_map_loss_sgd():
    h1, m1 = _run(LeNet5, 0, lr=[5e-3, 2e-3], optimizer="sgd")
    h2, m2 = _run(LeNet5, 0, lr=[5e-3, 2e-3], optimizer="sgd")
    assert h1.as_dict() == h2.as_dict()
    assert _same_weights(m1, m2)


def test_a_different_seed_gives_a_different_history():
    h1, _ = _run(LeNetModern, 0, lr=1e-3, optimizer="adam")
    h2, _ = _run(LeNetModern, 1, lr=1e-3, optimizer="adam")
    assert h1.train_loss != h2.train_loss


def test_in_process_resume_matches_an_uninterrupted_run(tmp_path):
    train, test = _tiny_data()

    def run(epochs: int, checkpoint, resume: bool):
        seed_everything(5)
        model = LeNetModern()
        history = fit(model, train, test, epochs=epochs, lr=[1e-3, 5e-4, 2e-4][:epochs],
                      batch_size=32, optimizer="adam", seed=5, progress=False, device="cpu",
                      checkpoint=checkpoint, resume=resume)
        return history, model

    full, full_model = run(3, tmp_path / "full.pt", False)
    run(2, tmp_path / "cut.pt", False)  # "interrupted" after two epochs
    seed_everything(99)  # the resumed process starts from an unrelated state
    resumed, resumed_model = run(3, tmp_path / "cut.pt", True)
    assert resumed.as_dict() == full.as_dict()
    assert _same_weights(resumed_model, full_model)


def test_resume_with_random_augmentation_matches_an_uninterrupted_run(tmp_path):
    train, _ = _tiny_data(96)

    def noisy(batch: torch.Tensor) -> torch.Tensor:  # draws from the global RNG
        return batch + 0.1 * torch.randn_like(batch)

    def run(epochs: int, checkpoint, resume: bool, seed: int = 5):
        seed_everything(seed)
        return fit(LeNetModern(), train, None, epochs=epochs, lr=1e-3, batch_size=32,
                   optimizer="adam", seed=5, progress=False, device="cpu", augment=noisy,
                   checkpoint=checkpoint, resume=resume)

    full = run(3, tmp_path / "full.pt", False)
    run(2, tmp_path / "cut.pt", False)
    resumed = run(3, tmp_path / "cut.pt", True, seed=99)
    assert resumed.train_loss == full.train_loss

"""lenet.train: the device-tensor trainer against a plain reference loop, reproducibility,
the per-epoch learning rates, and the CUDA-only speed flags being no-ops on the CPU."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from lenet.data import lenet5_input
from lenet.layers import map_loss
from lenet.models import LeNet, LeNet5
from lenet.train import History, default_recipe, evaluate, fit, predict, seed_everything

N, BATCH = 300, 64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny batches run fastest on one thread (and are not slowed by a busy second core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _data(seed: int = 0, n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def _reference_loop(model, x, y, *, epochs, lr, batch_size, momentum, seed):
    """The textbook loop: shuffle with a seeded CPU generator, slice, step. Nothing else."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(y))
    return losses


def test_fit_matches_a_plain_reference_loop_on_the_same_batches():
    x, y = _data()
    seed_everything(0)
    model = LeNet()
    reference = copy.deepcopy(model)
    history = fit(model, (x, y), epochs=2, lr=0.1, batch_size=BATCH, momentum=0.9, seed=3,
                  progress=False, device="cpu")
    losses = _reference_loop(reference, x, y, epochs=2, lr=0.1, batch_size=BATCH,
                             momentum=0.9, seed=3)
    assert history.train_loss == pytest.approx(losses, rel=1e-5)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_same_seed_gives_an_identical_history_and_another_seed_does_not():
    x, y = _data()
    runs = []
    for seed in (0, 0, 1):
        seed_everything(seed)
        runs.append(fit(LeNet(), (x, y), (x[:100], y[:100]), epochs=2, lr=0.5,
                        batch_size=BATCH, seed=seed, progress=False, device="cpu"))
    assert runs[0] == runs[1]
    assert runs[0].train_loss != runs[2].train_loss


def test_history_records_the_learning_rate_given_for_each_epoch():
    x, y = _data(n=128)
    seed_everything(0)
    history = fit(LeNet(), (x, y), epochs=3, lr=[0.3, 0.2, 0.1], batch_size=BATCH,
                  progress=False, device="cpu")
    assert history.lr == pytest.approx([0.3, 0.2, 0.1])
    assert history.epochs == 3 and history.test_acc == []


def test_cuda_only_speed_flags_are_no_ops_on_the_cpu():
    x, y = _data(n=128)
    results = []
    for flags in ({}, {"amp": True, "compile": True}):
        seed_everything(0)
        model = LeNet()
        results.append((fit(model, (x, y), epochs=1, lr=0.1, batch_size=BATCH, progress=False,
                            device="cpu", **flags), model.state_dict()))
    assert results[0][0] == results[1][0]
    for key, value in results[0][1].items():
        assert torch.equal(value, results[1][1][key])


def test_channels_last_changes_the_memory_layout_not_the_training():
    x, y = _data(n=128)
    runs = []
    for channels_last in (False, True):
        seed_everything(0)
        model = LeNet()
        runs.append(fit(model, (x, y), (x, y), epochs=2, lr=0.5, batch_size=BATCH,
                        progress=False, device="cpu", channels_last=channels_last))
        conv = model.features[3].weight  # (16, 6, 5, 5): the layouts differ
        assert conv.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert runs[1].train_loss == pytest.approx(runs[0].train_loss, rel=1e-4)
    assert runs[1].test_acc == pytest.approx(runs[0].test_acc, abs=1 / 128)


def test_timings_report_steps_and_images():
    x, y = _data(n=128)
    timings: dict[str, float] = {}
    fit(LeNet(), (x, y), epochs=2, lr=0.1, batch_size=BATCH, progress=False, device="cpu",
        timings=timings)
    assert timings["images"] == 256
    assert 0 < timings["first_step_s"] <= timings["train_s"]
    assert len(timings["epoch_s"]) == 2
    assert sum(timings["epoch_s"]) == pytest.approx(timings["train_s"])


def test_predict_and_evaluate_agree_with_the_model():
    x, y = _data(n=50)
    model = LeNet().eval()
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(predict(model, x, batch_size=7), expected)
    assert evaluate(model, x, y) == pytest.approx(float((expected.argmax(1) == y).float().mean()))


def test_float64_training_follows_float32_closely_and_predict_casts_the_images():
    x, y = _data(n=128)
    runs = {}
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(0)
        model = LeNet()
        runs[dtype] = fit(model, (x, y), (x, y), epochs=2, lr=0.5, batch_size=32,
                          progress=False, device="cpu", dtype=dtype)
        assert all(p.dtype == dtype for p in model.parameters())
        assert predict(model, x[:5]).dtype == dtype  # float32 images follow the weights
    assert x.dtype == torch.float32  # the caller's tensors are not converted in place
    assert runs[torch.float64].train_loss == pytest.approx(runs[torch.float32].train_loss,
                                                           rel=1e-4)


def test_default_recipe_feeds_lenet5_the_paper_input_and_map_loss():
    assert default_recipe(LeNet5()) == (lenet5_input, map_loss)
    assert default_recipe(LeNet()) == (None, F.cross_entropy)


@pytest.mark.parametrize("kwargs, error", [
    ({"epochs": 0}, ValueError), ({"batch_size": 2.0}, TypeError),
    ({"lr": [0.1]}, ValueError), ({"lr": -1.0}, ValueError),
    ({"optimizer": "rmsprop"}, ValueError), ({"schedule": "cosine"}, ValueError),
    ({"dtype": torch.int64}, TypeError), ({"dtype": "float64"}, TypeError),
])
def test_bad_arguments_are_refused(kwargs, error):
    x, y = _data(n=16)
    with pytest.raises(error):
        fit(LeNet(), (x, y), **{"epochs": 2, **kwargs}, progress=False, device="cpu")


def test_history_round_trips_through_a_dict():
    h = History(train_loss=[1.0], train_acc=[0.5], test_acc=[0.4], lr=[0.1])
    assert History(**h.as_dict()) == h


def test_resume_with_a_random_affine_augment_matches_an_uninterrupted_run(tmp_path):
    from lenet.paper import RandomAffine

    x, y = _data(n=96)

    def run(epochs: int, resume: bool):
        seed_everything(0)
        model = LeNet()
        history = fit(model, (x, y), epochs=epochs, lr=0.1, batch_size=32, progress=False,
                      device="cpu", augment=RandomAffine(seed=1),
                      checkpoint=tmp_path / "run.pt", resume=resume)
        return history, model.state_dict()

    full, full_state = run(3, resume=False)
    (tmp_path / "run.pt").unlink()
    run(1, resume=False)                       # stop after one epoch
    resumed, resumed_state = run(3, resume=True)
    assert resumed == full
    for key, value in full_state.items():
        assert torch.equal(value, resumed_state[key])

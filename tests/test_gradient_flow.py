"""lenet.gradient_flow: per-layer gradient norms against autograd's own ``.grad``, the traced
steps against lenet.train.fit, and the step sizes against the closed forms of SGD and Adam."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lenet.gradient_flow import (
    GradTrace,
    layer_grad_norms,
    swap_layers,
    trace_steps,
    weighted_layers,
)
from lenet.models import LeNet, LeNetModern
from lenet.train import fit, seed_everything

N, BATCH = 192, 64


# tiny batches run fastest on one thread (and are not slowed by a busy second core)
pytestmark = pytest.mark.usefixtures("one_thread_module")


def _data(n: int = N, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def _lenet(seed: int = 0) -> LeNet:
    seed_everything(seed)
    return LeNet()


def test_layer_grad_norms_match_backward_grad_norms() -> None:
    model, (x, y) = _lenet(), _data()
    norms = layer_grad_norms(model, x, y)
    F.cross_entropy(model(x), y).backward()
    expected = {name: float(w.grad.norm()) for name, w in weighted_layers(model).items()}
    assert list(norms) == ["features.0", "features.3", "classifier.1", "classifier.3",
                           "classifier.5"]
    assert norms == pytest.approx(expected, rel=1e-6)


def test_layer_grad_norms_leave_grad_fields_untouched() -> None:
    model, (x, y) = _lenet(), _data()
    layer_grad_norms(model, x, y)
    assert all(p.grad is None for p in model.parameters())


def test_layer_grad_norms_cast_images_to_the_model_dtype() -> None:
    model, (x, y) = _lenet().double(), _data()
    norms64 = layer_grad_norms(model, x, y)
    norms32 = layer_grad_norms(_lenet(), x, y)
    assert norms64 == pytest.approx(norms32, rel=1e-4)


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.5), ("adam", 0.01)])
def test_trace_steps_reach_the_weights_fit_reaches(optimizer: str, lr: float) -> None:
    x, y = _data()
    passes = 2
    traced, fitted = _lenet(), _lenet()
    trace = trace_steps(traced, (x, y), steps=passes * N // BATCH, lr=lr, optimizer=optimizer,
                        batch_size=BATCH, seed=3, dtype=torch.float64)
    history = fit(fitted, (x, y), epochs=passes, lr=lr, optimizer=optimizer,
                  batch_size=BATCH, seed=3, progress=False, dtype=torch.float64)
    for (name, a), b in zip(traced.state_dict().items(), fitted.state_dict().values()):
        assert torch.allclose(a, b, rtol=0, atol=1e-12), name
    per_pass = N // BATCH
    mean_first_pass = sum(trace.loss[:per_pass]) / per_pass
    assert mean_first_pass == pytest.approx(history.train_loss[0], rel=1e-6)


def test_sgd_update_is_lr_times_gradient() -> None:
    x, y = _data()
    trace = trace_steps(_lenet(), (x, y), steps=3, lr=0.3, batch_size=BATCH,
                        dtype=torch.float64)
    assert trace.steps == 3
    for name in trace.grad:
        for g, u in zip(trace.grad[name], trace.update[name]):
            assert u == pytest.approx(0.3 * g, rel=1e-9)


def test_adam_first_update_moves_every_weight_by_lr() -> None:
    """Adam's first step is lr * g / (|g| + eps): every weight with a gradient well above eps
    moves by lr, whatever the gradient's size, so the layer moves by lr * sqrt(numel)."""
    x, y = _data()
    model = _lenet().double()
    trace = trace_steps(model, (x, y), steps=1, lr=0.01, optimizer="adam", batch_size=BATCH)
    for name, w in weighted_layers(model).items():
        assert trace.update[name][0] == pytest.approx(0.01 * math.sqrt(w.numel()), rel=1e-3)


def test_trace_steps_repeat_passes_when_steps_exceed_one_pass() -> None:
    x, y = _data(n=100)
    trace = trace_steps(_lenet(), (x, y), steps=5, lr=0.1, batch_size=64)
    assert trace.steps == 5 and all(len(v) == 5 for v in trace.grad.values())


def test_swap_layers_replaces_every_activation_and_keeps_the_weights() -> None:
    sigmoid = _lenet()
    relu = swap_layers(_lenet(), nn.Sigmoid, nn.ReLU)
    assert not any(isinstance(m, nn.Sigmoid) for m in relu.modules())
    assert sum(isinstance(m, nn.ReLU) for m in relu.modules()) == 4
    for a, b in zip(sigmoid.state_dict().values(), relu.state_dict().values()):
        assert torch.equal(a, b)
    x = _data()[0]
    assert not torch.equal(sigmoid(x), relu(x))


def test_swap_layers_to_max_pooling_matches_lenet_modern_layout() -> None:
    swapped = swap_layers(swap_layers(_lenet(), nn.Sigmoid, nn.ReLU), nn.AvgPool2d,
                          lambda: nn.MaxPool2d(2))
    kinds = [type(m) for m in swapped.modules() if not list(m.children())]
    assert kinds == [type(m) for m in LeNetModern().modules() if not list(m.children())]


def test_swap_layers_refuses_a_model_without_the_layer() -> None:
    with pytest.raises(ValueError, match="no Tanh layer"):
        swap_layers(_lenet(), nn.Tanh, nn.ReLU)


@pytest.mark.parametrize("args, error", [
    (("not a model", nn.Sigmoid, nn.ReLU), TypeError),
    ((nn.Sigmoid(), "Sigmoid", nn.ReLU), TypeError),
    ((nn.Sequential(nn.Sigmoid()), nn.Sigmoid, 3), TypeError),
    ((nn.Sequential(nn.Sigmoid()), nn.Sigmoid, lambda: 3), TypeError),
])
def test_swap_layers_rejects_bad_arguments(args, error) -> None:
    with pytest.raises(error):
        swap_layers(*args)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"steps": 0}, ValueError, "steps"),
    ({"lr": 0.0}, ValueError, "lr"),
    ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
    ({"dtype": torch.int64}, TypeError, "dtype"),
])
def test_trace_steps_rejects_bad_arguments(kwargs, error, match) -> None:
    args = {"steps": 1, "lr": 0.1} | kwargs
    with pytest.raises(error, match=match):
        trace_steps(_lenet(), _data(), **args)


def test_batch_checks_name_the_argument() -> None:
    x, y = _data()
    with pytest.raises(ValueError, match="images"):
        layer_grad_norms(_lenet(), x[0], y)
    with pytest.raises(ValueError, match="labels"):
        layer_grad_norms(_lenet(), x, y[:3])


def test_grad_trace_counts_steps() -> None:
    assert GradTrace(loss=[1.0, 2.0]).steps == 2

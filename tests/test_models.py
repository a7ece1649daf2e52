"""The networks: shapes, input checks, the paper's parameter count and initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lenet import LeNet, LeNet5, LeNetModern, get_model
from lenet.layers import SparseConv2d
from lenet.models import MODELS, CifarNet, CifarNetDeep

pytestmark = pytest.mark.usefixtures("one_thread")  # fast and exact on a busy CPU


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_maps_its_input_size_to_ten_scores(name):
    torch.manual_seed(0)
    model = get_model(name)
    out = model(torch.randn(3, *model.input_size))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()


#: The fixed-size models (a global-average-pooling model may accept any size).
FIXED_SIZE = ["lenet5", "lenet", "lenet-modern", "cifar-net", "cifar-net-deep"]


@pytest.mark.parametrize("name", FIXED_SIZE)
def test_wrong_input_size_names_the_expected_shape(name):
    model = get_model(name)
    c, h, w = model.input_size
    with pytest.raises(ValueError) as err:
        model(torch.zeros(2, c, h - 4, w - 4))
    assert f"(N, {c}, {h}, {w})" in str(err.value)
    assert f"(2, {c}, {h - 4}, {w - 4})" in str(err.value)


def test_28x28_into_lenet5_mentions_32x32():
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        LeNet5()(torch.zeros(1, 1, 28, 28))


def test_lenet5_has_the_papers_60000_parameters():
    paper = 156 + 12 + 1_516 + 32 + 48_120 + 10_164  # C1 S2 C3 S4 C5 F6, section II.B
    assert sum(p.numel() for p in LeNet5().parameters()) == paper == 60_000


def test_lenet5_initialisation_within_2_4_over_fan_in():
    torch.manual_seed(1)
    model = LeNet5()
    f = model.features
    fans = {"C1": 25, "C5": 16 * 25, "S2": 4, "S4": 4}
    for name, fan in fans.items():
        for p in (getattr(f, name).weight, getattr(f, name).bias):
            assert p.abs().max() <= 2.4 / fan
    f6 = model.classifier.F6
    assert f6.weight.abs().max() <= 2.4 / 120 and f6.bias.abs().max() <= 2.4 / 120
    c3: SparseConv2d = f.C3
    fan_per_weight = c3.fan_in()[c3._rows].view(-1, 1, 1).float()
    assert (c3.weight.abs() <= 2.4 / fan_per_weight).all()
    assert (c3.bias.abs() <= 2.4 / c3.fan_in().float()).all()
    # and they are spread over that range, not collapsed near zero
    assert f.C1.weight.abs().max() > 0.5 * 2.4 / 25


def test_lenet5_rbf_prototypes_are_buffers_not_parameters():
    model = LeNet5()
    names = {n for n, _ in model.named_parameters()}
    assert not any("OUTPUT" in n for n in names)
    assert "classifier.OUTPUT.prototypes" in dict(model.named_buffers())


def test_models_are_split_into_features_and_classifier():
    for name in MODELS:
        model = get_model(name)
        assert isinstance(model.features, nn.Sequential)
        assert isinstance(model.classifier, nn.Sequential)


def test_num_classes_changes_the_output_width():
    model = get_model("lenet-modern", num_classes=3)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 3)


# ------------------------------------------------------------------------------ bad input
def _call(factory, x):
    return factory()(x)


#: (callable, args, exception, substrings the message must contain)
BAD_INPUT = [
    pytest.param(_call, (LeNet5, torch.zeros(1, 1, 28, 28)), ValueError,
                 ("LeNet5", "(N, 1, 32, 32)", "(1, 1, 28, 28)"), id="lenet5-28x28"),
    pytest.param(_call, (LeNet5, torch.zeros(1, 32, 32)), ValueError,
                 ("(N, 1, 32, 32)", "(1, 32, 32)"), id="lenet5-3d"),
    pytest.param(_call, (LeNet, torch.zeros(4, 3, 28, 28)), ValueError,
                 ("LeNet", "(N, 1, 28, 28)", "(4, 3, 28, 28)"), id="lenet-rgb"),
    pytest.param(_call, (CifarNet, torch.zeros(2, 1, 32, 32)), ValueError,
                 ("CifarNet", "(N, 3, 32, 32)", "(2, 1, 32, 32)"), id="cifarnet-gray"),
    pytest.param(_call, (LeNet5, np.zeros((1, 1, 32, 32), dtype=np.float32)), TypeError,
                 ("LeNet5", "torch.Tensor", "ndarray", "(N, 1, 32, 32)"), id="lenet5-numpy"),
    pytest.param(get_model, ("lenet6",), ValueError, ("name", "'lenet5'", "'lenet6'"),
                 id="get-model-unknown"),
    pytest.param(get_model, (5,), TypeError, ("name", "str", "int"), id="get-model-int"),
    pytest.param(LeNet, (0,), ValueError, ("num_classes", ">= 1", "got 0"), id="lenet-classes-0"),
    pytest.param(LeNetModern, (2.0,), TypeError, ("num_classes", "float", "2.0"),
                 id="modern-classes-float"),
    pytest.param(CifarNetDeep, (-1,), ValueError, ("num_classes", "-1"), id="deep-classes-neg"),
    pytest.param(CifarNet, ("10",), TypeError, ("num_classes", "str"), id="cifar-classes-str"),
    pytest.param(lambda: get_model("lenet5", num_classes=3), (), TypeError, ("num_classes",),
                 id="lenet5-has-no-num-classes"),
]


@pytest.mark.parametrize(("fn", "args", "error", "says"), BAD_INPUT)
def test_bad_input_is_refused_with_a_clear_message(refuses, fn, args, error, says):
    refuses(fn, args, error, says)


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 3), h=st.integers(1, 40), w=st.integers(1, 40))
def test_lenet5_accepts_only_1x32x32(c, h, w):
    model = _LENET5
    if (c, h, w) == (1, 32, 32):
        assert model(torch.zeros(1, c, h, w)).shape == (1, 10)
    else:
        with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
            model(torch.zeros(1, c, h, w))


_LENET5 = LeNet5()


# ------------------------------------------------------------------- nonlinearity
def _midpoint_gap(f, x, y):
    """How far ``f`` is from affine on one pair: an affine map sends midpoints to midpoints."""
    with torch.no_grad():
        return float((f((x + y) / 2) - (f(x) + f(y)) / 2).abs().max())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_is_not_a_single_affine_map(name):
    torch.manual_seed(0)
    model = get_model(name).double()
    x, y = (torch.randn(4, *model.input_size, dtype=torch.float64) for _ in range(2))
    # float64 rounding leaves an affine map ~1e-14 from its midpoints; d2l's sigmoid LeNet
    # barely bends at initialisation (~1e-5), so the bound sits far below that
    assert _midpoint_gap(model, x, y) > 1e-9


def test_cifar_net_deep_head_does_not_collapse_but_a_stack_without_relu_does():
    torch.manual_seed(0)
    head = CifarNetDeep().double().classifier
    first, second = (m for m in head if isinstance(m, nn.Linear))
    assert any(isinstance(m, nn.ReLU) for m in head)
    # W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2): one Linear(1024, 10)
    weight = second.weight @ first.weight
    bias = second.weight @ first.bias + second.bias
    x = torch.randn(8, 1024, dtype=torch.float64)
    with torch.no_grad():
        collapsed = x @ weight.T + bias
        assert torch.allclose(second(first(x)), collapsed)  # no ReLU: one affine map
        assert not torch.allclose(head(x), collapsed, atol=1e-3)  # with ReLU: not
    assert _midpoint_gap(nn.Sequential(first, second), x, -x) < 1e-12

"""``lenet.summary``: the paper's table, and parameters/connections/shapes of any Sequential
checked against independent references (``numel`` sums, autograd Jacobians, forward shapes)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.autograd.functional import jacobian

from lenet import LeNet, LeNet5, summary
from lenet.layers import C3_TABLE, RBFOutput, SparseConv2d
from lenet.models import CifarNet

pytestmark = pytest.mark.usefixtures("one_thread")  # fast and exact on a busy CPU

#: LeCun et al. (1998), section II.B: (trainable parameters, connections) per layer.
PAPER = {"C1": (156, 122_304), "S2": (12, 5_880), "C3": (1_516, 151_600),
         "S4": (32, 2_000), "C5": (48_120, 48_120), "F6": (10_164, 10_164)}
PAPER_SHAPES = {"C1": (1, 6, 28, 28), "S2": (1, 6, 14, 14), "C3": (1, 16, 10, 10),
                "S4": (1, 16, 5, 5), "C5": (1, 120, 1, 1), "F6": (1, 84), "OUTPUT": (1, 10)}


@pytest.mark.parametrize("layer", sorted(PAPER))
def test_lenet5_summary_reproduces_the_papers_table(layer):
    s = summary(LeNet5(), (1, 1, 32, 32))
    assert (s[layer].params, s[layer].connections) == PAPER[layer]
    assert s[layer].output_shape == PAPER_SHAPES[layer]


#: The paper's totals (section II.B): 60,000 trainable parameters, 340,908 connections.
PAPER_TOTALS = (60_000, 340_908)


def test_lenet5_totals_match_the_paper():
    s = summary(LeNet5(), (1, 1, 32, 32))
    assert (s.total_params, s.total_connections) == PAPER_TOTALS
    assert s.total_params == sum(p.numel() for p in LeNet5().parameters())
    # the six trainable layers of the paper's table plus OUTPUT's 84 x 10 RBF terms
    assert s["OUTPUT"].connections == 84 * 10
    assert s.total_connections == sum(c for _, c in PAPER.values()) + 84 * 10


def test_squashing_rows_join_nothing():
    s = summary(LeNet5(), (1, 1, 32, 32))
    acts = [r for r in s if r.kind == "ScaledTanh"]
    assert [r.name for r in acts] == ["C1_act", "S2_act", "C3_act", "S4_act", "C5_act",
                                      "F6_act"]
    assert all(r.connections == 0 for r in acts)
    relu = summary(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Sigmoid()), (1, 5, 5))
    assert [r.connections for r in relu] == [2 * 9 * 9 + 2 * 9, 0, 0]


def _ones_probe_connections(model: LeNet5) -> int:
    """An independent count of LeNet-5's connections, with no formula: set every weight to
    1, every bias to 0 and every RBF prototype to 0, feed ones, and add up each weighted
    layer's output. A weighted layer then outputs, per unit, the number of input units its
    multiply-adds read (the RBF unit sums 84 terms (1 - 0)^2); each bias adds one per unit."""
    model = model.double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.fill_(0.0 if name.endswith("bias") else 1.0)
        model.classifier.OUTPUT.prototypes.zero_()
    total = 0
    for layer in [*model.features, *model.classifier]:
        if isinstance(layer, RBFOutput):
            x = torch.ones(1, layer.in_features, dtype=torch.float64)
            total += int(-layer(x).sum())
        elif any(True for _ in layer.parameters()):
            shape = _INPUT_SHAPES[type(layer).__name__, tuple(layer.weight.shape)]
            out = layer(torch.ones(1, *shape, dtype=torch.float64))
            total += int(out.sum()) + out[0].numel()  # taps, then one bias per unit
    return total


#: Each weighted layer's input shape on a 32x32 input, from the paper's description.
_INPUT_SHAPES = {("Conv2d", (6, 1, 5, 5)): (1, 32, 32), ("Subsampling", (6,)): (6, 28, 28),
                 ("SparseConv2d", (60, 5, 5)): (6, 14, 14),
                 ("Subsampling", (16,)): (16, 10, 10),
                 ("Conv2d", (120, 16, 5, 5)): (16, 5, 5), ("Linear", (84, 120)): (120,)}


def test_lenet5_total_equals_an_independent_ones_probe_count():
    assert _ones_probe_connections(LeNet5()) == 340_908 == summary(
        LeNet5(), (1, 1, 32, 32)).total_connections


def test_padded_conv_counts_only_taps_on_real_input():
    # C1 with padding 2 on a 28x28 digit: taps on the padding zeros are not connections
    s = summary(nn.Sequential(nn.Conv2d(1, 6, 5, padding=2)), (1, 1, 28, 28))
    conv = nn.Conv2d(1, 6, 5, padding=2, bias=False).double()
    nn.init.ones_(conv.weight)
    taps = int(conv(torch.ones(1, 1, 28, 28, dtype=torch.float64)).sum())
    assert s[0].connections == taps + 6 * 28 * 28 == 112_440
    assert s[0].connections < 6 * 26 * 28 * 28  # unpadded counting would give 122,304


def test_summary_accepts_chw_and_prints_a_table():
    s = summary(LeNet5(), (1, 32, 32))
    assert s.input_size == (1, 1, 32, 32)
    text = str(s)
    assert "122,304" in text and "60,000" in text
    with pytest.raises(KeyError, match="C9"):
        s["C9"]


def _count_nonzero_jacobian(fn, in_shape) -> int:
    """Brute force: input units that each output unit depends on, summed over outputs."""
    x = torch.rand(1, *in_shape, dtype=torch.float64) + 0.5
    return int((jacobian(fn, x) != 0).sum())


def test_c3_connections_equal_a_jacobian_count():
    conv = SparseConv2d(6, C3_TABLE, 5).double()
    with torch.no_grad():
        conv.weight.fill_(1.0)
    expected = _count_nonzero_jacobian(conv, (6, 14, 14)) + 16 * 10 * 10  # + one bias per unit
    assert summary(nn.Sequential(conv), (1, 6, 14, 14))[0].connections == expected == 151_600


def test_d2l_lenet_and_cifarnet_rows():
    s = summary(LeNet(), (1, 1, 28, 28))
    convs = [r for r in s if r.kind == "Conv2d"]
    assert [r.output_shape for r in convs] == [(1, 6, 28, 28), (1, 16, 10, 10)]
    assert [r.params for r in s if r.kind == "Linear"] == [48_120, 10_164, 850]
    assert s.total_params == sum(p.numel() for p in LeNet().parameters()) == 61_706
    assert s[-1].output_shape == (1, 10)
    c = summary(CifarNet(), (1, 3, 32, 32))
    assert [r.params for r in c if r.kind == "Conv2d"] == [3 * 6 * 25 + 6, 6 * 16 * 25 + 16]
    assert c.total_params == sum(p.numel() for p in CifarNet().parameters())


# ---------------------------------------------------------------- random architectures
def _conv_out(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@st.composite
def architectures(draw):
    """A random small ``nn.Sequential`` of standard layers and its input shape (C, H, W)."""
    c = draw(st.integers(1, 3))
    h, w = draw(st.integers(3, 9)), draw(st.integers(3, 9))
    shape, layers = (c, h, w), []
    input_shape = shape
    for _ in range(draw(st.integers(1, 4))):
        c, h, w = shape
        kind = draw(st.sampled_from(["conv", "max", "avg", "adaptive", "bn", "relu"]))
        k = draw(st.integers(1, 3))
        s, d = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        p = draw(st.integers(0, k // 2))
        if kind == "conv":
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
            out = groups * draw(st.integers(1, 2))
            if min(_conv_out(h, k, s, p, d), _conv_out(w, k, s, p, d)) < 1:
                continue
            layers.append(nn.Conv2d(c, out, k, stride=s, padding=p, dilation=d, groups=groups,
                                    bias=draw(st.booleans())))
            shape = (out, _conv_out(h, k, s, p, d), _conv_out(w, k, s, p, d))
        elif kind in ("max", "avg"):
            d = d if kind == "max" else 1
            if min(_conv_out(h, k, s, p, d), _conv_out(w, k, s, p, d)) < 1:
                continue
            layers.append(nn.MaxPool2d(k, s, p, dilation=d) if kind == "max"
                          else nn.AvgPool2d(k, s, p))
            shape = (c, _conv_out(h, k, s, p, d), _conv_out(w, k, s, p, d))
        elif kind == "adaptive":
            out_hw = (draw(st.integers(1, h)), draw(st.integers(1, w)))
            layers.append(nn.AdaptiveAvgPool2d(out_hw))
            shape = (c, *out_hw)
        elif kind == "bn":
            layers.append(nn.BatchNorm2d(c))
        else:
            layers.append(nn.ReLU())
    layers += [nn.Flatten(), nn.Linear(shape[0] * shape[1] * shape[2], draw(st.integers(1, 5)),
                                       bias=draw(st.booleans()))]
    return nn.Sequential(*layers).double().eval(), input_shape


def _reference_connections(layer: nn.Module, in_shape) -> int:
    """An independent count: nonzero Jacobian entries of an all-positive version of ``layer``."""
    if isinstance(layer, nn.Conv2d):
        probe = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                          layer.stride, layer.padding, layer.dilation, layer.groups,
                          bias=False).double()
        nn.init.ones_(probe.weight)
        bias = 0 if layer.bias is None else _numel(probe(torch.zeros(1, *in_shape).double()))
        return _count_nonzero_jacobian(probe, in_shape) + bias
    if isinstance(layer, nn.MaxPool2d):  # same windows as a depthwise all-ones convolution
        c = in_shape[0]
        ones = torch.ones(c, 1, layer.kernel_size, layer.kernel_size, dtype=torch.float64)
        return _count_nonzero_jacobian(
            lambda x: torch.nn.functional.conv2d(x, ones, None, layer.stride, layer.padding,
                                                 layer.dilation, groups=c), in_shape)
    if isinstance(layer, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return _count_nonzero_jacobian(layer, in_shape)
    if isinstance(layer, nn.Linear):
        probe = nn.Linear(layer.in_features, layer.out_features, bias=False).double()
        nn.init.ones_(probe.weight)
        return _count_nonzero_jacobian(probe, in_shape) + (layer.out_features if layer.bias
                                                           is not None else 0)
    raise AssertionError(type(layer))


def _numel(t: torch.Tensor) -> int:
    return t[0].numel()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures())
def test_random_sequential_params_connections_and_shapes(arch):
    model, size = arch
    s = summary(model, (1, *size))
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert len(s) == len(model)
    x = torch.rand(1, *size, dtype=torch.float64)
    for row, layer in zip(s, model):
        in_shape = tuple(x.shape[1:])
        with torch.no_grad():
            x = layer(x)
        assert row.output_shape == tuple(x.shape)
        assert row.params == sum(p.numel() for p in layer.parameters())
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                              nn.Linear)):
            assert row.connections == _reference_connections(layer, in_shape), layer
        elif isinstance(layer, nn.BatchNorm2d):
            assert row.connections == x[0].numel()
        else:
            assert row.connections == 0  # ReLU squashes, Flatten moves data: join nothing


# ------------------------------------------------------------------------------ bad input
#: (callable, args, exception, substrings the message must contain)
BAD_INPUT = [
    pytest.param(summary, (LeNet5(), (1, 1, 28, 28)), ValueError,
                 ("(N, 1, 32, 32)", "(1, 1, 28, 28)"), id="lenet5-28x28"),
    pytest.param(summary, (LeNet5(), (0, 1, 32, 32)), ValueError,
                 ("input_size", "positive", "(0, 1, 32, 32)"), id="zero-batch"),
    pytest.param(summary, (LeNet5(), (1, -32, 32)), ValueError,
                 ("input_size", "(1, -32, 32)"), id="negative-height"),
    pytest.param(summary, (LeNet5(), (32,)), ValueError, ("input_size", "(32,)"), id="one-dim"),
    pytest.param(summary, (LeNet5(), "1x32x32"), TypeError, ("input_size", "str", "'1x32x32'"),
                 id="string-size"),
    pytest.param(summary, (LeNet5(), 32), TypeError, ("input_size", "int", "32"), id="int-size"),
    pytest.param(summary, (LeNet5(), (1, 32.0, 32)), TypeError, ("input_size", "32.0"),
                 id="float-dim"),
    pytest.param(summary, (LeNet5(), (1, True, 32, 32)), TypeError, ("input_size", "True"),
                 id="bool-dim"),
    pytest.param(summary, ("lenet5", (1, 32, 32)), TypeError, ("model", "nn.Module", "str"),
                 id="model-name-not-module"),
    pytest.param(summary, (nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), (1, 1, 4)), ValueError,
                 ("input_size", "(1, 1, 1, 4)", "does not fit", "Sequential"), id="does-not-fit"),
]


@pytest.mark.parametrize(("fn", "args", "error", "says"), BAD_INPUT)
def test_bad_input_is_refused_with_a_clear_message(refuses, fn, args, error, says):
    refuses(fn, args, error, says)


@settings(max_examples=40, deadline=None)
@given(size=st.lists(st.integers(-3, 3), min_size=2, max_size=4))
def test_input_size_must_be_positive(size):
    model = nn.Sequential(nn.Flatten())
    if all(s >= 1 for s in size):
        expected = (1, *size) if len(size) == 3 else tuple(size)
        assert summary(model, size).input_size == expected
    else:
        with pytest.raises(ValueError, match="input_size"):
            summary(model, size)


def test_summary_does_not_change_the_model_it_describes():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(),
                          nn.Linear(2 * 4 * 4, 3), nn.BatchNorm1d(3)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summary(model, (1, 6, 6))
    assert model.training and all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def _brute_force_connections(conv: nn.Conv2d, size: int) -> int:
    """Multiply-adds that join a real input pixel to an output unit, counted by autograd:
    each output unit's gradient w.r.t. an input with all-ones weights counts the taps that
    reach each pixel (a reflected tap lands on a real pixel and counts there)."""
    probe = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=False,
                      padding_mode=conv.padding_mode)
    nn.init.ones_(probe.weight)
    x = torch.ones(1, conv.in_channels, size, size, requires_grad=True)
    probe(x).sum().backward()
    out = probe(x)
    bias = conv.out_channels * out.shape[-1] * out.shape[-2] if conv.bias is not None else 0
    return int(x.grad.sum()) + bias


@pytest.mark.parametrize("conv", [
    nn.Conv2d(1, 2, 3, padding="same"),
    nn.Conv2d(2, 3, 4, padding="same", dilation=2),
    nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"),
    nn.Conv2d(1, 2, 3, padding=2, padding_mode="replicate"),
    nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular", stride=2),
    nn.Conv2d(1, 2, 3, padding=1),
], ids=["same", "same-even-dilated", "reflect", "replicate", "circular", "zeros"])
def test_conv_connections_match_autograd_for_every_padding(conv):
    rows = summary(nn.Sequential(conv), (conv.in_channels, 7, 7))
    assert rows[0].connections == _brute_force_connections(conv, 7)


def test_softmax_joins_every_input_to_every_output_along_its_dim():
    rows = summary(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)), (1, 4))
    assert rows[1].connections == 3 * 3
    rows = summary(nn.Sequential(nn.Conv2d(1, 2, 1), nn.LogSoftmax(dim=1)), (1, 1, 2, 2))
    assert rows[1].connections == (2 * 2 * 2) * 2  # 8 outputs, each reads the 2 channels


def test_whole_models_are_refused_by_the_receptive_field():
    from lenet.arithmetic import receptive_field
    from lenet.models import LeNetModern
    from lenet.receptive_field import receptive_field_mask

    for fn in (receptive_field, receptive_field_mask):
        with pytest.raises(TypeError, match="LeNetModern"):
            fn(LeNetModern())
    assert receptive_field(LeNetModern().features) > 1

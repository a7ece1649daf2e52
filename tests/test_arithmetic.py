"""lenet.arithmetic against what PyTorch's layers actually produce (and reject)."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lenet.arithmetic import (
    Layer,
    conv_output_size,
    conv_transpose_output_size,
    effective_kernel_size,
    pool_output_size,
    receptive_field,
    receptive_field_steps,
)
from lenet.models import LeNet, LeNet5

SIZES = range(1, 13)
KERNELS = range(1, 6)
STRIDES = range(1, 4)
PADDINGS = range(3)
DILATIONS = range(1, 4)


def _column(size: int) -> torch.Tensor:
    # A (1, 1, size, 1) column: only the height axis is under test, so shapes stay tiny.
    return torch.zeros(1, 1, size, 1)


def torch_conv_size(size, k, s, p, d) -> int | None:
    try:
        out = F.conv2d(_column(size), torch.zeros(1, 1, k, 1), stride=(s, 1), padding=(p, 0),
                       dilation=(d, 1))
    except RuntimeError:
        return None
    return out.shape[2]


def torch_conv_transpose_size(size, k, s, p, op, d) -> int | None:
    try:
        out = F.conv_transpose2d(_column(size), torch.zeros(1, 1, k, 1), stride=(s, 1),
                                 padding=(p, 0), output_padding=(op, 0), dilation=(d, 1))
    except RuntimeError:
        return None
    return out.shape[2]


def torch_pool_size(pool, size, k, s, p) -> int | None:
    try:
        out = pool(_column(size), (k, 1), stride=None if s is None else (s, 1), padding=(p, 0))
    except RuntimeError:
        return None
    return out.shape[2]


def ours(fn, *args) -> int | None:
    try:
        return fn(*args)
    except ValueError:
        return None


# ------------------------------------------------------------------ exhaustive small grids


@pytest.mark.parametrize("stride", STRIDES)
def test_conv_output_size_matches_torch_on_every_small_combination(stride):
    mismatches, rejected = [], 0
    for size, k, p, d in itertools.product(SIZES, KERNELS, PADDINGS, DILATIONS):
        expected = torch_conv_size(size, k, stride, p, d)
        rejected += expected is None
        got = ours(conv_output_size, size, k, stride, p, d)
        if got != expected:
            mismatches.append(((size, k, stride, p, d), got, expected))
    assert mismatches == []
    assert rejected > 0  # the grid does exercise torch's "kernel larger than input" error


@pytest.mark.parametrize("stride", STRIDES)
def test_conv_transpose_output_size_matches_torch_on_every_small_combination(stride):
    mismatches, rejected = [], 0
    for size, k, p, op, d in itertools.product(SIZES, KERNELS, PADDINGS, range(3), DILATIONS):
        expected = torch_conv_transpose_size(size, k, stride, p, op, d)
        rejected += expected is None
        got = ours(conv_transpose_output_size, size, k, stride, p, op, d)
        if got != expected:
            mismatches.append(((size, k, stride, p, op, d), got, expected))
    assert mismatches == []
    assert rejected > 0


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d], ids=["max", "avg"])
@pytest.mark.parametrize("stride", [None, *STRIDES])
def test_pool_output_size_matches_torch_on_every_small_combination(pool, stride):
    mismatches, rejected = [], 0
    for size, k, p in itertools.product(SIZES, KERNELS, PADDINGS):
        expected = torch_pool_size(pool, size, k, stride, p)
        rejected += expected is None
        got = ours(pool_output_size, size, k, stride, p)
        if got != expected:
            mismatches.append(((size, k, stride, p), got, expected))
    assert mismatches == []
    assert rejected > 0  # padding > kernel_size // 2, or windows larger than the input


def test_lenet_shapes_follow_from_the_formulas():
    assert conv_output_size(32, 5) == 28  # C1
    assert pool_output_size(28, 2) == 14  # S2
    assert conv_output_size(14, 5) == 10  # C3
    assert pool_output_size(10, 2) == 5  # S4
    assert conv_output_size(5, 5) == 1  # C5
    assert conv_output_size(28, 5, padding=2) == 28  # d2l's 'same' C1


@pytest.mark.parametrize("k, d, expected", [(1, 5, 1), (3, 1, 3), (3, 2, 5), (3, 4, 9), (5, 3, 13)])
def test_effective_kernel_size_is_the_span_of_the_dilated_taps(k, d, expected):
    assert effective_kernel_size(k, d) == expected
    taps = [i * d for i in range(k)]  # the offsets a dilated kernel reads
    assert taps[-1] - taps[0] + 1 == expected


def test_functions_return_plain_ints_and_accept_numpy_integers():
    import numpy as np

    got = conv_output_size(np.int64(32), np.int32(5))
    assert got == 28 and type(got) is int
    assert type(pool_output_size(28, 2)) is int
    assert type(conv_transpose_output_size(14, 2, 2)) is int


# ------------------------------------------------------------------------- hypothesis vs torch

FAST = settings(max_examples=75, deadline=None)


@FAST
@given(size=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 5), p=st.integers(0, 4),
       d=st.integers(1, 4))
def test_conv_output_size_agrees_with_torch_on_random_arguments(size, k, s, p, d):
    assert ours(conv_output_size, size, k, s, p, d) == torch_conv_size(size, k, s, p, d)


@FAST
@given(size=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 5), p=st.integers(0, 6),
       op=st.integers(0, 4), d=st.integers(1, 4))
def test_conv_transpose_output_size_agrees_with_torch_on_random_arguments(size, k, s, p, op, d):
    expected = torch_conv_transpose_size(size, k, s, p, op, d)
    assert ours(conv_transpose_output_size, size, k, s, p, op, d) == expected


@FAST
@given(size=st.integers(1, 40), k=st.integers(1, 7), s=st.one_of(st.none(), st.integers(1, 5)),
       p=st.integers(0, 4), use_max=st.booleans())
def test_pool_output_size_agrees_with_torch_on_random_arguments(size, k, s, p, use_max):
    pool = F.max_pool2d if use_max else F.avg_pool2d
    assert ours(pool_output_size, size, k, s, p) == torch_pool_size(pool, size, k, s, p)


@FAST
@given(size=st.integers(1, 60), k=st.integers(1, 7), s=st.integers(1, 5), p=st.integers(0, 4),
       d=st.integers(1, 4))
def test_output_padding_equal_to_the_strides_remainder_recovers_the_input_size(size, k, s, p, d):
    out = ours(conv_output_size, size, k, s, p, d)
    if out is None:
        return
    remainder = (size + 2 * p - effective_kernel_size(k, d)) % s  # rows the stride dropped
    assert conv_transpose_output_size(out, k, s, p, remainder, d) == size


# ---------------------------------------------------------------------------- receptive field


def measured_receptive_field(net, size: int) -> int:
    """The extent, in input rows, of the input pixels that one output unit depends on."""
    # Small positive input: ReLU passes a gradient and tanh is far from saturating.
    x = torch.full((1, 1, size, size), 1e-3, dtype=torch.float64, requires_grad=True)
    y = net(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3))).flatten()
    return int(rows[-1] - rows[0] + 1)


def all_ones(modules: list[nn.Module]) -> nn.Sequential:
    """A copy of ``modules`` in which every input pixel of the field shows in the gradient:
    kernels of ones, and average pools for max pools (a max routes to one pixel only)."""
    out = []
    for m in modules:
        m = copy.deepcopy(m)
        if isinstance(m, nn.Conv2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.MaxPool2d):
            m = nn.AvgPool2d(m.kernel_size, m.stride)
        out.append(m)
    return nn.Sequential(*out)


def conv(k, s=1, d=1, p=0):
    return nn.Conv2d(1, 1, k, stride=s, dilation=d, padding=p)


STACKS = {
    "dilated 3x3, d=1,2,4": ([conv(3), conv(3, d=2), conv(3, d=4)], 15),
    "three 3x3": ([conv(3), nn.ReLU(), conv(3), nn.ReLU(), conv(3)], 7),
    "strided 3x3": ([conv(3, s=2), conv(3, s=2), conv(3)], 15),
    "lenet conv/pool": ([conv(5), nn.Tanh(), nn.AvgPool2d(2), conv(5), nn.Tanh(),
                         nn.AvgPool2d(2), conv(5)], 32),
    "conv, overlapping max pool, dilated conv": ([conv(3), nn.MaxPool2d(3, 2), conv(3, d=2)], 13),
    "stride-2 1x1 then 3x3 (field with holes)": ([conv(1, s=2), conv(3)], 5),
    "padded convs": ([conv(5, p=2), nn.MaxPool2d(2), conv(3, p=1), nn.BatchNorm2d(1)], 10),
}


@pytest.mark.parametrize("name", STACKS)
def test_receptive_field_matches_gradient_extent(name):
    modules, expected = STACKS[name]
    assert receptive_field(modules) == expected
    assert measured_receptive_field(all_ones(modules).double().eval(), size=64) == expected


@pytest.mark.parametrize("model, expected", [(LeNet5, 32), (LeNet, 16)])
def test_receptive_field_of_lenet_features_matches_gradient_extent(model, expected):
    torch.manual_seed(0)
    features = model().features.double()
    assert receptive_field(features) == expected  # an nn.Sequential is unrolled
    assert measured_receptive_field(features, size=64) == expected


def test_receptive_field_of_lenet5_sees_the_whole_32x32_input():
    steps = receptive_field_steps(LeNet5().features)
    assert [(s.size, s.jump) for s in steps] == [(5, 1), (6, 2), (14, 2), (16, 4), (32, 4)]


def test_all_spec_forms_give_the_same_receptive_field():
    expected = 15
    specs = [
        [("conv", 3), ("conv", 3, 1, 2), ("conv", 3, 1, 4)],
        [(3,), (3, 1, 2), (3, 1, 4)],
        [Layer(3), Layer(3, dilation=2), Layer(3, dilation=4)],
        [{"kernel_size": 3}, {"kernel_size": 3, "dilation": 2}, {"kernel_size": 3, "dilation": 4}],
        nn.Sequential(conv(3), nn.ReLU(), nn.Sequential(conv(3, d=2), conv(3, d=4))),
    ]
    for spec in specs:
        assert receptive_field(spec) == expected


def test_pool_tuple_defaults_to_non_overlapping_stride():
    assert receptive_field([("pool", 2), ("conv", 3)]) == 2 + 2 * 2
    assert receptive_field_steps([("pool", 2)])[0].jump == 2
    assert receptive_field_steps([("conv", 2)])[0].jump == 1


def test_empty_stack_sees_one_pixel():
    assert receptive_field([]) == 1
    assert receptive_field([nn.ReLU()]) == 1


layer_spec = st.tuples(st.sampled_from(["conv", "pool"]), st.integers(1, 4), st.integers(1, 2),
                       st.integers(1, 3))


@settings(max_examples=40, deadline=None)
@given(stack=st.lists(layer_spec, min_size=1, max_size=4))
def test_receptive_field_matches_gradient_extent_on_random_stacks(stack):
    # Pools are averages (every pixel shows in the gradient) and, as in torch, undilated.
    stack = [(kind, k, s, d if kind == "conv" else 1) for kind, k, s, d in stack]

    def net(x):
        for kind, k, s, d in stack:
            if kind == "conv":
                x = F.conv2d(x, torch.ones(1, 1, k, k, dtype=x.dtype), stride=s, dilation=d)
            else:
                x = F.avg_pool2d(x, k, s)
        return x

    expected = receptive_field(stack)
    # An input exactly as wide as the field gives one output unit; add a margin.
    assert measured_receptive_field(net, size=expected + 3) == expected


# ------------------------------------------------------------------------------ bad inputs

BAD_INPUTS = [
    # (function, args, kwargs, exception, substrings the message must contain)
    (conv_output_size, (0, 3), {}, ValueError, ["size=0", ">= 1"]),
    (conv_output_size, (5, 0), {}, ValueError, ["kernel_size=0", ">= 1"]),
    (conv_output_size, (5, 3), {"stride": 0}, ValueError, ["stride=0", ">= 1"]),
    (conv_output_size, (5, 3), {"stride": -2}, ValueError, ["stride=-2", ">= 1"]),
    (conv_output_size, (5, 3), {"padding": -1}, ValueError, ["padding=-1", ">= 0"]),
    (conv_output_size, (5, 3), {"dilation": 0}, ValueError, ["dilation=0", ">= 1"]),
    (conv_output_size, (5, 7), {}, ValueError,
     ["kernel_size=7 (dilation 1 -> effective 7) is larger than the padded input size 5 (size=5",
      "padding=0)"]),
    (conv_output_size, (5, 3), {"dilation": 3}, ValueError,
     ["kernel_size=3", "effective 7", "padded input size 5"]),
    (conv_output_size, (2.5, 3), {}, TypeError, ["size=2.5", "int"]),
    (conv_output_size, (5, "3"), {}, TypeError, ["kernel_size='3'", "int"]),
    (conv_output_size, (5, 3), {"stride": True}, TypeError, ["stride=True", "bool"]),
    (conv_transpose_output_size, (4, 3), {"stride": 2, "output_padding": 2}, ValueError,
     ["output_padding=2", "between 0 and 1"]),
    (conv_transpose_output_size, (4, 3), {"output_padding": -1}, ValueError,
     ["output_padding=-1", ">= 0"]),
    (conv_transpose_output_size, (1, 1), {"padding": 1}, ValueError,
     ["padding=1", "output size would be -1", "between 0 and 0"]),
    (conv_transpose_output_size, (4, 0), {}, ValueError, ["kernel_size=0"]),
    (pool_output_size, (6, 3), {"padding": 2}, ValueError,
     ["padding=2", "kernel_size=3", "between 0 and kernel_size // 2 = 1"]),
    (pool_output_size, (3, 5), {}, ValueError, ["kernel_size=5", "padded input size 3"]),
    (pool_output_size, (6, 2), {"stride": 0}, ValueError, ["stride=0", ">= 1"]),
    (pool_output_size, (6, 2.0), {}, TypeError, ["kernel_size=2.0"]),
    (effective_kernel_size, (0, 1), {}, ValueError, ["kernel_size=0", ">= 1"]),
    (effective_kernel_size, (3, -1), {}, ValueError, ["dilation=-1", ">= 1"]),
    (receptive_field, ([("conv", 0)],), {}, ValueError, ["kernel_size=0", ">= 1"]),
    (receptive_field, ([("conv", 3, 0)],), {}, ValueError, ["stride=0", ">= 1"]),
    (receptive_field, ([("deconv", 3)],), {}, TypeError, ["layer spec ('deconv', 3)"]),
    (receptive_field, ([{"kernel": 3}],), {}, TypeError, ["layer spec {'kernel': 3}"]),
    (receptive_field, (5,), {}, TypeError, ["layers=5"]),
    (receptive_field, ([nn.Flatten(), nn.Linear(4, 2)],), {}, TypeError, ["layers", "Flatten"]),
    (receptive_field, ([nn.Conv2d(1, 1, (3, 5))],), {}, ValueError,
     ["kernel_size=(3, 5)", "Conv2d"]),
]


@pytest.mark.parametrize(
    "fn, args, kwargs, exc, substrings", BAD_INPUTS,
    ids=[f"{case[0].__name__}-{i}" for i, case in enumerate(BAD_INPUTS)])
def test_bad_input_raises_with_a_message_naming_argument_value_and_range(
        fn, args, kwargs, exc, substrings):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    for text in substrings:
        assert text in message

"""lenet.ops (NumPy) against torch.nn.functional and torch autograd."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lenet import ops
from lenet.arithmetic import conv_output_size, pool_output_size

TOL = {np.float64: {"rtol": 1e-10, "atol": 1e-10}, np.float32: {"rtol": 1e-5, "atol": 1e-5}}


def rand(rng: np.random.Generator, shape, dtype=np.float64) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).requires_grad_(grad)


# (x shape, weight shape, stride, padding, dilation)
CONV_CASES = [
    ((2, 1, 8, 8), (3, 1, 3, 3), 1, 0, 1),
    ((2, 3, 9, 7), (4, 3, 3, 2), 2, 1, 1),
    ((1, 2, 10, 11), (2, 2, 3, 3), 1, 2, 2),
    ((3, 2, 7, 9), (5, 2, 2, 4), (2, 3), (1, 0), (3, 1)),
    ((1, 4, 5, 5), (2, 4, 5, 5), 1, 0, 1),  # kernel as large as the input: 1x1 output
    ((2, 2, 6, 6), (3, 2, 1, 1), 3, 0, 1),  # 1x1 kernel, stride leaves pixels unused
    ((1, 1, 4, 4), (1, 1, 3, 3), 1, 3, 1),  # padding larger than the kernel
    ((2, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1),  # LeNet's C3
]
CONV_IDS = [f"x{c[0]}-w{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}" for c in CONV_CASES]


# ------------------------------------------------------------------------- im2col / col2im


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", CONV_CASES, ids=CONV_IDS)
def test_im2col_matches_torch_unfold(x_shape, w_shape, stride, padding, dilation):
    x = rand(np.random.default_rng(0), x_shape)
    kernel = w_shape[2:]
    got = ops.im2col(x, kernel, stride, padding, dilation)
    expected = F.unfold(t(x), kernel, dilation=dilation, padding=padding, stride=stride)
    np.testing.assert_array_equal(got, expected.numpy())


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", CONV_CASES, ids=CONV_IDS)
def test_col2im_matches_torch_fold_summing_overlaps(x_shape, w_shape, stride, padding, dilation):
    rng = np.random.default_rng(1)
    kernel = w_shape[2:]
    cols_shape = ops.im2col(np.zeros(x_shape), kernel, stride, padding, dilation).shape
    cols = rand(rng, cols_shape)
    got = ops.col2im(cols, x_shape, kernel, stride, padding, dilation)
    expected = F.fold(t(cols), x_shape[2:], kernel, dilation=dilation, padding=padding,
                      stride=stride)
    np.testing.assert_allclose(got, expected.numpy(), **TOL[np.float64])


def test_col2im_is_the_adjoint_of_im2col():
    rng = np.random.default_rng(2)
    x, kernel = rand(rng, (2, 3, 9, 8)), (3, 2)
    cols = ops.im2col(x, kernel, 2, 1, (1, 2))
    y = rand(rng, cols.shape)
    # <im2col(x), y> == <x, col2im(y)>
    np.testing.assert_allclose(np.vdot(cols, y),
                               np.vdot(x, ops.col2im(y, x.shape, kernel, 2, 1, (1, 2))))


def test_col2im_of_ones_counts_the_windows_covering_each_pixel():
    ones = np.ones((1, 9, 9))  # 3x3 kernel, 3x3 windows over a 5x5 image
    counts = ops.col2im(ones, (1, 1, 5, 5), 3)[0, 0]
    assert counts[2, 2] == 9 and counts[0, 0] == 1 and counts[0, 2] == 3


# ----------------------------------------------------------------------------- convolution


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", CONV_CASES, ids=CONV_IDS)
def test_conv2d_matches_torch(x_shape, w_shape, stride, padding, dilation, dtype):
    rng = np.random.default_rng(3)
    x, w, b = rand(rng, x_shape, dtype), rand(rng, w_shape, dtype), rand(rng, w_shape[0], dtype)
    got = ops.conv2d(x, w, b, stride, padding, dilation)
    expected = F.conv2d(t(x), t(w), t(b), stride, padding, dilation).numpy()
    assert got.dtype == dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **TOL[dtype])


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", CONV_CASES[:7],
                         ids=CONV_IDS[:7])
def test_conv2d_naive_loops_equal_the_vectorised_conv2d(x_shape, w_shape, stride, padding,
                                                        dilation):
    rng = np.random.default_rng(4)
    x, w, b = rand(rng, x_shape), rand(rng, w_shape), rand(rng, w_shape[0])
    np.testing.assert_allclose(ops.conv2d_naive(x, w, b, stride, padding, dilation),
                               ops.conv2d(x, w, b, stride, padding, dilation), **TOL[np.float64])


def test_conv2d_without_bias_and_with_integer_input_computes_in_float64():
    x = np.arange(16).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2), dtype=np.float32)
    got = ops.conv2d(x, w)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, F.conv2d(t(x.astype(np.float64)), t(w.astype(float))))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", CONV_CASES, ids=CONV_IDS)
def test_conv2d_backward_matches_torch_autograd(x_shape, w_shape, stride, padding, dilation,
                                                dtype):
    rng = np.random.default_rng(5)
    x, w, b = rand(rng, x_shape, dtype), rand(rng, w_shape, dtype), rand(rng, w_shape[0], dtype)
    xt, wt, bt = t(x, True), t(w, True), t(b, True)
    out = F.conv2d(xt, wt, bt, stride, padding, dilation)
    grad = rand(rng, out.shape, dtype)
    out.backward(t(grad))
    grad_x, grad_w, grad_b = ops.conv2d_backward(grad, x, w, stride, padding, dilation)
    for got, expected in [(grad_x, xt.grad), (grad_w, wt.grad), (grad_b, bt.grad)]:
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected.numpy(), **TOL[dtype])


# (x shape, weight shape (C_in, C_out, kh, kw), stride, padding, output_padding, dilation)
CONV_T_CASES = [
    ((2, 3, 4, 4), (3, 2, 3, 3), 1, 0, 0, 1),
    ((1, 2, 5, 4), (2, 3, 2, 2), 2, 0, 1, 1),
    ((2, 1, 3, 5), (1, 2, 3, 2), (2, 3), (1, 0), (1, 2), 1),
    ((1, 2, 4, 4), (2, 1, 3, 3), 1, 2, 2, 3),  # output_padding >= stride: allowed by dilation
    ((1, 2, 4, 4), (2, 1, 3, 3), 2, 1, 1, 2),  # output_padding == padding
    ((1, 1, 3, 3), (1, 1, 2, 2), 3, 0, 2, 1),  # output_padding > padding: zero rows
    ((1, 16, 5, 5), (16, 6, 2, 2), 2, 0, 0, 1),  # upsampling LeNet's S4 back to 10x10
]
CONV_T_IDS = [f"x{c[0]}-w{c[1]}-s{c[2]}-p{c[3]}-op{c[4]}-d{c[5]}" for c in CONV_T_CASES]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding, dilation",
                         CONV_T_CASES, ids=CONV_T_IDS)
def test_conv_transpose2d_matches_torch(x_shape, w_shape, stride, padding, output_padding,
                                        dilation, dtype):
    rng = np.random.default_rng(6)
    x, w, b = rand(rng, x_shape, dtype), rand(rng, w_shape, dtype), rand(rng, w_shape[1], dtype)
    got = ops.conv_transpose2d(x, w, b, stride, padding, output_padding, dilation)
    expected = F.conv_transpose2d(t(x), t(w), t(b), stride, padding, output_padding, 1,
                                  dilation).numpy()
    assert got.dtype == dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **TOL[dtype])


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", CONV_CASES, ids=CONV_IDS)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(x_shape, w_shape, stride, padding, dilation):
    rng = np.random.default_rng(7)
    x, w = rand(rng, x_shape), rand(rng, w_shape)
    y = rand(rng, ops.conv2d(x, w, None, stride, padding, dilation).shape)
    # output_padding = the rows/columns the stride left unused, so the shapes match x.
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    kh, kw = w_shape[2:]
    op = ((x_shape[2] + 2 * ph - dh * (kh - 1) - 1) % sh,
          (x_shape[3] + 2 * pw - dw * (kw - 1) - 1) % sw)
    back = ops.conv_transpose2d(y, w, None, stride, padding, op, dilation)
    assert back.shape == x.shape
    # <conv(x), y> == <x, conv_transpose(y)>, and conv_transpose(y) is conv2d's grad wrt x.
    np.testing.assert_allclose(np.vdot(ops.conv2d(x, w, None, stride, padding, dilation), y),
                               np.vdot(x, back), rtol=1e-10)
    grad_x = ops.conv2d_backward(y, x, w, stride, padding, dilation)[0]
    np.testing.assert_allclose(back, grad_x, **TOL[np.float64])


# --------------------------------------------------------------------------------- pooling

# (x shape, kernel_size, stride, padding)
POOL_CASES = [
    ((2, 3, 8, 8), 2, None, 0),  # LeNet's S2
    ((1, 2, 7, 9), 3, 2, 1),  # overlapping, padded, odd sizes
    ((2, 1, 6, 5), 3, 1, 0),  # heavily overlapping
    ((1, 2, 9, 8), (3, 2), (2, 1), (1, 1)),
    ((1, 1, 5, 5), 4, 3, 2),  # the last window is mostly padding
    ((2, 2, 3, 3), 3, None, 0),  # one window covers everything
]
POOL_IDS = [f"x{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}" for c in POOL_CASES]
POOLS = {"max": (ops.max_pool2d, F.max_pool2d), "avg": (ops.avg_pool2d, F.avg_pool2d)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", POOL_CASES, ids=POOL_IDS)
def test_pooling_matches_torch(x_shape, kernel_size, stride, padding, kind, dtype):
    ours, theirs = POOLS[kind]
    x = rand(np.random.default_rng(8), x_shape, dtype)
    got = ours(x, kernel_size, stride, padding)
    expected = theirs(t(x), kernel_size, stride, padding).numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, **TOL[dtype])


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "many-ties"])
@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", POOL_CASES, ids=POOL_IDS)
def test_max_pool2d_backward_matches_torch_autograd_including_ties(x_shape, kernel_size,
                                                                   stride, padding, ties):
    rng = np.random.default_rng(9)
    # Values from {0, 1, 2} make most windows hold several equal maxima.
    x = rng.integers(0, 3, x_shape).astype(np.float64) if ties else rand(rng, x_shape)
    xt = t(x, True)
    out = F.max_pool2d(xt, kernel_size, stride, padding)
    grad = rand(rng, out.shape)
    out.backward(t(grad))
    got = ops.max_pool2d_backward(grad, x, kernel_size, stride, padding)
    np.testing.assert_allclose(got, xt.grad.numpy(), **TOL[np.float64])


def test_max_pool2d_backward_sends_a_tie_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    grad = ops.max_pool2d_backward(np.array([[[[5.0]]]]), x, 2)
    np.testing.assert_array_equal(grad, [[[[0.0, 5.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", POOL_CASES, ids=POOL_IDS)
def test_avg_pool2d_backward_matches_torch_autograd(x_shape, kernel_size, stride, padding,
                                                    dtype):
    rng = np.random.default_rng(10)
    xt = t(rand(rng, x_shape, dtype), True)
    out = F.avg_pool2d(xt, kernel_size, stride, padding)
    grad = rand(rng, out.shape, dtype)
    out.backward(t(grad))
    got = ops.avg_pool2d_backward(grad, x_shape, kernel_size, stride, padding)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, xt.grad.numpy(), **TOL[dtype])


def test_avg_pool2d_backward_spreads_each_gradient_evenly_and_overlaps_add():
    grad = ops.avg_pool2d_backward(np.ones((1, 1, 2, 2)), (1, 1, 3, 3), 2, stride=1)[0, 0]
    # the centre pixel is in all four 2x2 windows, a corner in one: 4/4 and 1/4
    np.testing.assert_allclose(grad, [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


# ------------------------------------------------------------------------- hypothesis vs torch


@st.composite
def conv_problems(draw):
    n, c, k = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    # Keep only shapes torch accepts: the dilated kernel must fit the padded input.
    assume(h + 2 * padding[0] >= dilation[0] * (kh - 1) + 1)
    assume(w + 2 * padding[1] >= dilation[1] * (kw - 1) + 1)
    return (n, c, h, w), (k, c, kh, kw), stride, padding, dilation


@settings(max_examples=60, deadline=None)
@given(problem=conv_problems(), seed=st.integers(0, 2**16))
def test_conv2d_and_its_backward_match_torch_on_random_shapes(problem, seed):
    x_shape, w_shape, stride, padding, dilation = problem
    rng = np.random.default_rng(seed)
    x, w, b = rand(rng, x_shape), rand(rng, w_shape), rand(rng, w_shape[0])
    xt, wt, bt = t(x, True), t(w, True), t(b, True)
    out = F.conv2d(xt, wt, bt, stride, padding, dilation)
    got = ops.conv2d(x, w, b, stride, padding, dilation)
    assert got.shape == out.shape
    assert got.shape[2] == conv_output_size(x_shape[2], w_shape[2], stride[0], padding[0],
                                            dilation[0])
    np.testing.assert_allclose(got, out.detach().numpy(), **TOL[np.float64])
    grad = rand(rng, out.shape)
    out.backward(t(grad))
    for g, expected in zip(ops.conv2d_backward(grad, x, w, stride, padding, dilation),
                           (xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(g, expected.numpy(), **TOL[np.float64])


@settings(max_examples=60, deadline=None)
@given(problem=conv_problems(), seed=st.integers(0, 2**16))
def test_conv_transpose2d_matches_torch_on_random_shapes(problem, seed):
    y_shape, w_shape, stride, padding, dilation = problem  # reused: any valid geometry
    rng = np.random.default_rng(seed)
    x = rand(rng, (y_shape[0], w_shape[0], *y_shape[2:]))  # C_in = the conv's K
    w = rand(rng, w_shape)  # (C_in, C_out, kh, kw)
    op = tuple(rng.integers(0, max(s, d)) for s, d in zip(stride, dilation))
    try:
        expected = F.conv_transpose2d(t(x), t(w), None, stride, padding, op, 1, dilation)
    except RuntimeError:  # padding too large for this output: ours must refuse it too
        with pytest.raises(ValueError, match="padding"):
            ops.conv_transpose2d(x, w, None, stride, padding, op, dilation)
        return
    got = ops.conv_transpose2d(x, w, None, stride, padding, op, dilation)
    np.testing.assert_allclose(got, expected.numpy(), **TOL[np.float64])


@st.composite
def pool_problems(draw):
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    assume(h + 2 * padding[0] >= kh and w + 2 * padding[1] >= kw)
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), (kh, kw), stride, padding


@settings(max_examples=60, deadline=None)
@given(problem=pool_problems(), seed=st.integers(0, 2**16), ties=st.booleans())
def test_pooling_and_its_backward_match_torch_on_random_shapes(problem, seed, ties):
    x_shape, kernel, stride, padding = problem
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, x_shape).astype(np.float64) if ties else rand(rng, x_shape)
    for ours, theirs in POOLS.values():
        xt = t(x, True)
        out = theirs(xt, kernel, stride, padding)
        got = ours(x, kernel, stride, padding)
        assert got.shape[2] == pool_output_size(x_shape[2], kernel[0],
                                                None if stride is None else stride[0],
                                                padding[0])
        np.testing.assert_allclose(got, out.detach().numpy(), **TOL[np.float64])
        grad = rand(rng, out.shape)
        out.backward(t(grad))
        if ours is ops.max_pool2d:
            back = ops.max_pool2d_backward(grad, x, kernel, stride, padding)
        else:
            back = ops.avg_pool2d_backward(grad, x_shape, kernel, stride, padding)
        np.testing.assert_allclose(back, xt.grad.numpy(), **TOL[np.float64])


# ------------------------------------------------------------------------------ bad inputs

X = np.zeros((2, 3, 5, 5))
W = np.zeros((4, 3, 3, 3))

BAD_INPUTS = [
    # (function, args, kwargs, exception, substrings the message must contain)
    (ops.conv2d, (np.zeros((3, 5, 5)), W), {}, ValueError,
     ["x must be a 4-D array (N, C, H, W)", "3-D", "(3, 5, 5)"]),
    (ops.conv2d, (np.zeros((1, 2, 3, 5, 5)), W), {}, ValueError, ["x must be a 4-D", "5-D"]),
    (ops.conv2d, (X, np.zeros((4, 3, 3))), {}, ValueError,
     ["weight must be a 4-D array (K, C, kh, kw)", "3-D"]),
    (ops.conv2d, (X, np.zeros((4, 2, 3, 3))), {}, ValueError,
     ["x has C=3 channels", "weight expects 2 input channels"]),
    (ops.conv2d, (X, W), {"stride": 0}, ValueError, ["stride=0", ">= 1"]),
    (ops.conv2d, (X, W), {"dilation": (1, 0)}, ValueError, ["dilation=0", ">= 1"]),
    (ops.conv2d, (X, W), {"padding": -1}, ValueError, ["padding=-1", ">= 0"]),
    (ops.conv2d, (X, np.zeros((4, 3, 7, 3))), {}, ValueError,
     ["along the height of x",
      "kernel_size=7 (dilation 1 -> effective 7) is larger than the padded input size 5",
      "(size=5, padding=0)"]),
    (ops.conv2d, (X, W), {"dilation": 3}, ValueError, ["kernel_size=3", "effective 7"]),
    (ops.conv2d, (X, W), {"stride": 1.5}, TypeError, ["stride=1.5", "int"]),
    (ops.conv2d, (X, W), {"stride": True}, TypeError, ["stride=True", "bool"]),
    (ops.conv2d, (X, W), {"stride": (1, 2, 3)}, ValueError, ["stride=(1, 2, 3)", "pair"]),
    (ops.conv2d, (X, W, np.zeros(3)), {}, ValueError, ["bias must have shape (4,)", "(3,)"]),
    (ops.conv2d, (X.astype(complex), W), {}, TypeError, ["x must hold real numbers", "complex"]),
    (ops.conv2d_naive, (X, np.zeros((4, 2, 3, 3))), {}, ValueError, ["x has C=3", "weight"]),
    (ops.conv_transpose2d, (X, np.zeros((4, 3, 3, 3))), {}, ValueError,
     ["x has C=3 channels", "weight.shape[0]"]),
    (ops.conv_transpose2d, (X, np.zeros((3, 4, 3, 3))), {"stride": 2, "output_padding": 2},
     ValueError, ["output_padding=2", "between 0 and 1"]),
    (ops.conv_transpose2d, (np.zeros((1, 3, 1, 1)), np.zeros((3, 4, 1, 1))), {"padding": 1},
     ValueError, ["padding=1", "between 0 and 0"]),
    (ops.conv2d_backward, (np.zeros((2, 4, 2, 2)), X, W), {}, ValueError,
     ["grad_out must have the forward output's shape (2, 4, 3, 3)", "(2, 4, 2, 2)"]),
    (ops.max_pool2d, (X, 0), {}, ValueError, ["kernel_size=0", ">= 1"]),
    (ops.max_pool2d, (X, 3), {"padding": 2}, ValueError,
     ["padding=2", "kernel_size // 2 = 1"]),
    (ops.max_pool2d, (X, 6), {}, ValueError, ["kernel_size=6", "padded input size 5"]),
    (ops.avg_pool2d, (np.zeros((5, 5)), 2), {}, ValueError, ["x must be a 4-D", "2-D"]),
    (ops.avg_pool2d, (X, 2), {"stride": -1}, ValueError, ["stride=-1", ">= 1"]),
    (ops.max_pool2d_backward, (np.zeros((2, 3, 3, 3)), X, 2), {}, ValueError,
     ["grad_out must have the forward output's shape (2, 3, 2, 2)", "(2, 3, 3, 3)"]),
    (ops.avg_pool2d_backward, (np.zeros((2, 3, 2, 2)), (3, 5, 5), 2), {}, ValueError,
     ["x_shape must be 4 ints", "(3, 5, 5)"]),
    (ops.im2col, (X, (3, 6)), {}, ValueError, ["width", "kernel_size=6"]),
    (ops.im2col, (X, 2), {"dilation": -1}, ValueError, ["dilation=-1", ">= 1"]),
    (ops.col2im, (np.zeros((2, 27, 8)), X.shape, 3), {}, ValueError,
     ["cols must have shape (N, C*kh*kw, H'*W') = (2, 27, 9)", "(2, 27, 8)"]),
    (ops.col2im, (np.zeros((2, 27, 9)), (2, 3, 5), 3), {}, ValueError, ["input_shape"]),
]


@pytest.mark.parametrize(
    "fn, args, kwargs, exc, substrings", BAD_INPUTS,
    ids=[f"{case[0].__name__}-{i}" for i, case in enumerate(BAD_INPUTS)])
def test_bad_input_raises_with_a_message_naming_argument_value_and_range(
        fn, args, kwargs, exc, substrings):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{fn.__name__}: ")  # which call went wrong
    name = re.split("[= ]", substrings[0])[0]  # the argument: pinned by name, not wording
    assert name in message, (name, message)

"""``lenet.ops.conv2d_weight_grad`` (the weight gradient as a correlation) against autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet import ops


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 9))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 9))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w)
    return shape, (draw(st.integers(1, 3)), shape[1], kh, kw), stride, padding, dilation


def _autograd(x, w, g, **geometry):
    xt = torch.from_numpy(x)
    wt = torch.from_numpy(w).requires_grad_()
    F.conv2d(xt, wt, **geometry).backward(torch.from_numpy(g))
    return wt.grad.numpy()


@settings(max_examples=80, deadline=None)
@given(conv_cases(), st.integers(0, 2**32 - 1))
def test_weight_grad_equals_autograd_for_any_geometry(case, seed):
    shape, w_shape, stride, padding, dilation = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape), rng.standard_normal(w_shape)
    geometry = {"stride": stride, "padding": padding, "dilation": dilation}
    g = rng.standard_normal(ops.conv2d(x, w, **geometry).shape)
    ours = ops.conv2d_weight_grad(x, g, w_shape[2:], **geometry)
    assert ours.shape == w_shape
    np.testing.assert_allclose(ours, _autograd(x, w, g, **geometry), atol=1e-10)
    np.testing.assert_allclose(ours, ops.conv2d_backward(g, x, w, **geometry)[1], atol=1e-10)


def test_weight_grad_of_one_output_pixel_is_its_window():
    # dL/dW for L = out[0, 0, 1, 2] is the window that pixel read: a one-hot gradient.
    x = np.arange(30.0).reshape(1, 1, 5, 6)
    g = np.zeros((1, 1, 3, 4))
    g[0, 0, 1, 2] = 1.0
    assert np.array_equal(ops.conv2d_weight_grad(x, g, 3)[0, 0], x[0, 0, 1:4, 2:5])


def test_weight_grad_keeps_float32():
    x = np.ones((1, 2, 6, 6), dtype=np.float32)
    g = np.ones((1, 3, 4, 4), dtype=np.float32)
    out = ops.conv2d_weight_grad(x, g, 3)
    assert out.dtype == np.float32 and np.all(out == 16)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"x": np.ones((1, 1, 5, 5)), "grad_out": np.ones((1, 1, 4, 4)), "kernel_size": 3},
     ValueError, "grad_out must have shape"),
    ({"x": np.ones((2, 1, 5, 5)), "grad_out": np.ones((1, 1, 3, 3)), "kernel_size": 3},
     ValueError, "grad_out"),
    ({"x": np.ones((1, 1, 5, 5)), "grad_out": np.ones((1, 1, 3, 3)), "kernel_size": 0},
     ValueError, "kernel_size"),
    ({"x": np.ones((1, 1, 2, 2)), "grad_out": np.ones((1, 1, 1, 1)), "kernel_size": 3},
     ValueError, "kernel_size=3"),
    ({"x": np.ones((5, 5)), "grad_out": np.ones((1, 1, 3, 3)), "kernel_size": 3},
     ValueError, "x="),
    ({"x": np.ones((1, 1, 5, 5)), "grad_out": np.ones((1, 1, 3, 3)), "kernel_size": 3,
      "stride": 1.5}, TypeError, "stride"),
])
def test_bad_arguments_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        ops.conv2d_weight_grad(**kwargs)

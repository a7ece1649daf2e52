"""Gradient descent recovers a known kernel; each step is autograd's step."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lenet import ops
from lenet.kernel_fit import fit_kernel, plot_kernels

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def test_fit_recovers_the_sobel_kernel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 12, 12))
    y = ops.conv2d(x, SOBEL_X[None, None])
    fit = fit_kernel(x, y, 3, lr=0.1, steps=60)
    assert fit.kernel.shape == (1, 1, 3, 3) and fit.losses.shape == (61,)
    np.testing.assert_allclose(fit.kernel[0, 0], SOBEL_X, atol=1e-3)
    assert np.all(np.diff(fit.losses) < 0)


def test_each_step_is_the_autograd_step():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 7, 6))
    y = rng.standard_normal((3, 2, 5, 5))
    k = torch.zeros(2, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    for _ in range(3):
        loss = ((F.conv2d(xt, k) - yt) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            k -= 0.2 * k.grad
            k.grad = None
    fit = fit_kernel(x, y, (3, 2), lr=0.2, steps=3)
    np.testing.assert_allclose(fit.losses[:3], losses, rtol=1e-12)
    np.testing.assert_allclose(fit.kernel, k.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"y": np.zeros((2, 1, 5, 5))}, "y must have shape"),
    ({"lr": 0}, "lr=0"),
    ({"steps": 0}, "steps=0"),
    ({"x": np.zeros((6, 6))}, "4-D"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, match):
    args = {"x": np.zeros((2, 1, 6, 6)), "y": np.zeros((2, 1, 4, 4)), "kernel_size": 3,
            **kwargs}
    with pytest.raises(ValueError, match=match):
        fit_kernel(**args)


def test_plot_kernels_picks_readable_text_colours():
    fig = plot_kernels([SOBEL_X, -SOBEL_X], ["true", "negated"])
    texts = fig.axes[0].texts
    assert len(texts) == 9 and len(fig.axes) == 3
    # the +2 cell is dark red -> white text; the 0 cell is white -> black text
    colours = {t.get_text(): t.get_color() for t in texts}
    assert colours["2.00"] == "white" and colours["0.00"] == "black"
    plt.close(fig)
    fig = plot_kernels([np.array([[-1e-9, 1.0]])], ["tiny"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.00", "1.00"]
    plt.close(fig)

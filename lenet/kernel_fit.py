"""Learning a convolution kernel by gradient descent, in NumPy.

Given input images ``x`` and the outputs ``y`` of an unknown kernel, :func:`fit_kernel`
minimises the mean squared error ``L(K) = mean((conv2d(x, K) - y)**2)`` by plain gradient
descent from ``K = 0``. The gradient is the weight gradient of a convolution,
:func:`lenet.ops.conv2d_weight_grad`: the input cross-correlated with
``dL/d(output) = 2 (conv2d(x, K) - y) / y.size``. :func:`plot_kernels` draws kernels side
by side on one colour scale with their values written in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from . import ops

__all__ = ["KernelFit", "fit_kernel", "plot_kernels"]


@dataclass(frozen=True)
class KernelFit:
    """The fitted ``kernel (K, C, kh, kw)`` and ``losses (steps + 1,)``: the loss before
    each step and, last, the loss of the returned kernel."""

    kernel: np.ndarray
    losses: np.ndarray


def fit_kernel(x: np.ndarray, y: np.ndarray, kernel_size: int | tuple[int, int],
               lr: float = 0.1, steps: int = 100) -> KernelFit:
    """Fit ``K`` so that ``conv2d(x, K) ~ y`` (no padding, stride 1, no bias).

    Shapes: x ``(N, C, H, W)``, y ``(N, K, H-kh+1, W-kw+1)`` -> kernel ``(K, C, kh, kw)``.
    Starts from zeros and takes ``steps`` steps ``K -= lr * dL/dK``; float64 throughout.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 4 or y.ndim != 4:
        raise ValueError(f"x and y must be 4-D (N, C, H, W), got x.shape={x.shape}, "
                         f"y.shape={y.shape}")
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    expected = (x.shape[0], y.shape[1], x.shape[2] - kh + 1, x.shape[3] - kw + 1)
    if y.shape != expected:
        raise ValueError(f"y must have shape (N, K, H-kh+1, W-kw+1) = {expected} for "
                         f"x.shape={x.shape} and kernel_size={kernel_size!r}, got {y.shape}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr={lr!r} must be a positive number")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps={steps!r} must be an int >= 1")
    kernel = np.zeros((y.shape[1], x.shape[1], kh, kw))
    losses = []
    for _ in range(steps):
        residual = ops.conv2d(x, kernel) - y
        losses.append(float(np.mean(residual ** 2)))
        grad_out = 2.0 * residual / residual.size
        kernel = kernel - lr * ops.conv2d_weight_grad(x, grad_out, (kh, kw))
    losses.append(float(np.mean((ops.conv2d(x, kernel) - y) ** 2)))
    return KernelFit(kernel, np.array(losses))


def plot_kernels(kernels: Sequence[np.ndarray], titles: Sequence[str],
                 decimals: int = 2) -> Figure:
    """2-D kernels side by side on one symmetric red (positive) / blue (negative) scale,
    with a colour bar and each value written in its cell (white text on dark cells,
    black on light ones, chosen from the cell colour's luminance)."""
    ks = [np.asarray(k, dtype=np.float64) for k in kernels]
    if any(k.ndim != 2 for k in ks) or len(ks) != len(titles):
        raise ValueError("kernels must be 2-D arrays, one title each")
    vmax = max(float(np.abs(k).max()) for k in ks) or 1.0
    cmap = plt.get_cmap("RdBu_r")
    fig, axes = plt.subplots(1, len(ks), squeeze=False, layout="constrained",
                             figsize=(1.9 * len(ks) + 0.8, 2.1))
    for ax, k, title in zip(axes[0], ks, titles):
        im = ax.imshow(k, cmap=cmap, vmin=-vmax, vmax=vmax)
        for (r, c), v in np.ndenumerate(k):
            red, green, blue = to_rgb(cmap((v + vmax) / (2 * vmax)))
            dark = 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.5
            shown = 0.0 if abs(v) < 0.5 * 10.0 ** -decimals else v   # no "-0.00"
            ax.text(c, r, f"{shown:.{decimals}f}", ha="center", va="center", fontsize=10,
                    color="white" if dark else "black")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[0], shrink=0.9)
    return fig

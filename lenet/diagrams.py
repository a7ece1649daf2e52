"""Receptive-field diagrams: which input pixels one unit at the top of a conv stack sees.

:func:`receptive_field_mask` computes the exact set (a stack with equal dilations leaves
holes in it -- the "gridding" effect), and :func:`plot_receptive_field` draws it layer by
layer in the style of Yu & Koltun's Figure 1: the receptive field after each layer shaded,
that layer's kernel taps as dots. Sizes come from :func:`lenet.arithmetic.receptive_field_steps`.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ._checks import MAX_DRAW_SIZE
from .arithmetic import _check_int, receptive_field_steps

__all__ = ["centre_input_gradient", "plot_receptive_field", "receptive_field_mask",
           "receptive_field_masks"]


def receptive_field_masks(layers: Iterable[object]) -> list[np.ndarray]:
    """The 2-D receptive field of one unit after each spatial layer of a square-kernel stack.

    Mask ``l`` has shape ``(R_l, R_l)`` with ``R_l`` the receptive-field size after layer
    ``l`` (from :func:`lenet.arithmetic.receptive_field_steps`); ``True`` marks the input
    pixels that can influence the unit (a tap of every layer lands on them). Layer specs as
    :func:`lenet.arithmetic.receptive_field`.
    """
    steps = receptive_field_steps(layers)
    if steps and steps[-1].size > 4096:
        raise ValueError(f"layers: a receptive field of {steps[-1].size} pixels; masks are "
                         f"drawn up to 4096")
    reach = np.array([0])  # input offsets a unit reaches, along one axis
    jump = 1
    masks = []
    for step in steps:
        taps = np.arange(step.layer.kernel_size) * step.layer.dilation * jump
        reach = np.unique((reach[:, None] + taps[None, :]).ravel())
        jump = step.jump
        assert reach[-1] + 1 == step.size  # the recurrence and the explicit set agree
        line = np.zeros(step.size, dtype=bool)
        line[reach] = True
        masks.append(np.outer(line, line))  # square kernels: the 2-D set is a product
    return masks


def receptive_field_mask(layers: Iterable[object]) -> np.ndarray:
    """The receptive field of one unit at the top of ``layers``: a ``(R, R)`` bool array.

    ``R = lenet.arithmetic.receptive_field(layers)``; see :func:`receptive_field_masks`.
    """
    masks = receptive_field_masks(layers)
    if not masks:
        return np.ones((1, 1), dtype=bool)
    return masks[-1]


def centre_input_gradient(model: torch.nn.Module, size: int, in_channels: int = 1
                          ) -> np.ndarray:
    """The gradient of the centre unit of ``model``'s first output channel w.r.t. its input.

    The input is ``torch.ones(1, in_channels, size, size)``; the result ``(size, size)`` is
    summed over input channels. Its nonzero pixels are the unit's empirical receptive field
    -- exactly so when the weights are positive and nothing cancels (e.g. all-ones kernels).
    """
    size = _check_int("size", size)
    in_channels = _check_int("in_channels", in_channels)
    if size > 1024 or in_channels > 64:
        raise ValueError(f"size={size}, in_channels={in_channels}: must be <= 1024 and <= 64 "
                         f"(a probe image for a receptive field)")
    x = torch.ones(1, in_channels, size, size, requires_grad=True)
    y = model(x)
    if y.ndim != 4:
        raise ValueError(f"model must return a (N, C, H, W) tensor, got shape {tuple(y.shape)}")
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    return x.grad[0].sum(dim=0).numpy()


def plot_receptive_field(layers: Iterable[object], cell: float = 0.16,
                         seen: str = "#74c476", dot: str = "#cb181d") -> Figure:
    """One panel per layer: the receptive field of one unit after that layer, shaded, on the
    final receptive field's grid; dots mark that layer's kernel taps (each tap is the
    centre of a unit of the previous layer). Holes (gridding) stay white.

    ``layers`` as :func:`lenet.arithmetic.receptive_field`; ``cell`` is a pixel's size in
    inches. The 3x3 stack with dilations 1, 2, 4 gives 3x3, 7x7 and 15x15.
    """
    steps = receptive_field_steps(layers)
    if not steps:
        raise ValueError("layers must contain at least one spatial layer (conv or pool)")
    if steps[-1].size > MAX_DRAW_SIZE:
        raise ValueError(f"layers: a receptive field of {steps[-1].size} pixels; at most "
                         f"{MAX_DRAW_SIZE} are drawn")
    masks = receptive_field_masks(layers)
    n = steps[-1].size
    width = len(steps) * (n * cell + 0.4)
    fig, axes = plt.subplots(1, len(steps), figsize=(width, n * cell + 1.0), squeeze=False)
    previous_size, jump = 1, 1
    for ax, step, mask in zip(axes[0], steps, masks):
        start = (n - step.size) // 2
        ax.add_patch(Rectangle((0, 0), n, n, facecolor="white", edgecolor="#bdbdbd"))
        for r, c in zip(*np.nonzero(mask)):
            ax.add_patch(Rectangle((start + c, start + r), 1, 1, facecolor=seen,
                                   edgecolor="white", linewidth=0.3))
        centre = start + (previous_size - 1) / 2 + 0.5
        taps = centre + np.arange(step.layer.kernel_size) * step.layer.dilation * jump
        xx, yy = np.meshgrid(taps, taps)
        ax.plot(xx.ravel(), yy.ravel(), "o", color=dot, markersize=3)
        layer = step.layer
        ax.set_title(f"k={layer.kernel_size}, s={layer.stride}, d={layer.dilation}\n"
                     f"RF {step.size}x{step.size}", fontsize=9)
        ax.set_xlim(-0.2, n + 0.2)
        ax.set_ylim(n + 0.2, -0.2)
        ax.set_aspect("equal")
        ax.axis("off")
        previous_size, jump = step.size, step.jump
    fig.tight_layout()
    return fig

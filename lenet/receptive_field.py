"""Receptive fields as pixel sets: which input pixels one unit at the top of a conv stack
sees.

:func:`receptive_field_mask` computes the exact set (a stack with equal dilations leaves
holes in it -- the "gridding" effect); :func:`centre_input_gradient` measures it with
autograd. Sizes come from :func:`lenet.arithmetic.receptive_field_steps`; the figure of the
masks, layer by layer, is :func:`lenet.plot.plot_receptive_field`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from ._checks import check_int as _check_int
from .arithmetic import receptive_field_steps

__all__ = ["centre_input_gradient", "receptive_field_mask", "receptive_field_masks"]


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

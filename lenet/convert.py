"""Fully connected <-> convolution: the same linear map written two ways.

A ``Linear`` that reads a flattened ``(C, H, W)`` map is a convolution whose kernel covers
the whole map (``H x W``) and produces a ``1 x 1`` output per unit. Conversely any
convolution on a fixed input size is a ``Linear`` whose weight matrix is sparse (each
output sees only its window) and shared (the same kernel value appears at many places).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import fail

#: The most entries a dense matrix built by :func:`conv_to_linear` may have (64 MiB of
#: float32): beyond it the allocator fails, or the machine swaps.
MAX_DENSE = 2**24


def _check_shape(input_shape: object) -> tuple[int, int, int]:
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                       for v in input_shape)):
        fail("input_shape", input_shape, "must be three positive ints (C, H, W)")
    return tuple(input_shape)  # type: ignore[return-value]


@torch.no_grad()
def linear_to_conv(linear: nn.Linear, input_shape: tuple[int, int, int]) -> nn.Conv2d:
    """Rewrite ``linear`` (reading a flattened ``(C, H, W)`` map) as ``Conv2d(C, out, (H, W))``.

    On a ``(N, C, H, W)`` input the conv gives ``(N, out, 1, 1)``, equal to
    ``linear(x.flatten(1))``. On a larger input ``(N, C, H', W')`` it slides the same
    classifier over every ``H x W`` window: ``(N, out, H'-H+1, W'-W+1)``.
    """
    if not isinstance(linear, nn.Linear):
        fail("linear", linear, "must be an nn.Linear", TypeError)
    c, h, w = _check_shape(input_shape)
    if linear.in_features != c * h * w:
        raise ValueError(f"linear.in_features={linear.in_features} does not match "
                         f"input_shape {tuple(input_shape)} ({c * h * w} values)")
    conv = nn.Conv2d(c, linear.out_features, (h, w), bias=linear.bias is not None)
    conv = conv.to(linear.weight.device, linear.weight.dtype)
    conv.weight.copy_(linear.weight.reshape(linear.out_features, c, h, w))
    if linear.bias is not None:
        conv.bias.copy_(linear.bias)
    return conv


def conv_output_shape(conv: nn.Conv2d, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """``(C_out, H_out, W_out)`` of ``conv`` on one ``(C, H, W)`` input (by running it)."""
    if not isinstance(conv, nn.Conv2d):
        fail("conv", conv, "must be an nn.Conv2d", TypeError)
    c, h, w = _check_shape(input_shape)
    if c != conv.in_channels:
        fail("input_shape", input_shape, f"must have conv.in_channels={conv.in_channels} "
                                         f"channels")
    try:
        with torch.no_grad():
            out = conv(torch.zeros(1, c, h, w, dtype=conv.weight.dtype,
                                   device=conv.weight.device))
    except RuntimeError:
        fail("input_shape", input_shape, f"is too small for {conv}")
    return tuple(out.shape[1:])  # type: ignore[return-value]


@torch.no_grad()
def conv_to_linear(conv: nn.Conv2d, input_shape: tuple[int, int, int]) -> nn.Linear:
    """Write ``conv`` on a fixed ``(C, H, W)`` input as a dense ``nn.Linear``.

    Column ``j`` of the weight matrix is the conv (without bias) applied to the ``j``-th
    basis image (a single 1 at flat position ``j``): a convolution is linear, so these
    columns are the whole map. Any stride, padding, dilation or groups work (padding mode
    must be ``"zeros"``). ``linear(x.flatten(1)) == conv(x).flatten(1)`` for
    ``x (N, C, H, W)``; the weight is ``(C_out*H_out*W_out, C*H*W)``.
    """
    if not isinstance(conv, nn.Conv2d):
        fail("conv", conv, "must be an nn.Conv2d", TypeError)
    if conv.padding_mode != "zeros":
        raise ValueError(f"conv.padding_mode must be 'zeros' (a linear map), got "
                         f"{conv.padding_mode!r}")
    c, h, w = _check_shape(input_shape)
    co, ho, wo = conv_output_shape(conv, input_shape)
    n_in = c * h * w
    if n_in * max(n_in, co * ho * wo) > MAX_DENSE:
        fail("input_shape", input_shape, f"gives a {co * ho * wo} x {n_in} dense matrix; at "
                                         f"most {MAX_DENSE:,} entries are built")
    basis = torch.eye(n_in, dtype=conv.weight.dtype, device=conv.weight.device)
    basis = basis.reshape(n_in, c, h, w)
    cols = F.conv2d(basis, conv.weight, None, conv.stride, conv.padding, conv.dilation,
                    conv.groups)                                    # (n_in, co, ho, wo)
    linear = nn.Linear(n_in, co * ho * wo, bias=conv.bias is not None)
    linear = linear.to(conv.weight.device, conv.weight.dtype)
    linear.weight.copy_(cols.reshape(n_in, -1).T)
    if conv.bias is not None:
        linear.bias.copy_(conv.bias.repeat_interleave(ho * wo))
    return linear

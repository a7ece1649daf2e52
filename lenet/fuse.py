"""A sigmoid followed by a 2x2 average pool, computed as one autograd step.

d2l's LeNet runs ``nn.Sigmoid`` and then ``nn.AvgPool2d(2, 2)`` on its two convolutions'
outputs. Run one after the other, the pair reads and writes the full-size maps four times in
a training step (sigmoid, pool, pool backward, sigmoid backward), and torch's pooling
kernels vectorise poorly over LeNet's 6 and 16 channels. :class:`SigmoidAvgPool2d`
computes the same function with views that keep a long contiguous inner dimension in either
memory layout, and its backward pass broadcasts the pooled gradient into the sigmoid's
derivative in one kernel.

* :class:`SigmoidAvgPool2d` -- ``avg_pool2d(sigmoid(x), 2)``, ``(N, C, H, W) -> (N, C, H // 2,
  W // 2)``.
* :func:`fuse_sigmoid_pool` -- a model whose ``Sigmoid, AvgPool2d(2)`` pairs are fused, sharing
  the original's parameters (what ``fit(fuse=True)`` trains through).
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_module
from ._rewrite import is_compiled, with_children

__all__ = ["SigmoidAvgPool2d", "fuse_sigmoid_pool", "sigmoid_avg_pool2d"]


def _is_channels_last(x: torch.Tensor) -> bool:
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


@functools.lru_cache(maxsize=32)
def _block_mean(c: int, blocks: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(blocks * C, C)`` of ``blocks`` stacked identities / 4: ``[a, b] @ it = (a + b) / 4``
    for two adjacent pixels' ``C`` channels, ``[a, b, c, d] @ it`` their mean for four."""
    return torch.eye(c, dtype=dtype, device=device).repeat(blocks, 1) * 0.25


@functools.lru_cache(maxsize=32)
def _row_pair_mean(width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(2W, W // 2)``: a row pair ``[r0, r1]`` of width ``W`` times it is the row of its 2x2
    means."""
    cols = torch.arange(2 * width, device=device) % width // 2
    return F.one_hot(cols, width // 2).to(dtype) * 0.25


class _SigmoidAvgPool(torch.autograd.Function):
    """Forward: the sigmoid ``s`` (kept for backward) and its 2x2 means. Backward:
    ``s (1 - s)`` times the pooled gradient / 4, broadcast over each 2x2 window."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        n, c, height, width = x.shape
        h, w = height // 2, width // 2
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        if _is_channels_last(s):   # memory (N, H, W, C): a row pair is (2, W * C)
            rows = s.permute(0, 2, 3, 1).view(n, h, 2, width * c)
            pairs = (rows[:, :, 0] + rows[:, :, 1]).view(n * h * w, 2 * c)
            if s.dtype == torch.bfloat16:
                # [a, b] @ [I; I] / 4 = (a + b) / 4: oneDNN's bfloat16 matmul, accumulating
                # in float32, is about 5x faster than an add over runs of C values
                out = pairs @ _block_mean(c, 2, s.dtype, s.device)
            else:
                out = (pairs[:, :c] + pairs[:, c:]).mul_(0.25)
            return out.view(n, h, w, c).permute(0, 3, 1, 2)
        if s.dtype == torch.bfloat16:
            # each row pair times a (2W, W/2) averaging matrix: oneDNN's bfloat16 matmul is
            # about 3x faster than strided bfloat16 adds over rows as short as C3's 10
            means = _row_pair_mean(width, s.dtype, s.device)
            return (s.view(n * c * h, 2 * width) @ means).view(n, c, h, w)
        rows = s.view(n, c, h, 2, width)
        pairs = (rows[:, :, :, 0] + rows[:, :, :, 1]).view(n, c, h, w, 2)
        return (pairs[..., 0] + pairs[..., 1]).mul_(0.25)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (s,) = ctx.saved_tensors
        n, c, height, width = s.shape
        h, w = height // 2, width // 2
        sigmoid_backward = torch.ops.aten.sigmoid_backward
        if _is_channels_last(s):
            # each pooled gradient / 4 twice along W (a copy, half the input's size; a cat
            # copies runs of C values faster than an expanded reshape), then broadcast over
            # the row pair
            quarter = (grad.permute(0, 2, 3, 1) * 0.25).unsqueeze(3)
            across = torch.cat([quarter, quarter], 3).view(n, h, 1, width * c)
            rows = s.permute(0, 2, 3, 1).view(n, h, 2, width * c)
            out = sigmoid_backward(across.expand(n, h, 2, width * c), rows)
            return out.view(n, height, width, c).permute(0, 3, 1, 2)
        if s.dtype == torch.bfloat16:
            means = _row_pair_mean(width, s.dtype, s.device)
            across = grad.reshape(n * c * h, w) @ means.t()   # each mean's gradient / 4
            return sigmoid_backward(across, s.view(n * c * h, 2 * width)).view(
                n, c, height, width)
        quarter = (grad * 0.25).unsqueeze(-1)
        across = quarter.expand(n, c, h, w, 2).reshape(n, c, h, 1, width)
        rows = s.view(n, c, h, 2, width)
        return sigmoid_backward(across.expand(n, c, h, 2, width), rows).view(n, c, height, width)


def sigmoid_avg_pool2d(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(torch.sigmoid(x), 2)`` for ``x (N, C, H, W)``: fused where ``H`` and
    ``W`` are even and ``x`` is contiguous in either memory layout, the two torch ops
    otherwise. The result is the same up to float rounding (the 2x2 sums are added in
    another order)."""
    if (x.dim() == 4 and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0 and x.numel()
            and (x.is_contiguous() or _is_channels_last(x))):
        return _SigmoidAvgPool.apply(x)
    return F.avg_pool2d(torch.sigmoid(x), 2)


class SigmoidAvgPool2d(nn.Module):
    """``nn.Sigmoid()`` then ``nn.AvgPool2d(2)`` as one module (:func:`sigmoid_avg_pool2d`).
    Shape: ``(N, C, H, W) -> (N, C, H // 2, W // 2)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sigmoid_avg_pool2d(x)


def _plain_2x2_pool(layer: nn.Module) -> bool:
    """An ``nn.AvgPool2d`` itself (not a subclass) over non-overlapping 2x2 windows."""
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    return (type(layer) is nn.AvgPool2d and pair(layer.kernel_size) == (2, 2)
            and pair(layer.stride or layer.kernel_size) == (2, 2) and pair(layer.padding) == (0, 0)
            and not layer.ceil_mode and layer.divisor_override is None)


def _fused_sequential(seq: nn.Sequential) -> tuple[nn.Sequential, int]:
    """The pairs of ``seq`` fused; every other layer keeps its name, so parameter names
    (and ``state_dict`` keys) stay those of ``seq``."""
    layers, fused, i = list(seq.named_children()), OrderedDict(), 0
    count = 0
    while i < len(layers):
        name, layer = layers[i]
        if (i + 1 < len(layers) and type(layer) is nn.Sigmoid
                and _plain_2x2_pool(layers[i + 1][1])):
            fused[name] = SigmoidAvgPool2d()
            count, i = count + 1, i + 2
        else:
            child, n = _fuse(layer)
            fused[name] = child
            count, i = count + n, i + 1
    out = nn.Sequential(fused)
    out.train(seq.training)
    return out, count


def _fuse(module: nn.Module) -> tuple[nn.Module, int]:
    if type(module) is nn.Sequential:
        return _fused_sequential(module)
    children = dict(module.named_children())
    if not children:
        return module, 0
    replaced, count = {}, 0
    for name, child in children.items():
        new, n = _fuse(child)
        if n:
            replaced[name], count = new, count + n
    if not count:
        return module, 0
    return with_children(module, replaced), count


def fuse_sigmoid_pool(model: nn.Module) -> nn.Module:
    """``model`` with every ``nn.Sigmoid`` that is followed directly, inside an
    ``nn.Sequential``, by an ``nn.AvgPool2d`` over 2x2 windows (stride 2, no padding) fused
    with it into one :class:`SigmoidAvgPool2d`.

    ``model`` itself is left as it is: the result is a shallow copy whose convolutions and
    linear layers are ``model``'s own modules, so training the copy trains ``model`` (and
    its ``state_dict`` keys are unchanged). With no such pair, ``model`` is returned, and so
    is a ``torch.compile``'d module: inductor fuses what it compiles on its own."""
    check_module("model", model)
    if is_compiled(model):
        return model
    fused, count = _fuse(model)
    return fused if count else model

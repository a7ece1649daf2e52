"""A convolution, a sigmoid and a 2x2 average pool, computed on the four phases of the input.

Every 2x2 pooling window holds one output pixel of each *phase*: even row and even column,
even row and odd column, and so on. Split the input into its four phases the same way
(space-to-depth: ``(N, C, H, W) -> (N, 4C, H/2, W/2)``) and a stride-1 convolution becomes
one on a grid half as wide, with 4x the input channels, 4x the output channels (one group
per output phase) and a kernel of about half the width, whose taps are the original weights
rearranged (and zeros). The 2x2 mean is then the mean of the four output-channel groups at
one pixel: no pixel has to move.

It pays where the plain convolution runs far below the machine's rate: LeNet's C1 has one
input channel, so oneDNN works on runs of one value. On a 2-core AMD EPYC (Zen 4), at a
batch of 256 in bfloat16 (NHWC), C1's forward took 1.3 ms and its weight gradient 0.9 ms;
the phase convolution (4 -> 24 channels, 3x3, on 14x14) took 0.6 and 0.85 ms, although its
kernel has 36 taps for every 25 of the original (1.44x the arithmetic). C1 with its sigmoid
and pool, forward and backward, took 4.5 instead of 4.9 ms. With several input channels
the extra arithmetic costs more than the wider runs give back (LeNet's C3: 6.6 instead of
4.3 ms), so ``fit(fuse=True)`` uses it, on the CPU, for one input channel only.

Whole LeNet training steps, in paired A/B runs on the same machine (medians of 80 pairs):
1.02x with bfloat16 autocast and channels_last (the fast path), 1.08x in float32 NCHW,
0.98-1.00x in float32 channels_last, and 1.13x in float64, where torch's convolutions are
plain matrix products that C1's single channel starves.

* :class:`PolyphaseConvSigmoidPool2d` -- an ``nn.Conv2d`` whose forward is
  ``avg_pool2d(sigmoid(conv2d(x)), 2)``, computed on the phases.
* :func:`polyphase_convs` -- a model whose ``nn.Conv2d`` followed by a fused
  :class:`lenet.fuse.SigmoidAvgPool2d` run as one :class:`PolyphaseConvSigmoidPool2d`,
  sharing the original's parameters.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_int, check_module, fail
from ._rewrite import is_compiled, retyped, rewrite
from .fuse import SigmoidAvgPool2d, _block_mean, _is_channels_last, sigmoid_avg_pool2d

__all__ = ["PolyphaseConvSigmoidPool2d", "polyphase_convs", "space_to_depth"]


@functools.lru_cache(maxsize=32)
def _phase_order(width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(2W, 2W)`` permutation: a row pair ``[r0, r1]`` of width ``W`` times it lists, for
    each column pair ``j``, ``r0[2j], r0[2j+1], r1[2j], r1[2j+1]``."""
    source = torch.arange(2 * width, device=device).view(2, width // 2, 2).transpose(0, 1)
    order = torch.zeros(2 * width, 2 * width, dtype=dtype, device=device)
    order[source.reshape(-1), torch.arange(2 * width, device=device)] = 1
    return order


def space_to_depth(x: torch.Tensor) -> torch.Tensor:
    """``F.pixel_unshuffle(x, 2)``, ``(N, C, H, W) -> (N, 4C, H/2, W/2)`` with channel
    ``4c + 2 * row_phase + column_phase``, returned in ``channels_last`` memory.

    With one channel it is one matmul by a permutation matrix (exact for finite values; an
    infinite pixel makes its row pair NaN): torch's strided copy moves runs of two values,
    about 3x slower."""
    if x.dim() != 4 or x.shape[2] % 2 or x.shape[3] % 2:
        fail("x", x, "must be (N, C, H, W) with H and W even")
    n, c, height, width = x.shape
    if c == 1 and x.is_contiguous() and x.is_floating_point():
        order = _phase_order(width, x.dtype, x.device)
        phases = x.reshape(n * height // 2, 2 * width) @ order
        return phases.view(n, height // 2, width // 2, 4).permute(0, 3, 1, 2)
    return F.pixel_unshuffle(x, 2).contiguous(memory_format=torch.channels_last)


class _PhaseSigmoidMean(torch.autograd.Function):
    """``(N, 4C, h, w) -> (N, C, h, w)``: the mean of the sigmoid over the four channel
    groups, in NHWC memory; backward broadcasts the gradient / 4 to the four groups and
    multiplies by the sigmoid's derivative."""

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        n, c4, h, w = y.shape
        s = torch.sigmoid(y.contiguous(memory_format=torch.channels_last))
        ctx.save_for_backward(s)
        rows = s.permute(0, 2, 3, 1).reshape(n * h * w, c4)
        out = rows @ _block_mean(c4 // 4, 4, s.dtype, s.device)
        return out.view(n, h, w, c4 // 4).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (s,) = ctx.saved_tensors
        n, c4, h, w = s.shape
        rows = grad.permute(0, 2, 3, 1).reshape(n * h * w, c4 // 4)
        spread = rows @ _block_mean(c4 // 4, 4, grad.dtype, grad.device).t()
        out = torch.ops.aten.sigmoid_backward(spread, s.permute(0, 2, 3, 1).reshape(n * h * w, c4))
        return out.view(n, h, w, c4).permute(0, 3, 1, 2)


@functools.lru_cache(maxsize=32)
def _phase_taps(out_channels: int, in_channels: int, kernel: tuple[int, int],
                padding: tuple[int, int], device: torch.device
                ) -> tuple[torch.Tensor, tuple[int, int]]:
    """Where each tap of the phase kernel comes from: an index into the original weight
    flattened, or ``weight.numel()`` for a zero; and the phase grid's leading padding.

    Output phase ``a`` (rows; columns alike) at block ``i`` is original output row
    ``2i + a``, which reads input row ``2i + a + u - p``; in the phase grid, with leading
    padding ``P``, tap ``d`` of input phase ``r`` reads row ``2(i + d - P) + r``. So
    ``u = 2(d - P) + r - a + p``."""
    lead = tuple((p + 1) // 2 for p in padding)
    size = tuple((k - p) // 2 + P + 1 for k, p, P in zip(kernel, padding, lead))
    (kh, kw), (ph, pw), (lh, lw) = kernel, padding, lead
    taps = torch.full((2, 2, out_channels, in_channels, 2, 2, *size),
                      out_channels * in_channels * kh * kw, dtype=torch.long)
    flat = torch.arange(out_channels * in_channels * kh * kw).view(
        out_channels, in_channels, kh, kw)
    for a in range(2):
        for b in range(2):
            for r in range(2):
                for q in range(2):
                    for di in range(size[0]):
                        u = 2 * (di - lh) + r - a + ph
                        if not 0 <= u < kh:
                            continue
                        for dj in range(size[1]):
                            v = 2 * (dj - lw) + q - b + pw
                            if 0 <= v < kw:
                                taps[a, b, :, :, r, q, di, dj] = flat[:, :, u, v]
    return taps.reshape(4 * out_channels, 4 * in_channels, *size).to(device), lead


class PolyphaseConvSigmoidPool2d(nn.Conv2d):
    """An ``nn.Conv2d`` (stride 1, no dilation, one group, zero padding) whose forward is
    ``F.avg_pool2d(torch.sigmoid(conv(x)), 2)``, computed on the input's four phases (see
    the module's text). Shape: ``(N, C_in, H, W) -> (N, C_out, H' // 2, W' // 2)``, where
    ``H', W'`` is the convolution's output size.

    Where ``H``, ``W``, ``H'`` or ``W'`` is odd it computes the three steps one after the
    other. The result is the same up to float rounding; a NaN in one channel of a 2x2
    window makes that pooled pixel NaN in every channel. Its memory layout is the plain
    convolution's: ``channels_last`` where the input or the weight is stored so."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled sigmoid of the convolution of ``x``."""
        n, c, height, width = x.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        out_h, out_w = height + 2 * ph - kh + 1, width + 2 * pw - kw + 1
        if height % 2 or width % 2 or out_h % 2 or out_w % 2 or out_h < 2 or out_w < 2:
            return sigmoid_avg_pool2d(self._conv_forward(x, self.weight, self.bias))
        taps, (lh, lw) = _phase_taps(self.out_channels, self.in_channels, self.kernel_size,
                                     self.padding, self.weight.device)
        padded = torch.cat([self.weight.reshape(-1), self.weight.new_zeros(1)])
        weight = padded[taps]
        bias = None if self.bias is None else self.bias.repeat(4)
        phases = space_to_depth(x)
        # trailing padding: what the last output block's taps reach past the grid
        th = out_h // 2 + weight.shape[2] - 1 - lh - height // 2
        tw = out_w // 2 + weight.shape[3] - 1 - lw - width // 2
        if (lh, lw) == (th, tw):
            y = F.conv2d(phases, weight, bias, padding=(lh, lw))
        else:
            y = F.conv2d(F.pad(phases, (lw, tw, lh, th)), weight, bias)
        out = _PhaseSigmoidMean.apply(y)
        return out if _stored_channels_last(x, self.weight) else out.contiguous()


def _stored_channels_last(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether torch would give ``conv2d(x, weight)`` channels_last output: ``x`` or
    ``weight`` has channels_last strides (a one-channel tensor counts when its channel
    stride is 1)."""
    def last(t: torch.Tensor) -> bool:
        one_channel = (t.shape[1] == 1 and t.stride(1) == 1 and t.shape[2] * t.shape[3] > 1
                       and t.is_contiguous(memory_format=torch.channels_last))
        return _is_channels_last(t) or one_channel
    return last(x) or last(weight)


def _wanted(module: nn.Module, max_in_channels: int, after: nn.Module | None) -> bool:
    return (type(module) is nn.Conv2d and module.in_channels <= max_in_channels
            and type(after) is SigmoidAvgPool2d and module.stride == (1, 1)
            and module.dilation == (1, 1) and module.groups == 1
            and module.padding_mode == "zeros" and not isinstance(module.padding, str))


def polyphase_convs(model: nn.Module, max_in_channels: int = 1) -> nn.Module:
    """``model`` with every ``nn.Conv2d`` (the class itself) that has at most
    ``max_in_channels`` input channels, stride 1, no dilation, one group and zero padding
    given as numbers, and that is followed directly, inside an ``nn.Sequential``, by a
    :class:`lenet.fuse.SigmoidAvgPool2d`, run as one :class:`PolyphaseConvSigmoidPool2d`;
    the pool's place holds an ``nn.Identity``.

    Apply it to the output of :func:`lenet.fuse.fuse_sigmoid_pool`. ``model`` itself is
    left as it is: the result is a shallow copy that shares every parameter (training the
    copy trains ``model``) and keeps its ``state_dict`` keys; hooks on the convolution see
    the pooled output. With no such pair, ``model`` is returned, and so is a
    ``torch.compile``'d module."""
    check_module("model", model)
    max_in_channels = check_int("max_in_channels", max_in_channels)
    if is_compiled(model):
        return model

    def swap(child: nn.Module, after: nn.Module | None) -> list[nn.Module] | None:
        if not _wanted(child, max_in_channels, after):
            return None
        return [retyped(child, PolyphaseConvSigmoidPool2d), nn.Identity()]   # conv, pool

    return rewrite(model, swap)[0]

"""Which memory layout each convolution runs in.

``fit(channels_last=True)`` stores the model and the images in ``channels_last`` (NHWC),
and oneDNN then runs every convolution in NHWC. Under bfloat16 autocast on the CPU, NHWC is
not always the faster layout. On a 2-core AMD EPYC (Zen 4, AVX512-BF16), one forward and
backward pass at a batch of 256 took:

* LeNet's C1 (1 -> 6 channels, 5x5, on 28x28): 2.4 ms in NHWC, 9.4 ms in NCHW;
* its C3 (6 -> 16 channels, 5x5, on 14x14): 4.9 ms in NHWC, 2.8 ms in NCHW;
* a padded 3x3 convolution, 16 -> 16 channels on 14x14: 6.7 ms in NHWC, 10.1 ms in NCHW.

In float32 C3 took the same time in either layout. Which layout wins depends on the shapes,
so what ``fit`` does with this is narrow:

* :func:`channels_first_convs` -- a model whose convolutions with several input channels
  run in NCHW, sharing the original's parameters. ``fit`` trains through it under bfloat16
  autocast on the CPU with ``channels_last`` and ``fuse``, for the convolutions that feed a
  fused sigmoid and pool (whose NCHW bfloat16 path is fast too): LeNet trained 1.16x
  faster in a paired A/B.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_int, check_module, fail
from ._rewrite import is_compiled, retyped, rewrite

__all__ = ["ChannelsFirstConv2d", "channels_first_convs"]


class ChannelsFirstConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` that runs on contiguous (NCHW) input and weight whatever layout
    they are stored in; its output is NCHW. Shape: ``(N, C_in, H, W) -> (N, C_out, H', W')``.

    The copies cost little: the weight is small, and an NHWC input becomes NCHW once
    (its gradient flows back through the copy)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution of ``x`` made contiguous, with the weight made contiguous."""
        return self._conv_forward(x.contiguous(), self.weight.contiguous(), self.bias)


def _wanted(module: nn.Module, min_in_channels: int, before: type | None,
            after: nn.Module | None) -> bool:
    return (type(module) is nn.Conv2d and module.in_channels >= min_in_channels
            and (before is None or isinstance(after, before)))


def channels_first_convs(model: nn.Module, min_in_channels: int = 2,
                         before: type[nn.Module] | None = None) -> nn.Module:
    """``model`` with every ``nn.Conv2d`` (the class itself, not a subclass) that has at
    least ``min_in_channels`` input channels run as a :class:`ChannelsFirstConv2d`; with
    ``before``, only those followed directly, inside an ``nn.Sequential``, by an instance of
    that class (``fit`` passes :class:`lenet.fuse.SigmoidAvgPool2d`: measured faster for
    LeNet's C3, while LeNet-5's C5, whose 1x1 output feeds a tanh, trained 10% slower).

    ``model`` itself is left as it is: the result is a shallow copy that shares every
    parameter (training the copy trains ``model``) and keeps its ``state_dict`` keys. With
    no such convolution, ``model`` is returned, and so is a ``torch.compile``'d module.
    The result computes the same function: only the kernels' memory layout changes, and with
    it the order in which they add (the last bits)."""
    check_module("model", model)
    min_in_channels = check_int("min_in_channels", min_in_channels)
    if before is not None and not (isinstance(before, type) and issubclass(before, nn.Module)):
        fail("before", before, "must be None or an nn.Module subclass", TypeError)
    if is_compiled(model):
        return model
    if _wanted(model, min_in_channels, before, None):   # a bare convolution
        return retyped(model, ChannelsFirstConv2d)

    def swap(child: nn.Module, after: nn.Module | None) -> list[nn.Module] | None:
        if not _wanted(child, min_in_channels, before, after):
            return None
        return [retyped(child, ChannelsFirstConv2d)]

    return rewrite(model, swap)[0]

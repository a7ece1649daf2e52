"""Average pooling that stays fast in the channels_last layout of :func:`lenet.train.fit`'s
fast path.

On the CPU, PyTorch's channels_last pooling kernel vectorises across channels, so with
LeNet's 6 or 16 maps most of each vector register is empty, and a depthwise convolution
computing the same averages is faster (``python -m benchmarks.cpu`` times training with
both: its ``plain_avgpool`` lever). :class:`AvgPool2d` is ``nn.AvgPool2d`` with that
convolution put in for the case it covers exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d`` (same arguments; the same averages, up to float rounding) that averages
    non-overlapping windows of a channels_last float32 CPU tensor with a depthwise convolution
    whose weights are all ``1 / (k * k)``. Every other case (other layouts, dtypes or devices, overlapping windows,
    padding, ``ceil_mode``, ``divisor_override``) runs ``nn.AvgPool2d``'s own kernel.

    Shape: ``(N, C, H, W) -> (N, C, H // k, W // k)`` for a window and stride of ``k``.
    """

    def _depthwise_kernel(self) -> int | None:
        """The window side ``k`` when the convolution computes exactly this pooling."""
        k, s, p = (nn.modules.utils._pair(v) for v in (self.kernel_size,
                                                       self.stride or self.kernel_size,
                                                       self.padding))
        exact = (k[0] == k[1] and k == s and p == (0, 0) and not self.ceil_mode
                 and self.divisor_override is None)
        return k[0] if exact else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self._depthwise_kernel()
        if (k is not None and x.dim() == 4 and x.device.type == "cpu"
                and x.dtype == torch.float32 and x.shape[1] > 1
                and x.is_contiguous(memory_format=torch.channels_last)):
            channels = x.shape[1]
            weight = x.new_full((channels, 1, k, k), 1.0 / (k * k))
            return F.conv2d(x, weight.contiguous(memory_format=torch.channels_last),
                            stride=k, groups=channels)
        return super().forward(x)

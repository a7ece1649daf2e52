"""The building blocks of the 1998 LeNet-5 that PyTorch does not ship.

* :class:`ScaledTanh` -- the paper's squashing function ``1.7159 * tanh(2a/3)``.
* :class:`Subsampling` -- trainable 2x2 subsampling: sum, times a coefficient, plus a bias.
* :class:`SparseConv2d` -- a convolution whose output maps see only some input maps (C3).
* :class:`RBFOutput` -- Euclidean RBF units against fixed prototype vectors.

Each module documents its shapes as ``(N, C, H, W) -> (N, C', H', W')``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_images, check_int, check_module, check_number, check_tensor

# The validators are re-exported from lenet._checks for older imports.
__all__ = ["C3_TABLE", "RBFOutput", "ScaledTanh", "SparseConv2d", "Subsampling", "check_images",
           "check_int", "check_module", "check_number", "check_tensor", "map_loss"]

#: Table I of LeCun et al. (1998): the S2 maps (columns 0-5) read by each C3 map (rows 0-15).
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class ScaledTanh(nn.Module):
    """``f(a) = A tanh(S a)`` with the paper's ``A = 1.7159`` and ``S = 2/3``.

    With these constants ``f(1) = 1`` and ``f(-1) = -1``, and the gain is largest near
    the targets +-1. Shape: any ``(*)`` -> the same ``(*)``.
    """

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude = check_number("amplitude", amplitude)
        self.slope = check_number("slope", slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


class Subsampling(nn.Module):
    """LeNet-5's trainable subsampling (S2, S4): per map, ``coef * sum(2x2 block) + bias``.

    One coefficient and one bias per channel, so ``2 * channels`` parameters. The squashing
    function is a separate module, so summaries count this layer exactly as the paper does.
    Shape: ``(N, C, H, W) -> (N, C, H // k, W // k)``.
    """

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        channels = check_int("channels", channels)
        kernel_size = check_int("kernel_size", kernel_size)
        self.channels = channels
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Building blocks check nothing per call (the model checks its input once); the
        # assert states the invariant and costs nothing under python -O.
        assert x.dim() == 4 and x.shape[1] == self.channels, f"x: {tuple(x.shape)}"
        k = self.kernel_size
        pooled = F.avg_pool2d(x, k) * (k * k)  # the sum of each block
        return pooled * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}"


class SparseConv2d(nn.Module):
    """A convolution in which output map ``j`` reads only the input maps ``table[j]``.

    Only the connected kernels are parameters: ``sum(len(t) for t in table) * k * k``
    weights plus one bias per output map (1,516 for LeNet-5's C3, against 2,416 for a full
    6->16 convolution). The forward pass scatters them into a dense, zero-filled kernel and
    runs one ordinary convolution, so it costs the same as a dense conv.
    Shape: ``(N, C_in, H, W) -> (N, len(table), H - k + 1, W - k + 1)``.
    """

    def __init__(self, in_channels: int, table: Sequence[Sequence[int]], kernel_size: int) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels)
        kernel_size = check_int("kernel_size", kernel_size)
        table = _check_table(table, in_channels)
        self.in_channels = in_channels
        self.out_channels = len(table)
        self.kernel_size = kernel_size
        self.table = table
        rows = [j for j, inputs in enumerate(table) for _ in inputs]
        cols = [i for inputs in table for i in inputs]
        self.register_buffer("_rows", torch.tensor(rows), persistent=False)
        self.register_buffer("_cols", torch.tensor(cols), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(rows), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        self.reset_parameters()

    def fan_in(self) -> torch.Tensor:
        """``(C_out,)``: inputs per unit of each output map, ``len(table[j]) * k * k``."""
        return torch.tensor([len(row) * self.kernel_size**2 for row in self.table])

    @torch.no_grad()
    def reset_parameters(self, gain: float = 1.0, scale_by_sqrt: bool = True) -> None:
        """Uniform init in ``(-b, b)`` per output map, ``b = gain / sqrt(F)`` (as nn.Conv2d)
        or ``b = gain / F`` when ``scale_by_sqrt`` is False (the paper's 2.4/F)."""
        fan = self.fan_in().float()
        bound = gain / (fan.sqrt() if scale_by_sqrt else fan)
        per_weight = bound[self._rows.cpu()].view(-1, 1, 1).to(self.weight)
        self.weight.copy_((torch.rand_like(self.weight) * 2 - 1) * per_weight)
        self.bias.copy_((torch.rand_like(self.bias) * 2 - 1) * bound.to(self.bias))

    def connection_mask(self) -> torch.Tensor:
        """``(C_out, C_in)`` boolean: True where output map j reads input map i."""
        mask = torch.zeros(self.out_channels, self.in_channels, dtype=torch.bool)
        mask[self._rows.cpu(), self._cols.cpu()] = True
        return mask

    def dense_weight(self) -> torch.Tensor:
        """The equivalent dense kernel, ``(C_out, C_in, k, k)``, zero where not connected."""
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels, self.in_channels, k, k)
        return dense.index_put((self._rows, self._cols), self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 4 and x.shape[1] == self.in_channels, f"x: {tuple(x.shape)}"
        return F.conv2d(x, self.dense_weight(), self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"connections={len(self._rows)}/{self.in_channels * self.out_channels}")


def _check_table(table: object, in_channels: int) -> tuple[tuple[int, ...], ...]:
    """Validate a connection table: a non-empty sequence of non-empty rows of distinct ints."""
    allowed = ("a non-empty sequence of rows, each listing distinct input maps in "
               f"0..{in_channels - 1}")
    if isinstance(table, (str, bytes)) or not isinstance(table, Iterable):
        raise TypeError(f"table must be {allowed}, got {type(table).__name__} {table!r}")
    table = list(table)
    if len(table) == 0:
        raise ValueError(f"table must be {allowed}, got an empty table")
    rows = []
    for j, row in enumerate(table):
        if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
            raise TypeError(f"table[{j}] must be a sequence of ints, got {row!r}")
        row = tuple(row)
        if any(isinstance(i, bool) or not hasattr(i, "__index__") for i in row):
            raise TypeError(f"table[{j}] must be a sequence of ints, got {row!r}")
        row = tuple(operator.index(i) for i in row)
        if not row or len(set(row)) != len(row) or min(row) < 0 or max(row) >= in_channels:
            raise ValueError(f"table[{j}]={row} must list distinct input maps in "
                             f"0..{in_channels - 1} (at least one)")
        rows.append(row)
    return tuple(rows)


class RBFOutput(nn.Module):
    """Euclidean radial basis function units with fixed prototypes.

    Unit ``i`` outputs the penalty ``y_i = sum_j (x_j - w_ij)^2``; the module returns the
    *score* ``-y_i`` so that, as for any classifier here, the largest output is the
    prediction. The prototypes are a buffer, not parameters: the paper keeps them fixed.
    Shape: ``(N, in_features) -> (N, num_classes)``.
    """

    def __init__(self, prototypes: torch.Tensor) -> None:
        super().__init__()
        check_tensor("prototypes", prototypes)
        if prototypes.dim() != 2 or 0 in prototypes.shape:
            raise ValueError("prototypes must be a non-empty 2-D tensor (classes, features), "
                             f"got shape {tuple(prototypes.shape)}")
        if not torch.isfinite(prototypes.float()).all():
            raise ValueError("prototypes must be finite, got NaN or infinite entries")
        self.register_buffer("prototypes", prototypes.float().clone())

    @property
    def in_features(self) -> int:
        return self.prototypes.shape[1]

    @property
    def out_features(self) -> int:
        return self.prototypes.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 2 and x.shape[1] == self.in_features, f"x: {tuple(x.shape)}"
        diff = x.unsqueeze(1) - self.prototypes.unsqueeze(0)  # (N, classes, features)
        return -(diff * diff).sum(dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def map_loss(scores: torch.Tensor, target: torch.Tensor, j: float = 1.0) -> torch.Tensor:
    """The paper's maximum a posteriori loss (its equation 9), averaged over the batch.

    With RBF penalties ``y = -scores``:
    ``E = y_target + log(exp(-j) + sum_i exp(-y_i))``. That is cross-entropy over the ten
    scores plus one extra constant "rubbish" class of score ``-j``, which is how it is
    computed here. It pushes the correct penalty down and the others up, so the
    prototypes need not move and the penalties cannot all collapse to zero.
    Shapes: scores ``(N, C)``, target ``(N,)`` -> scalar.
    """
    check_tensor("scores", scores)
    check_tensor("target", target)
    j = check_number("j", j)
    if scores.dim() != 2 or scores.shape[1] < 1 or scores.shape[0] < 1:
        raise ValueError(f"scores must have shape (N, C) with N, C >= 1, got "
                         f"{tuple(scores.shape)}")
    if target.dim() != 1 or len(target) != len(scores):
        raise ValueError(f"target must have shape ({len(scores)},) to match scores, "
                         f"got {tuple(target.shape)}")
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    # The value check reads the targets back, so it runs on the CPU only: on an accelerator
    # it would stall every training step (there, cross_entropy's own check fires instead).
    if target.device.type == "cpu" and len(target) and (
            target.min() < 0 or target.max() >= scores.shape[1]):
        raise ValueError(f"target must hold classes in 0..{scores.shape[1] - 1}, got values in "
                         f"{int(target.min())}..{int(target.max())}")
    rubbish = scores.new_full((scores.shape[0], 1), -float(j))
    return F.cross_entropy(torch.cat([scores, rubbish], dim=1), target)

"""Per-layer summaries: output shape, trainable parameters and *connections*.

Connections are what LeCun et al. (1998) count beside parameters: one per (input unit,
output unit) pair that a multiply-add joins, plus one per output unit for its bias. They are
derived here from each layer's type and the shapes seen in one forward pass, never from a
table of known answers, so the same code counts LeNet-5, d2l's LeNet or any
``nn.Sequential`` of standard layers. With padding, taps that fall on padding are not
connections: only real input units are counted. A squashing function (tanh, ReLU, ...)
joins no two units by a multiply-add, so its rows count 0 connections: the paper folds it
into the layer it follows. LeNet-5's RBF output counts one connection per (F6 unit, class)
pair, 84 x 10 = 840, and the total is the paper's 340,908.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from math import ceil, floor, prod

import torch
from torch import nn

from ._checks import check_module, fail
from .layers import RBFOutput, ScaledTanh, SparseConv2d, Subsampling

#: Squashing functions and other fixed, unit-by-unit maps: no multiply-add joins two units,
#: so no connections (the paper counts a layer's squashing function with the layer).
SQUASHING = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU,
             nn.Dropout, nn.Dropout2d, nn.Hardtanh, ScaledTanh)
#: Layers that scale each unit by a learned factor: one connection per output unit.
ELEMENTWISE = (nn.BatchNorm1d, nn.BatchNorm2d)
#: Layers whose every output depends on every input along one dimension (``dim``).
ALONG_DIM = (nn.Softmax, nn.LogSoftmax, nn.Softmin)
#: Layers that only move data around: no connections.
RESHAPING = (nn.Flatten, nn.Unflatten, nn.Identity)


@dataclass(frozen=True)
class LayerRow:
    """One layer of a summary. ``connections`` is None for a layer type it cannot count."""

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    connections: int | None


class Summary(Sequence):
    """The rows of :func:`summary`; index by position or by layer name (``s["C1"]``)."""

    def __init__(self, rows: list[LayerRow], input_size: tuple[int, ...]) -> None:
        self.rows = rows
        self.input_size = input_size

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[LayerRow]:
        return iter(self.rows)

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            for row in self.rows:
                if row.name == key:
                    return row
            raise KeyError(f"no layer named {key!r}; layers: {[r.name for r in self.rows]}")
        return self.rows[key]

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_connections(self) -> int:
        return sum(r.connections or 0 for r in self.rows)

    def __str__(self) -> str:
        head = ("layer", "type", "output shape", "params", "connections")
        body = [(r.name, r.kind, "x".join(map(str, r.output_shape)), f"{r.params:,}",
                 "?" if r.connections is None else f"{r.connections:,}") for r in self.rows]
        foot = ("total", "", "", f"{self.total_params:,}", f"{self.total_connections:,}")
        widths = [max(len(row[i]) for row in [head, *body, foot]) for i in range(5)]

        def fmt(row: tuple[str, ...]) -> str:
            cells = [c.ljust(w) if i < 3 else c.rjust(w)
                     for i, (c, w) in enumerate(zip(row, widths))]
            return "  ".join(cells).rstrip()

        rule = "-" * len(fmt(head))
        return "\n".join([fmt(head), rule, *map(fmt, body), rule, fmt(foot)])

    __repr__ = __str__


def summary(model: nn.Module, input_size: Sequence[int]) -> Summary:
    """Run one forward pass on zeros of ``input_size`` and summarise every leaf layer.

    Args:
        model: any ``nn.Module``; its leaf modules become rows, in call order.
        input_size: ``(N, C, H, W)`` or ``(C, H, W)``; shapes in the rows keep the batch
            dimension, connections are counted per example.

    Returns:
        A :class:`Summary` whose rows expose ``name``, ``output_shape``, ``params`` and
        ``connections``; ``print`` it for a table.
    """
    check_module("model", model)
    size = _check_size(input_size)
    # Run on a copy in eval mode: the forward pass must not touch the model it describes
    # (batch-norm running statistics, training mode), and eval mode lets batch norm accept
    # a batch of one.
    model = copy.deepcopy(model).eval()
    leaves = {m: path for path, m in model.named_modules() if _is_leaf(m)}
    short = _short_names(list(leaves.values()))
    names = {m: short[path] for m, path in leaves.items()}
    rows: list[LayerRow] = []

    def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        in_shape, out_shape = tuple(inputs[0].shape), tuple(output.shape)
        rows.append(LayerRow(
            name=names[module],
            kind=type(module).__name__,
            input_shape=in_shape,
            output_shape=out_shape,
            params=sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad),
            connections=connections(module, in_shape[1:], out_shape[1:], len(in_shape)),
        ))

    handles = [m.register_forward_hook(record) for m in leaves]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else None
    try:
        with torch.no_grad():
            model(torch.zeros(size, device=device, dtype=dtype))
    except RuntimeError as err:
        raise ValueError(f"input_size {size} does not fit {type(model).__name__}: {err}") from None
    finally:
        for h in handles:
            h.remove()
    return Summary(rows, size)


def _check_size(input_size: object) -> tuple[int, ...]:
    """``input_size`` as ``(N, ...)``: a sequence of 2 or more positive ints (3 gets N = 1)."""
    allowed = "must be a sequence of positive ints such as (N, C, H, W) or (C, H, W)"
    if isinstance(input_size, (str, bytes, torch.Tensor)) or not isinstance(input_size, Sequence):
        fail("input_size", input_size, allowed, TypeError)
    if any(isinstance(s, bool) or not hasattr(s, "__index__") for s in input_size):
        fail("input_size", tuple(input_size), allowed, TypeError)
    size = tuple(operator.index(s) for s in input_size)
    if len(size) < 2 or any(s < 1 for s in size):
        fail("input_size", size, allowed)
    return (1, *size) if len(size) == 3 else size


def connections(module: nn.Module, in_shape: tuple[int, ...],
                out_shape: tuple[int, ...], ndim: int | None = None) -> int | None:
    """Connections of one layer for one example, from its type and ``(C, H, W)`` shapes
    (without the batch dimension; ``ndim`` is the number of dimensions with it, by default
    ``len(in_shape) + 1``)."""
    numel_out = prod(out_shape)
    ndim = len(in_shape) + 1 if ndim is None else ndim
    if isinstance(module, SparseConv2d):
        taps = _taps(in_shape[1:], out_shape[1:], module.kernel_size, 1, 0, 1)
        return sum(len(r) for r in module.table) * taps + numel_out
    if isinstance(module, nn.Conv2d):
        padding = module.padding
        if module.padding_mode != "zeros":
            padding = "border"  # reflect, replicate, circular: every tap is a real pixel
        elif padding == "same":
            # PyTorch pads d*(k-1) in all, the smaller half first (before the input)
            padding = tuple(d * (k - 1) // 2 for k, d in zip(_pair(module.kernel_size),
                                                              _pair(module.dilation)))
        elif padding == "valid":
            padding = 0
        taps = _taps(in_shape[1:], out_shape[1:], module.kernel_size, module.stride,
                     padding, module.dilation)
        per_map = module.in_channels // module.groups
        bias = numel_out if module.bias is not None else 0
        return module.out_channels * per_map * taps + bias
    if isinstance(module, Subsampling):
        k = module.kernel_size
        return in_shape[0] * _taps(in_shape[1:], out_shape[1:], k, k, 0, 1) + numel_out
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s = module.kernel_size, module.stride
        d = getattr(module, "dilation", 1)
        return in_shape[0] * _taps(in_shape[1:], out_shape[1:], k, s, module.padding, d)
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        per_dim = [sum(ceil((i + 1) * n / o) - floor(i * n / o) for i in range(o))
                   for n, o in zip(in_shape[1:], out_shape[1:])]
        return in_shape[0] * prod(per_dim)
    if isinstance(module, nn.Linear):
        rows = prod(out_shape[:-1])
        return rows * module.out_features * (module.in_features + (module.bias is not None))
    if isinstance(module, RBFOutput):  # one (x_j - w_ij)^2 term per (input, class) pair
        return module.in_features * module.out_features
    if isinstance(module, ALONG_DIM):
        dim = module.dim if module.dim is not None else (0 if ndim in (0, 1, 3) else 1)
        dim = dim % ndim
        return numel_out * ((1,) + tuple(out_shape))[dim] if dim else None
    if isinstance(module, ELEMENTWISE):
        return numel_out
    if isinstance(module, SQUASHING + RESHAPING):
        return 0
    return None


def _taps(in_hw, out_hw, kernel, stride, padding, dilation) -> int:
    """Kernel taps that land on real (non-padding) input, summed over all output positions.

    ``padding`` is the padding before the input (per axis), or ``"border"`` when padding
    copies real pixels (reflect, replicate, circular): then every tap counts. The 2-D count
    factorises: it is the product of the 1-D counts along H and along W.
    """
    if padding == "border":
        return prod(o * k for o, k in zip(out_hw, _pair(kernel)))
    total = 1
    pairs = (_pair(v) for v in (kernel, stride, padding, dilation))
    for n, o, k, s, p, d in zip(in_hw, out_hw, *pairs):
        total *= sum(1 for i in range(o) for t in range(k) if 0 <= i * s - p + t * d < n)
    return total


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _is_leaf(module: nn.Module) -> bool:
    return not any(True for _ in module.children()) or any(
        True for _ in module.parameters(recurse=False))


def _short_names(paths: list[str]) -> dict[str, str]:
    """Map each dotted module path to its shortest unique dotted suffix.

    A bare index such as ``3`` says nothing, so a suffix never starts with a number.
    """
    result = {}
    for path in paths:
        parts = path.split(".")
        for k in range(1, len(parts) + 1):
            suffix = ".".join(parts[-k:])
            if parts[-k].isdigit() and k < len(parts):
                continue
            if sum(1 for p in paths if p == suffix or p.endswith("." + suffix)) == 1:
                result[path] = suffix
                break
        else:
            result[path] = path or "model"
    return result

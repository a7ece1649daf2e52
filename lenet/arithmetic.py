"""Convolution arithmetic: output sizes and receptive fields, one spatial axis at a time.

The formulas are those of Dumoulin & Visin, "A guide to convolution arithmetic for deep
learning" (2016), written so that they agree exactly with PyTorch's layers:

* :func:`conv_output_size` -- ``nn.Conv2d``: ``floor((i + 2p - d(k-1) - 1) / s) + 1``
* :func:`conv_transpose_output_size` -- ``nn.ConvTranspose2d``:
  ``(i-1)s - 2p + d(k-1) + output_padding + 1``
* :func:`pool_output_size` -- ``nn.MaxPool2d`` / ``nn.AvgPool2d`` (floor mode)
* :func:`effective_kernel_size` -- a dilated kernel's span, ``k + (k-1)(d-1)``
* :func:`receptive_field` / :func:`receptive_field_steps` -- how many input pixels one unit sees

Everything takes and returns plain ``int`` for one axis (apply it to H and W separately).
Invalid input raises ``TypeError`` (not an integer; ``bool`` is refused) or ``ValueError``
naming the argument, the value received and the allowed range -- the same combinations that
PyTorch rejects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._checks import check_int

__all__ = [
    "Layer",
    "ReceptiveFieldStep",
    "conv_output_size",
    "conv_transpose_output_size",
    "effective_kernel_size",
    "pool_output_size",
    "receptive_field",
    "receptive_field_steps",
]


def _check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an ``int >= minimum``, or a TypeError/ValueError that names ``name``
    (bools are refused: ``stride=True`` is always a mistake)."""
    return check_int(name, value, minimum)


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """The span of a dilated kernel: ``k + (k-1)(d-1)``, i.e. ``d(k-1) + 1``.

    A 3-tap kernel with dilation 2 touches pixels 0, 2, 4: it spans 5.
    """
    k = _check_int("kernel_size", kernel_size)
    d = _check_int("dilation", dilation)
    return k + (k - 1) * (d - 1)


def _check_fits(size: int, k: int, d: int, p: int) -> None:
    """Raise unless the (dilated) kernel fits in the padded input, i.e. output size >= 1."""
    k_eff = k + (k - 1) * (d - 1)
    if k_eff > size + 2 * p:
        raise ValueError(
            f"kernel_size={k} (dilation {d} -> effective {k_eff}) is larger than the padded "
            f"input size {size + 2 * p} (size={size}, padding={p}); the effective kernel "
            f"must be <= size + 2*padding")


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """Output length of a convolution along one axis, as ``torch.nn.Conv2d`` computes it.

    ``floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``. Trailing
    input pixels that no full window reaches are dropped (that is the floor).

    >>> conv_output_size(32, 5)              # LeNet-5's C1: 32x32 -> 28x28
    28
    >>> conv_output_size(28, 5, padding=2)   # 'same' padding keeps 28
    28
    """
    size = _check_int("size", size)
    k = _check_int("kernel_size", kernel_size)
    s = _check_int("stride", stride)
    p = _check_int("padding", padding, minimum=0)
    d = _check_int("dilation", dilation)
    # PyTorch accepts any padding >= 0 for convolutions; it only needs one full window.
    _check_fits(size, k, d, p)
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution, as ``torch.nn.ConvTranspose2d`` computes it.

    ``(size-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1``.
    A strided convolution maps several input sizes to the same output size;
    ``output_padding`` (``0 <= output_padding < max(stride, dilation)``, as PyTorch requires)
    picks which one the transpose gives back.

    >>> conv_transpose_output_size(14, 2, stride=2)   # undoes a 2x2 stride-2 pool
    28
    """
    size = _check_int("size", size)
    k = _check_int("kernel_size", kernel_size)
    s = _check_int("stride", stride)
    p = _check_int("padding", padding, minimum=0)
    op = _check_int("output_padding", output_padding, minimum=0)
    d = _check_int("dilation", dilation)
    if op >= max(s, d):
        raise ValueError(
            f"output_padding={op} is out of range: it must be smaller than stride ({s}) or "
            f"dilation ({d}), i.e. between 0 and {max(s, d) - 1}")
    full = (size - 1) * s + d * (k - 1) + op + 1  # the output before padding crops it
    out = full - 2 * p
    if out < 1:
        raise ValueError(
            f"padding={p} is too large: the output size would be {out} (size={size}, "
            f"kernel_size={k}, stride={s}, dilation={d}, output_padding={op}); "
            f"padding must be between 0 and {(full - 1) // 2}")
    return out


def pool_output_size(size: int, kernel_size: int, stride: int | None = None,
                     padding: int = 0) -> int:
    """Output length of max or average pooling along one axis (``floor`` mode, as PyTorch).

    ``stride`` defaults to ``kernel_size`` (non-overlapping windows). PyTorch allows at most
    ``kernel_size // 2`` of padding, so that every window holds at least one real pixel.

    >>> pool_output_size(28, 2)   # LeNet's S2: 28x28 -> 14x14
    14
    """
    size = _check_int("size", size)
    k = _check_int("kernel_size", kernel_size)
    s = k if stride is None else _check_int("stride", stride)
    p = _check_int("padding", padding, minimum=0)
    if p > k // 2:
        raise ValueError(
            f"padding={p} is too large for pooling with kernel_size={k}: padding must be "
            f"between 0 and kernel_size // 2 = {k // 2}")
    _check_fits(size, k, 1, p)
    return (size + 2 * p - k) // s + 1


# --------------------------------------------------------------------------- receptive field


@dataclass(frozen=True)
class Layer:
    """One layer's geometry along one axis, for :func:`receptive_field`.

    Padding is irrelevant to the receptive field's size, so it is not a field.
    """

    kernel_size: int
    stride: int = 1
    dilation: int = 1

    def __post_init__(self) -> None:
        for name in ("kernel_size", "stride", "dilation"):
            _check_int(name, getattr(self, name))

    @property
    def effective_kernel_size(self) -> int:
        return effective_kernel_size(self.kernel_size, self.dilation)


@dataclass(frozen=True)
class ReceptiveFieldStep:
    """The receptive field after one layer: ``size`` input pixels wide, and adjacent units of
    the layer's output ``jump`` input pixels apart."""

    layer: Layer
    size: int
    jump: int


def _single(name: str, value: object, what: str) -> int:
    """One int from a module attribute that may be a per-axis tuple, if the axes agree."""
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(
                f"{what} has {name}={value}, different per axis; receptive_field works on "
                f"one axis -- pass a Layer per axis instead")
        value = value[0]
    return _check_int(name, value)


def _is_module(obj: object) -> bool:
    try:
        from torch import nn
    except ImportError:  # pragma: no cover - torch is a dependency of lenet
        return False
    return isinstance(obj, nn.Module)


def _module_layers(module: object) -> list[Layer]:
    """The spatial layers of a torch module, in forward order ([] for elementwise ones)."""
    from torch import nn

    from . import layers as lenet_layers  # imported here: plain-int users need no torch

    if isinstance(module, (nn.Sequential, nn.ModuleList)):
        return [layer for child in module for layer in _module_layers(child)]
    what = type(module).__name__
    # Modules that mix all positions or resample: the recurrence does not describe them.
    global_types = (nn.Linear, nn.Flatten, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
                    nn.Upsample, nn.Fold, nn.Unfold, nn.FractionalMaxPool2d,
                    nn.modules.conv._ConvTransposeNd)
    if isinstance(module, global_types):
        raise TypeError(
            f"layers contains {what}, whose receptive field is not given by the "
            f"kernel/stride/dilation recurrence; pass only the convolutional part")
    if isinstance(module, (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd)):
        return [Layer(_single("kernel_size", module.kernel_size, what),
                      _single("stride", module.stride, what),
                      _single("dilation", module.dilation, what))]
    if isinstance(module, (nn.modules.pooling._AvgPoolNd, nn.modules.pooling._LPPoolNd)):
        k = _single("kernel_size", module.kernel_size, what)
        stride = module.stride if module.stride is not None else k
        return [Layer(k, _single("stride", stride, what))]
    if isinstance(module, lenet_layers.Subsampling):  # non-overlapping 'pooling'
        return [Layer(module.kernel_size, module.kernel_size)]
    if isinstance(module, lenet_layers.SparseConv2d):
        return [Layer(module.kernel_size)]
    if any(True for _ in module.children()):
        # A whole model: its forward() may use its children in any order, so its children
        # say nothing reliable about its receptive field.
        raise TypeError(
            f"layers={what}(...): a model whose forward order is unknown; pass its "
            f"convolutional part as an nn.Sequential (e.g. model.features)")
    return []  # activations, normalisation, dropout, ...: one input pixel per output pixel


_SPEC_HELP = (
    "use Layer(kernel_size, stride, dilation), a dict with those keys, a tuple "
    "('conv', k[, stride[, dilation]]), ('pool', k[, stride]) or (k[, stride[, dilation]]), "
    "or a torch module")


def _as_layers(spec: object) -> list[Layer]:
    """Normalise one layer spec (see :func:`receptive_field`) to a list of Layers."""
    if isinstance(spec, Layer):
        return [spec]
    if _is_module(spec):
        return _module_layers(spec)
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"kernel_size", "stride", "dilation"}
        if unknown or "kernel_size" not in spec:
            raise TypeError(f"layer spec {spec!r} is not understood: {_SPEC_HELP}")
        return [Layer(**spec)]
    if isinstance(spec, (tuple, list)) and spec:
        kind, *args = spec if isinstance(spec[0], str) else ("conv", *spec)
        if kind in ("conv", "pool") and 1 <= len(args) <= 3:
            k = args[0]
            stride = args[1] if len(args) > 1 else (k if kind == "pool" else 1)
            return [Layer(k, stride, *args[2:])]
    raise TypeError(f"layer spec {spec!r} is not understood: {_SPEC_HELP}")


def receptive_field_steps(layers: Iterable[object]) -> list[ReceptiveFieldStep]:
    """The receptive field after each spatial layer of a stack (elementwise layers skipped).

    The recurrence (Dumoulin & Visin 2016; Araujo et al. 2019), starting from ``r = j = 1``:
    ``r_out = r_in + (k_eff - 1) * j_in`` and ``j_out = j_in * stride``, where ``j`` is the
    distance, in input pixels, between adjacent units of the current feature map.
    See :func:`receptive_field` for the accepted layer specs.
    """
    if isinstance(layers, (Layer, Mapping)) or _is_module(layers):
        flat = _as_layers(layers)  # one spec, or a whole nn.Sequential
    elif isinstance(layers, Iterable) and not isinstance(layers, str):
        flat = [layer for spec in layers for layer in _as_layers(spec)]
    else:
        raise TypeError(f"layers={layers!r} must be a sequence of layer specs: {_SPEC_HELP}")
    size, jump = 1, 1
    steps = []
    for layer in flat:
        size += (layer.effective_kernel_size - 1) * jump
        jump *= layer.stride
        steps.append(ReceptiveFieldStep(layer, size, jump))
    return steps


def receptive_field(layers: Iterable[object]) -> int:
    """How many input pixels (along one axis) one unit at the end of ``layers`` sees.

    ``layers`` is a sequence of layer specs, in forward order, each one of:

    * a :class:`Layer` ``(kernel_size, stride=1, dilation=1)``;
    * a dict with those keys;
    * a tuple ``("conv", k[, stride[, dilation]])`` (stride 1 by default),
      ``("pool", k[, stride])`` (stride ``k`` by default) or ``(k[, stride[, dilation]])``;
    * a torch module: ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` and lenet's
      ``SparseConv2d`` and ``Subsampling``; ``nn.Sequential`` is unrolled (so
      ``receptive_field(model.features)`` works) and any other module -- activations,
      normalisation, dropout -- is elementwise and skipped. ``nn.Linear``, ``nn.Flatten``,
      adaptive pools and transposed convolutions raise ``TypeError``.

    Returns a plain ``int`` (``1`` for an empty stack); :func:`receptive_field_steps` gives
    the size and jump after every layer.

    >>> receptive_field([("conv", 3, 1, 1), ("conv", 3, 1, 2), ("conv", 3, 1, 4)])
    15
    """
    steps = receptive_field_steps(layers)
    return steps[-1].size if steps else 1

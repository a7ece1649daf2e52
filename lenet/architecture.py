"""A network's architecture drawn from its own summary: LeNet-5's figure, by code.

:func:`architecture_layers` reduces :func:`lenet.summary.summary` to the layers that carry
the structure (squashing functions and reshapes are dropped: the paper folds them into the
layer before) and :func:`plot_architecture` draws them left to right, the way the paper's
Figure 2 does: each layer a stack of its feature maps (at most ``max_maps`` drawn, side
proportional to the map's size) or, for a vector of units, one bar; its name above, its
``maps@HxW`` (or ``units``) below, and the operation that produces it on the arrow.
Nothing is typed in: every label comes from a forward pass of the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle
from torch import nn

from .layers import check_module
from .summary import RESHAPING, SQUASHING, summary

__all__ = ["ArchLayer", "architecture_layers", "plot_architecture"]

_SKIPPED = {cls.__name__ for cls in SQUASHING + RESHAPING}

#: Face colour and arrow label for each kind of layer.
_STYLE = {"input": ("#e0e0e0", ""), "Conv2d": ("#c6dbef", "conv"),
          "SparseConv2d": ("#c6dbef", "conv"), "Subsampling": ("#fdd0a2", "subsample"),
          "MaxPool2d": ("#fdd0a2", "max pool"), "AvgPool2d": ("#fdd0a2", "avg pool"),
          "Linear": ("#c7e9c0", "full"), "RBFOutput": ("#dadaeb", "RBF")}


@dataclass(frozen=True)
class ArchLayer:
    """One drawn layer: ``name``, ``kind`` (module type or ``"input"``), ``maps`` (channels
    or units), ``size`` ``(H, W)`` or ``None`` for a vector, and the ``op`` on its arrow."""

    name: str
    kind: str
    maps: int
    size: tuple[int, int] | None
    op: str

    @property
    def label(self) -> str:
        """``"6@28x28"`` for feature maps, ``"84 units"`` for a vector."""
        if self.size is None:
            return f"{self.maps} units"
        return f"{self.maps}@{self.size[0]}x{self.size[1]}"


def architecture_layers(model: nn.Module, input_size: Sequence[int]) -> list[ArchLayer]:
    """The input and every structural layer of ``model`` on ``input_size`` ``(N, C, H, W)``.

    Squashing functions and reshapes (``Flatten``) are left out. A layer with a kernel gets
    ``"5x5 conv"``-style arrow labels from its own ``kernel_size``.
    """
    check_module("model", model)
    rows = summary(model, input_size)
    modules = dict(model.named_modules())
    size = rows.input_size
    layers = [ArchLayer("INPUT", "input", size[1], _hw(size), "")]
    for row in rows:
        if row.kind in _SKIPPED:
            continue
        module = _find(modules, row.name)
        op = _STYLE.get(row.kind, ("", row.kind))[1]
        k = getattr(module, "kernel_size", None)
        if k is not None and row.kind != "Linear":
            k = k if isinstance(k, int) else k[0]
            op = f"{k}x{k} {op}"
        shape = row.output_shape
        layers.append(ArchLayer(row.name, row.kind, shape[1], _hw(shape), op))
    return layers


def _hw(shape: tuple[int, ...]) -> tuple[int, int] | None:
    return (shape[2], shape[3]) if len(shape) == 4 else None


def _find(modules: dict[str, nn.Module], short: str) -> nn.Module | None:
    """The module whose dotted path ends with the summary's short name."""
    for path, module in modules.items():
        if path == short or path.endswith("." + short):
            return module
    return None


def plot_architecture(model: nn.Module, input_size: Sequence[int], max_maps: int = 8,
                      width: float = 11.0, title: str | None = None) -> Figure:
    """Draw ``model``'s layers on ``input_size`` left to right; returns the figure.

    Args:
        model: any ``nn.Module`` :func:`lenet.summary.summary` can trace, e.g. ``LeNet5()``.
        input_size: ``(N, C, H, W)`` or ``(C, H, W)``.
        max_maps: at most this many maps are drawn per stack (the label gives the count).
        width: figure width in inches (the height follows).
        title: an optional figure title.
    """
    if isinstance(max_maps, bool) or not isinstance(max_maps, int) or max_maps < 1:
        raise ValueError(f"max_maps must be an int >= 1, got {max_maps!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
        raise ValueError(f"width must be a positive number of inches, got {width!r}")
    layers = architecture_layers(model, input_size)
    spatial = [max(layer.size) for layer in layers if layer.size]
    biggest = max(spatial, default=1)
    gap, step = 1.6, 0.06  # arrow length between layers; offset between stacked maps
    fig, ax = plt.subplots(figsize=(width, width * 0.27))
    x0, heights = 0.0, []
    for i, layer in enumerate(layers):
        colour = _STYLE.get(layer.kind, ("#f0f0f0", ""))[0]
        if layer.size is not None and max(layer.size) > 1:
            h = 0.3 + 0.8 * layer.size[0] / biggest
            w = 0.3 + 0.8 * layer.size[1] / biggest
            n = min(layer.maps, max_maps)
            for m in reversed(range(n)):  # back to front
                ax.add_patch(Rectangle((x0 + m * step, -h / 2 + m * step), w, h,
                                       facecolor=colour, edgecolor="#404040", lw=0.8))
            top, right = h / 2 + (n - 1) * step, x0 + (n - 1) * step + w
        else:  # a vector of units (or 1x1 maps): one bar, height growing with the count
            h = 0.3 + 0.9 * min(layer.maps, 120) / 120
            ax.add_patch(Rectangle((x0, -h / 2), 0.2, h, facecolor=colour,
                                   edgecolor="#404040", lw=0.8))
            top, right = h / 2, x0 + 0.2
        heights.append(top)
        centre = (x0 + right) / 2
        ax.text(centre, top + 0.1, layer.name, ha="center", va="bottom",
                fontsize=13, fontweight="bold")
        ax.text(centre, -0.78, layer.label, ha="center", va="top", fontsize=12)
        if i + 1 < len(layers):
            start, end = right + 0.08, right + gap - 0.08
            ax.add_patch(FancyArrowPatch((start, 0), (end, 0), arrowstyle="-|>",
                                         mutation_scale=12, color="#303030", lw=1))
            ax.text((start + end) / 2, 0.08, layers[i + 1].op.replace(" ", "\n", 1),
                    ha="center", va="bottom", fontsize=10.5, style="italic",
                    color="#303030")
        x0 = right + gap
    xlim, ylim = (-0.4, x0 - gap + 0.55), (-1.1, max(heights) + 0.5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    fig.set_size_inches(width, round(width * (ylim[1] - ylim[0])
                                     / (xlim[1] - xlim[0]) + 0.2, 1))
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig

"""Matplotlib figures the chapters share: images, feature maps, kernels, curves, tables,
receptive fields.

Every function draws on a new figure (or the ``ax`` given) and returns the figure, so a
notebook cell can end with ``plt.show()`` and produce no text repr.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from ._checks import MAX_DRAW_SIZE, check_int, fail
from .arithmetic import receptive_field_steps
from .receptive_field import receptive_field_masks
from .train import History


def _array(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8,
                cmap: str = "gray_r", scale: float = 1.2, symmetric: bool = False) -> Figure:
    """A grid of images ``(N, H, W)`` or ``(N, 1, H, W)`` (or ``(N, 3, H, W)`` in colour)."""
    x = _array(images)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    n = len(x)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols,
                             figsize=(scale * ncols, scale * nrows + 0.3 * bool(titles)),
                             squeeze=False)
    vmax = np.abs(x).max() if symmetric else None
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = x[i].transpose(1, 2, 0) if x[i].ndim == 3 else x[i]
        kwargs = {"vmin": -vmax, "vmax": vmax} if symmetric else {}
        ax.imshow(img, cmap=None if img.ndim == 3 else cmap, **kwargs)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    return fig


def show_feature_maps(maps, title: str | None = None, ncols: int = 8, cmap: str = "viridis",
                      titles: Sequence[str] | None = None, scale: float = 1.2) -> Figure:
    """The channels of one activation ``(C, H, W)`` as a grid, titled ``map i`` unless
    ``titles`` are given; ``scale`` is the size of one panel in inches."""
    x = _array(maps)
    titles = titles if titles is not None else [f"map {i}" for i in range(len(x))]
    fig = show_images(x, titles=titles, ncols=ncols, cmap=cmap, scale=scale)
    if title:
        fig.suptitle(title)
        fig.tight_layout()
    return fig


def show_kernels(weight, per_kernel_scale: bool = False) -> Figure:
    """Conv kernels ``(K, C, kh, kw)``: one row per output map, one column per input channel,
    on a symmetric red-blue scale (red positive, blue negative), shared by all kernels
    unless ``per_kernel_scale`` (then each kernel uses its own largest magnitude)."""
    w = _array(weight)
    k, c = w.shape[:2]
    fig, axes = plt.subplots(k, c, figsize=(0.9 * c + 0.5, 0.9 * k), squeeze=False)
    for i in range(k):
        for j in range(c):
            vmax = np.abs(w[i, j] if per_kernel_scale else w).max() or 1.0
            axes[i, j].imshow(w[i, j], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(str(i), rotation=0, labelpad=10)
    fig.tight_layout()
    return fig


def plot_history(history: History | dict[str, History], title: str | None = None) -> Figure:
    """Training loss (left) and train/test accuracy (right) per epoch, one line per run."""
    runs = history if isinstance(history, dict) else {"": history}
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    for label, h in runs.items():
        epochs = np.arange(1, h.epochs + 1)
        prefix = f"{label} " if label else ""
        ax_loss.plot(epochs, h.train_loss, marker="o", label=f"{prefix}train loss")
        ax_acc.plot(epochs, h.train_acc, marker="o", label=f"{prefix}train acc")
        if h.test_acc:
            ax_acc.plot(epochs, h.test_acc, marker="s", linestyle="--", label=f"{prefix}test acc")
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _classes(name: str, values, num_classes: int) -> np.ndarray:
    """``values`` as a 1-D int array of classes in ``0..num_classes-1``."""
    a = _array(values)
    if a.ndim != 1:
        fail(name, values, "must be a 1-D sequence of class indices")
    if len(a) and not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        fail(name, values, "must hold integer class indices (for scores, take .argmax(1))",
             TypeError)
    if len(a) and (a.min() < 0 or a.max() >= num_classes):
        fail(name, values, f"must hold classes in 0..{num_classes - 1}, got values in "
                           f"{a.min()}..{a.max()}")
    return a.astype(np.int64)


def confusion_matrix(predictions, labels, num_classes: int = 10) -> np.ndarray:
    """``(num_classes, num_classes)`` counts: row = true class, column = predicted class.

    ``predictions`` and ``labels``: 1-D integer classes in ``0..num_classes-1``, of one
    length (tensors, arrays or lists)."""
    num_classes = check_int("num_classes", num_classes)
    p = _classes("predictions", predictions, num_classes)
    t = _classes("labels", labels, num_classes)
    if len(p) != len(t):
        fail("predictions", predictions, f"must have one entry per label ({len(t)})")
    counts = np.bincount(t * num_classes + p, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def plot_confusion(matrix: np.ndarray, classes: Sequence[str] | None = None,
                   title: str | None = None) -> Figure:
    """A confusion matrix with its counts written in the cells (true rows, predicted columns)."""
    m = np.asarray(matrix)
    n = len(m)
    classes = list(classes) if classes is not None else [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(0.5 * n + 1.5, 0.5 * n + 1))
    ax.imshow(np.log1p(m), cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks(range(n), classes, rotation=45 if max(map(len, classes)) > 2 else 0)
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_connection_table(table: Sequence[Sequence[int]], in_channels: int,
                          in_label: str = "S2 map", out_label: str = "C3 map") -> Figure:
    """A sparse connection table as a grid: an X where an output map reads an input map
    (drawn like Table I of the LeNet-5 paper: inputs as rows, outputs as columns)."""
    grid = np.zeros((in_channels, len(table)), dtype=bool)
    for j, inputs in enumerate(table):
        grid[list(inputs), j] = True
    fig, ax = plt.subplots(figsize=(0.42 * len(table) + 1.2, 0.42 * in_channels + 1.0))
    ax.imshow(grid, cmap="Greys", vmin=0, vmax=1.6)
    for i, j in zip(*np.nonzero(grid)):
        ax.text(j, i, "X", ha="center", va="center", fontsize=9, color="white", weight="bold")
    ax.set_xticks(range(len(table)))
    ax.set_yticks(range(in_channels))
    ax.set_xticks(np.arange(-0.5, len(table)), minor=True)
    ax.set_yticks(np.arange(-0.5, in_channels), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel(out_label)
    ax.set_ylabel(in_label)
    fig.tight_layout()
    return fig


def plot_receptive_field(layers: Iterable[object], cell: float = 0.16,
                         seen: str = "#74c476", dot: str = "#cb181d") -> Figure:
    """One panel per layer: the receptive field of one unit after that layer, shaded, on the
    final receptive field's grid; dots mark that layer's kernel taps (each tap is the
    centre of a unit of the previous layer). Holes (gridding) stay white.

    ``layers`` as :func:`lenet.arithmetic.receptive_field`; ``cell`` is a pixel's size in
    inches. The 3x3 stack with dilations 1, 2, 4 gives 3x3, 7x7 and 15x15.
    """
    steps = receptive_field_steps(layers)
    if not steps:
        raise ValueError("layers must contain at least one spatial layer (conv or pool)")
    if steps[-1].size > MAX_DRAW_SIZE:
        raise ValueError(f"layers: a receptive field of {steps[-1].size} pixels; at most "
                         f"{MAX_DRAW_SIZE} are drawn")
    masks = receptive_field_masks(layers)
    n = steps[-1].size
    width = len(steps) * (n * cell + 0.4)
    fig, axes = plt.subplots(1, len(steps), figsize=(width, n * cell + 1.0), squeeze=False)
    previous_size, jump = 1, 1
    for ax, step, mask in zip(axes[0], steps, masks):
        start = (n - step.size) // 2
        ax.add_patch(Rectangle((0, 0), n, n, facecolor="white", edgecolor="#bdbdbd"))
        for r, c in zip(*np.nonzero(mask)):
            ax.add_patch(Rectangle((start + c, start + r), 1, 1, facecolor=seen,
                                   edgecolor="white", linewidth=0.3))
        centre = start + (previous_size - 1) / 2 + 0.5
        taps = centre + np.arange(step.layer.kernel_size) * step.layer.dilation * jump
        xx, yy = np.meshgrid(taps, taps)
        ax.plot(xx.ravel(), yy.ravel(), "o", color=dot, markersize=3)
        layer = step.layer
        ax.set_title(f"k={layer.kernel_size}, s={layer.stride}, d={layer.dilation}\n"
                     f"RF {step.size}x{step.size}", fontsize=9)
        ax.set_xlim(-0.2, n + 0.2)
        ax.set_ylim(n + 0.2, -0.2)
        ax.set_aspect("equal")
        ax.axis("off")
        previous_size, jump = step.size, step.jump
    fig.tight_layout()
    return fig

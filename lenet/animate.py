"""Convolution-arithmetic pictures: one frame per output pixel, drawn as in Dumoulin & Visin.

A convolution slides a (dilated) kernel over a zero-padded input; each position produces one
output pixel. This module computes those positions (:func:`conv_frames`, pure and tested
against ``torch.nn.functional.unfold``), draws one of them (:func:`plot_conv_arithmetic`)
and renders all of them as a GIF (:func:`save_conv_animation`). The colours follow the guide:
blue input, white dashed padding, the kernel's taps dark blue (pale where they meet a zero),
cyan output with the pixel being computed in dark cyan.

A *transposed* convolution is drawn the way the guide draws it: as the equivalent direct
convolution, stride 1, over the input with ``stride - 1`` zeros inserted between its pixels
and ``dilation*(kernel_size-1) - padding`` zeros around it (plus ``output_padding`` more at
the bottom and right), with the kernel flipped. :class:`ConvGeometry` holds that drawn grid.

Sizes come from :mod:`lenet.arithmetic`; everything is square (one ``size`` for H and W).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from ._checks import MAX_DRAW_SIZE, MAX_FRAMES, fail
from .arithmetic import (
    _check_int,
    conv_output_size,
    conv_transpose_output_size,
    effective_kernel_size,
)
from .checkpoint import atomic_write
from .plot import plot_receptive_field  # re-exported: the chapters draw both from here

__all__ = [
    "ConvFrame",
    "ConvGeometry",
    "conv_frames",
    "conv_geometry",
    "plot_conv_arithmetic",
    "plot_receptive_field",
    "save_conv_animation",
]

Cell = tuple[int, int]

# The guide's palette.
INPUT_BLUE = "#9ecae1"
KERNEL_BLUE = "#08519c"  # an input pixel under a kernel tap
KERNEL_ZERO = "#c6dbef"  # a zero (padding or inserted) under a kernel tap
OUTPUT_CYAN = "#a6e3e9"
CURRENT_CYAN = "#1f8a96"
EDGE = "#4d4d4d"
_CELL_STYLE = {"input": (INPUT_BLUE, "-"), "padding": ("white", "--"), "inserted": ("white", ":")}


@dataclass(frozen=True)
class ConvGeometry:
    """The grid a convolution's kernel slides over, and the output grid it fills.

    ``grid_size`` is the side of the drawn input grid: the padded input for a convolution,
    the zero-inserted and padded input for a transposed one. The kernel moves over it by
    ``grid_stride`` (the stride for a convolution, 1 for a transposed one) with taps
    ``dilation`` apart; ``output_size`` comes from :mod:`lenet.arithmetic`.
    """

    size: int
    kernel_size: int
    stride: int
    padding: int
    dilation: int
    transposed: bool
    output_padding: int
    grid_size: int
    grid_stride: int
    output_size: int

    @property
    def offset(self) -> int:
        """Zeros before the first input pixel along each axis of the drawn grid."""
        if not self.transposed:
            return self.padding
        return effective_kernel_size(self.kernel_size, self.dilation) - 1 - self.padding

    @property
    def spacing(self) -> int:
        """Distance between adjacent input pixels on the drawn grid (stride when transposed)."""
        return self.stride if self.transposed else 1

    def input_index(self, row: int, col: int) -> Cell | None:
        """The input pixel drawn at grid cell ``(row, col)``, or None for a zero cell."""
        out = []
        for v in (row, col):
            q, r = divmod(v - self.offset, self.spacing)
            if v < self.offset or r != 0 or q >= self.size:
                return None
            out.append(q)
        return out[0], out[1]

    def cell_kind(self, row: int, col: int) -> str:
        """``'input'``, ``'padding'`` (outside the input's span) or ``'inserted'`` (a zero
        the stride of a transposed convolution puts between input pixels)."""
        if self.input_index(row, col) is not None:
            return "input"
        last = self.offset + (self.size - 1) * self.spacing
        inside = all(self.offset <= v <= last for v in (row, col))
        return "inserted" if inside else "padding"

    def embed(self, x: np.ndarray) -> np.ndarray:
        """Place an input ``(size, size)`` on the drawn grid: ``-> (grid_size, grid_size)``,
        zeros elsewhere. Sliding the kernel over this grid reproduces the convolution."""
        x = np.asarray(x)
        if x.shape != (self.size, self.size):
            fail("x", x, f"must have shape ({self.size}, {self.size})")
        grid = np.zeros((self.grid_size, self.grid_size), dtype=np.result_type(x, np.float64))
        end = self.offset + (self.size - 1) * self.spacing + 1
        grid[self.offset:end:self.spacing, self.offset:end:self.spacing] = x
        return grid


@dataclass(frozen=True)
class ConvFrame:
    """One kernel position: the output pixel it produces and the grid cells under its taps.

    ``footprint`` lists ``kernel_size**2`` cells of the drawn grid in row-major tap order
    (the row order of ``torch.nn.functional.unfold``); for a transposed convolution tap
    ``(a, b)`` meets the *flipped* kernel's weight ``w[k-1-a, k-1-b]``.
    """

    output_cell: Cell
    footprint: tuple[Cell, ...]


def conv_geometry(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                  dilation: int = 1, transposed: bool = False,
                  output_padding: int = 0) -> ConvGeometry:
    """The drawn grid and output size of a square (transposed) convolution.

    Raises ``ValueError`` for combinations PyTorch rejects, for ``output_padding`` on a
    direct convolution, and for a transposed convolution with
    ``padding > dilation*(kernel_size-1)`` (its equivalent convolution would need negative
    padding, which cannot be drawn).
    """
    if not isinstance(transposed, bool):
        fail("transposed", transposed, "must be a bool", TypeError)
    size = _check_int("size", size)
    k = _check_int("kernel_size", kernel_size)
    s = _check_int("stride", stride)
    p = _check_int("padding", padding, minimum=0)
    d = _check_int("dilation", dilation)
    op = _check_int("output_padding", output_padding, minimum=0)
    if not transposed:
        if op:
            fail("output_padding", op, "must be 0 for a convolution (only meaningful with "
                 "transposed=True)")
        out = conv_output_size(size, k, s, p, d)
        _check_drawable(size, size + 2 * p)
        return ConvGeometry(size, k, s, p, d, False, 0, size + 2 * p, s, out)
    out = conv_transpose_output_size(size, k, s, p, op, d)
    k_eff = effective_kernel_size(k, d)
    if p > k_eff - 1:
        fail("padding", p, f"must be between 0 and {k_eff - 1} to draw: the equivalent "
                           "convolution pads by dilation*(kernel_size-1) - padding")
    grid = (size - 1) * s + 1 + 2 * (k_eff - 1 - p) + op
    # The equivalent stride-1 convolution over the grid must give the transposed size.
    assert conv_output_size(grid, k, 1, 0, d) == out
    _check_drawable(size, grid)
    return ConvGeometry(size, k, s, p, d, True, op, grid, 1, out)


def _check_drawable(size: int, grid: int) -> None:
    if grid > MAX_DRAW_SIZE:
        fail("size", size, f"draws a {grid}x{grid} grid, at most {MAX_DRAW_SIZE}x"
                           f"{MAX_DRAW_SIZE} is drawn: use a smaller size or padding")


def conv_frames(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                dilation: int = 1, transposed: bool = False,
                output_padding: int = 0) -> list[ConvFrame]:
    """Every kernel position, in row-major order of the output pixels it produces.

    ``len(result) == output_size**2``; frame ``oh*output_size + ow`` produces output pixel
    ``(oh, ow)`` and its footprint is the window in column ``oh*W' + ow`` of ``F.unfold``.
    Arguments as :func:`conv_geometry`.
    """
    g = conv_geometry(size, kernel_size, stride, padding, dilation, transposed, output_padding)
    taps = [(a * g.dilation, b * g.dilation)
            for a in range(g.kernel_size) for b in range(g.kernel_size)]
    frames = []
    for oh in range(g.output_size):
        for ow in range(g.output_size):
            top, left = oh * g.grid_stride, ow * g.grid_stride
            frames.append(ConvFrame((oh, ow), tuple((top + a, left + b) for a, b in taps)))
    return frames


# ---------------------------------------------------------------------------------- drawing


def _title(g: ConvGeometry) -> str:
    args = f"i={g.size}, k={g.kernel_size}"
    args += f", s={g.stride}" if g.stride != 1 else ""
    args += f", p={g.padding}" if g.padding else ""
    args += f", d={g.dilation}" if g.dilation != 1 else ""
    args += f", op={g.output_padding}" if g.output_padding else ""
    kind = "transposed conv" if g.transposed else "conv"
    return f"{kind}: {args} -> o={g.output_size}"


class _Drawing:
    """The patches of one figure, recoloured frame by frame."""

    def __init__(self, fig: Figure, g: ConvGeometry) -> None:
        self.g = g
        ax_in, ax_out = fig.subplots(1, 2, width_ratios=[g.grid_size, max(g.output_size, 2)])
        self.inputs = {}
        for r in range(g.grid_size):
            for c in range(g.grid_size):
                facecolor, linestyle = _CELL_STYLE[g.cell_kind(r, c)]
                self.inputs[r, c] = self._cell(ax_in, r, c, facecolor, linestyle)
        self.base = {cell: patch.get_facecolor() for cell, patch in self.inputs.items()}
        self.outputs = {(r, c): self._cell(ax_out, r, c, facecolor=OUTPUT_CYAN, linestyle="-")
                        for r in range(g.output_size) for c in range(g.output_size)}
        self.span = Rectangle((0, 0), 1, 1, fill=False, edgecolor=KERNEL_BLUE, linewidth=3)
        ax_in.add_patch(self.span)
        zeros_inside = g.transposed and g.stride > 1
        for ax, n, label in ((ax_in, g.grid_size, "input (zero-inserted)" if zeros_inside
                              else "input"),
                             (ax_out, g.output_size, "output")):
            ax.set_xlim(-0.1, max(n, 2) + 0.1)
            ax.set_ylim(max(n, 2) + 0.1, -0.1)
            ax.set_aspect("equal")
            ax.axis("off")
            ax.set_title(label, fontsize=LABEL_PT)
        fig.suptitle(_title(g), fontsize=TITLE_PT)
        width, height = fig.get_size_inches()
        fig.subplots_adjust(left=_SIDE_IN / width, right=1 - _SIDE_IN / width,
                            bottom=_BOTTOM_IN / height, top=1 - _TOP_IN / height,
                            wspace=0.15)
        self.current: ConvFrame | None = None

    @staticmethod
    def _cell(ax: Axes, r: int, c: int, facecolor: str, linestyle: str) -> Rectangle:
        patch = Rectangle((c, r), 1, 1, facecolor=facecolor, edgecolor=EDGE, linewidth=1.2,
                          linestyle=linestyle)
        ax.add_patch(patch)
        return patch

    def show(self, frame: ConvFrame) -> None:
        if self.current is not None:
            for cell in self.current.footprint:
                self.inputs[cell].set_facecolor(self.base[cell])
            self.outputs[self.current.output_cell].set_facecolor(OUTPUT_CYAN)
        for cell in frame.footprint:
            on_input = self.g.input_index(*cell) is not None
            self.inputs[cell].set_facecolor(KERNEL_BLUE if on_input else KERNEL_ZERO)
        self.outputs[frame.output_cell].set_facecolor(CURRENT_CYAN)
        (top, left), (bottom, right) = frame.footprint[0], frame.footprint[-1]
        self.span.set_bounds(left, top, right - left + 1, bottom - top + 1)
        self.current = frame


# Sizes in inches and points. At GIF_DPI a cell is 50 px and the labels are 19-22 px tall,
# so a 12-cell animation is about 700 px wide: the width of a book page's text column,
# readable without zooming.
CELL_IN = 0.5
GIF_DPI = 100
TITLE_PT = 16
LABEL_PT = 14
_TOP_IN, _BOTTOM_IN, _SIDE_IN = 1.0, 0.1, 0.3


def _figsize(g: ConvGeometry) -> tuple[float, float]:
    cells = g.grid_size + max(g.output_size, 2)
    grid_width = CELL_IN * (cells + 0.6) + 2 * _SIDE_IN
    title_width = 0.0085 * TITLE_PT * len(_title(g)) + 2 * _SIDE_IN  # ~0.55 em per char
    side = CELL_IN * max(g.grid_size, g.output_size, 2)
    return max(grid_width, title_width), side + _TOP_IN + _BOTTOM_IN


def plot_conv_arithmetic(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                         dilation: int = 1, transposed: bool = False, output_padding: int = 0,
                         frame: int = 0) -> Figure:
    """One frame (the first kernel position by default) as a static figure, for print.

    Input grid on the left (padding dashed, zeros inserted by a transposed stride dotted),
    output grid on the right; the title gives the arithmetic. Arguments as
    :func:`conv_geometry`; ``frame`` indexes :func:`conv_frames`.
    """
    g = conv_geometry(size, kernel_size, stride, padding, dilation, transposed, output_padding)
    frames = conv_frames(size, kernel_size, stride, padding, dilation, transposed,
                         output_padding)
    if isinstance(frame, bool) or not isinstance(frame, int):
        fail("frame", frame, f"must be an int (got {type(frame).__name__})", TypeError)
    if not 0 <= frame < len(frames):
        fail("frame", frame, f"must be between 0 and {len(frames) - 1} (one frame per output "
                             "pixel)")
    fig = plt.figure(figsize=_figsize(g))
    _Drawing(fig, g).show(frames[frame])
    return fig


def save_conv_animation(path: str | os.PathLike, size: int, kernel_size: int, stride: int = 1,
                        padding: int = 0, dilation: int = 1, transposed: bool = False,
                        output_padding: int = 0, fps: int = 2) -> Path:
    """Render every kernel position as a looping GIF at ``path``; returns the path.

    One frame per output pixel (keep sizes small: ``output_size**2`` frames at
    ``GIF_DPI``; a cell is ``CELL_IN`` inches, so a 12-cell figure is about 700 px wide).
    The file is written to a temporary name in the same folder and moved into place, so a
    reader never sees half a GIF; the same arguments give the same bytes.
    Arguments as :func:`conv_geometry`.
    """
    path = Path(path)
    if path.suffix.lower() != ".gif":
        fail("path", str(path), "must end in .gif")
    fps = _check_int("fps", fps)
    g = conv_geometry(size, kernel_size, stride, padding, dilation, transposed, output_padding)
    if g.output_size ** 2 > MAX_FRAMES:
        fail("size", size, f"gives {g.output_size}x{g.output_size} = {g.output_size ** 2} "
                           f"frames, at most {MAX_FRAMES} are rendered (one per output pixel): "
                           "use a smaller size")
    frames = conv_frames(size, kernel_size, stride, padding, dilation, transposed,
                         output_padding)
    fig = Figure(figsize=_figsize(g), dpi=GIF_DPI)
    canvas = FigureCanvasAgg(fig)  # no pyplot: nothing is shown and nothing leaks
    drawing = _Drawing(fig, g)
    images = []
    for frame in frames:
        drawing.show(frame)
        canvas.draw()
        rgb = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
        # A few flat colours plus antialiased edges: a fast octree palette, no dithering
        # (several times faster than matplotlib's PillowWriter, and smaller files).
        images.append(rgb.convert("RGB").quantize(
            colors=64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE))

    def write(tmp: Path) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=1000 // fps, loop=0)

    atomic_write(path, write)
    return path

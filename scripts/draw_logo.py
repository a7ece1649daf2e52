"""Draw the book's logo and favicon: a handwritten-style "5" on a pixel grid, read by a 3x3 kernel.

The digit is LeNet-5's number, drawn the way the network sees a digit (a grid of pixels), and
the highlighted window is a convolution kernel sliding over it. One list of squares makes
three files in book/_static/:

* ``favicon.svg`` (32x32 grid, the browser tab icon);
* ``logo.svg`` (the same motif beside a stack of three feature maps, the sidebar logo);
* ``logo.png`` (256x256 raster of the favicon motif, for link previews: og:image).

Usage: python scripts/draw_logo.py [--out DIR]   (re-running gives identical files)
"""

from __future__ import annotations

import argparse
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "book" / "_static"
BACKGROUND, INK, PAPER, KERNEL, MAP = "#1f4e79", "#ffffff", "#2e6aa3", "#ffd966", "#9cc3e6"
#: The digit on a 7x7 grid (1 = ink).
DIGIT = ["1111110",
         "1100000",
         "1111100",
         "0000110",
         "0000110",
         "1100110",
         "0111100"]
KERNEL_AT = (2, 3)   # top-left (row, column) of the 3x3 kernel window


def squares(x0: float, y0: float, cell: float, gap: float) -> list[tuple[float, float, float, str]]:
    """(x, y, size, colour) of every pixel of the digit grid, top-left at (x0, y0)."""
    out = []
    for r, row in enumerate(DIGIT):
        for c, bit in enumerate(row):
            out.append((x0 + c * cell + gap / 2, y0 + r * cell + gap / 2, cell - gap,
                        INK if bit == "1" else PAPER))
    return out


def _svg(width: float, height: float, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" '
            f'width="{width:g}" height="{height:g}">\n'
            "  <!-- drawn by scripts/draw_logo.py: a pixel '5' read by a 3x3 kernel -->\n"
            + "".join(f"  {line}\n" for line in body) + "</svg>\n")


def _digit_body(x0: float, y0: float, cell: float, gap: float) -> list[str]:
    body = [f'<rect x="{x:g}" y="{y:g}" width="{s:g}" height="{s:g}" fill="{colour}"/>'
            for x, y, s, colour in squares(x0, y0, cell, gap)]
    r, c = KERNEL_AT
    body.append(f'<rect x="{x0 + c * cell:g}" y="{y0 + r * cell:g}" width="{3 * cell:g}" '
                f'height="{3 * cell:g}" fill="none" stroke="{KERNEL}" '
                f'stroke-width="{cell / 3:g}"/>')
    return body


def favicon_svg() -> str:
    body = [f'<rect width="32" height="32" rx="6" fill="{BACKGROUND}"/>']
    return _svg(32, 32, body + _digit_body(2.5, 2.5, 3.857, 0.5))


def logo_svg() -> str:
    body = [f'<rect width="96" height="48" rx="8" fill="{BACKGROUND}"/>']
    body += _digit_body(5, 5, 38 / 7, 0.7)
    # three feature maps, stacked, that the kernel's window feeds
    for i in range(3):
        x, y = 56 + 6 * i, 8 + 5 * i
        body.append(f'<rect x="{x}" y="{y}" width="22" height="22" rx="2" fill="{MAP}" '
                    f'stroke="{BACKGROUND}" stroke-width="1.5"/>')
    body.append(f'<path d="M 43 24 L 54 24" stroke="{KERNEL}" stroke-width="2.5" '
                f'stroke-linecap="round"/>')
    return _svg(96, 48, body)


def logo_png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch, Rectangle

    fig = plt.figure(figsize=(2.56, 2.56), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 32)
    ax.set_ylim(32, 0)
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((0, 0), 32, 32, boxstyle="round,pad=0,rounding_size=6",
                                color=BACKGROUND))
    cell = 3.857
    for x, y, s, colour in squares(2.5, 2.5, cell, 0.5):
        ax.add_patch(Rectangle((x, y), s, s, color=colour))
    r, c = KERNEL_AT
    ax.add_patch(Rectangle((2.5 + c * cell, 2.5 + r * cell), 3 * cell, 3 * cell, fill=False,
                           edgecolor=KERNEL, linewidth=cell / 3 * 8))
    fig.savefig(path, transparent=True, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STATIC)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "favicon.svg").write_text(favicon_svg(), encoding="utf-8")
    (args.out / "logo.svg").write_text(logo_svg(), encoding="utf-8")
    logo_png(args.out / "logo.png")
    print(f"wrote favicon.svg, logo.svg, logo.png to {args.out}")


if __name__ == "__main__":
    main()

"""From a fully connected layer to a convolution: locality, then translation invariance.

A fully connected layer from a ``(H, W)`` image to a ``(H, W)`` map is a 4-index weight
tensor ``weight[i, j, k, l]``: the weight with which input pixel ``(k, l)`` reaches output
pixel ``(i, j)``, ``y[i, j] = sum_{k, l} weight[i, j, k, l] * x[k, l]``. Two assumptions
about images turn it into a convolution (Goodfellow et al. 2016, ch. 9; d2l ch. 7.1):

* **locality** -- output ``(i, j)`` only reads inputs within ``radius`` of ``(i, j)``:
  :func:`locality_mask` zeroes every other weight;
* **translation invariance** -- the weight depends only on the offset ``(k - i, l - j)``,
  not on where the output is: :func:`to_offsets` re-indexes the weights by offset
  (d2l's ``V[i, j, a, b]``), :func:`share_offsets` replaces each offset's weights by their
  mean over positions (the least-squares choice) and :func:`from_kernel` builds the
  tensor back from the shared ``(2r+1, 2r+1)`` kernel.

The result is ``F.conv2d(x, kernel, padding=radius)``: a cross-correlation with zero
"same" padding. :func:`plot_weight_stages` draws the weights one output pixel uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = ["from_kernel", "locality_mask", "plot_weight_stages", "share_offsets",
           "to_offsets"]


def _check_size(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} has type {type(value).__name__}; it must be an int")
    if value < minimum:
        raise ValueError(f"{name}={value} must be an int >= {minimum}")
    return int(value)


def _check_weight(weight: object) -> np.ndarray:
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4 or w.shape[:2] != w.shape[2:]:
        raise ValueError(f"weight must have shape (H, W, H, W) (output pixel, input pixel), "
                         f"got {w.shape}")
    return w


def _offset_grid(h: int, w: int, radius: int):
    """Index arrays ``(H, W, 2r+1, 2r+1)``: input row/col for output (i, j) and offset (a, b),
    and whether that input pixel lies inside the image."""
    i, j, a, b = np.ix_(np.arange(h), np.arange(w), np.arange(-radius, radius + 1),
                        np.arange(-radius, radius + 1))
    k, l_ = np.broadcast_arrays(i + a + 0 * b, j + b + 0 * a)
    inside = (k >= 0) & (k < h) & (l_ >= 0) & (l_ < w)
    return np.clip(k, 0, h - 1), np.clip(l_, 0, w - 1), inside


def locality_mask(height: int, width: int, radius: int) -> np.ndarray:
    """``(H, W, H, W)`` bool: True where input ``(k, l)`` is within ``radius`` of output
    ``(i, j)`` in both directions, ``|k - i| <= radius`` and ``|l - j| <= radius``."""
    h = _check_size("height", height, 1)
    w = _check_size("width", width, 1)
    r = _check_size("radius", radius, 0)
    near_h = np.abs(np.arange(h)[:, None] - np.arange(h)[None, :]) <= r   # (i, k)
    near_w = np.abs(np.arange(w)[:, None] - np.arange(w)[None, :]) <= r   # (j, l)
    return near_h[:, None, :, None] & near_w[None, :, None, :]


def to_offsets(weight: np.ndarray, radius: int) -> np.ndarray:
    """Re-index a local weight tensor by offset: ``(H, W, H, W) -> (H, W, 2r+1, 2r+1)``.

    ``V[i, j, a, b] = weight[i, j, i + a - r, j + b - r]``; NaN where that input pixel lies
    outside the image (it would read zero padding). Raises ``ValueError`` if ``weight`` has
    a nonzero entry farther than ``radius`` from its output pixel (it is not local).
    """
    w = _check_weight(weight)
    r = _check_size("radius", radius, 0)
    h, wd = w.shape[:2]
    if np.any(w[~locality_mask(h, wd, r)] != 0):
        raise ValueError(f"weight has nonzero entries farther than radius={r} from their "
                         f"output pixel; multiply it by locality_mask first")
    k, l_, inside = _offset_grid(h, wd, r)
    i, j = np.ix_(np.arange(h), np.arange(wd))
    v = w[i[..., None, None], j[..., None, None], k, l_]
    return np.where(inside, v, np.nan)


def share_offsets(offsets: np.ndarray) -> np.ndarray:
    """Impose translation invariance: ``(H, W, 2r+1, 2r+1) -> (2r+1, 2r+1)``, each offset's
    weight averaged over the output pixels where it reads the image (NaN entries skipped;
    an offset that never reads the image, possible when ``2r+1`` exceeds the image, gets 0)."""
    v = np.asarray(offsets, dtype=np.float64)
    if v.ndim != 4 or v.shape[2] != v.shape[3] or v.shape[2] % 2 == 0:
        raise ValueError(f"offsets must have shape (H, W, 2r+1, 2r+1), got {v.shape}")
    seen = (~np.isnan(v)).sum(axis=(0, 1))
    return np.nansum(v, axis=(0, 1)) / np.maximum(seen, 1)


def from_kernel(kernel: np.ndarray, height: int, width: int) -> np.ndarray:
    """The fully connected weight tensor ``(H, W, H, W)`` of a "same" cross-correlation with
    an odd square ``kernel (2r+1, 2r+1)``: ``weight[i, j, i + a - r, j + b - r] = kernel[a, b]``
    wherever that input pixel exists, 0 elsewhere."""
    kern = np.asarray(kernel, dtype=np.float64)
    if kern.ndim != 2 or kern.shape[0] != kern.shape[1] or kern.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be square with an odd side (2r+1, 2r+1), got "
                         f"{kern.shape}")
    h = _check_size("height", height, 1)
    w = _check_size("width", width, 1)
    r = kern.shape[0] // 2
    k, l_, inside = _offset_grid(h, w, r)
    out = np.zeros((h, w, h, w))
    i, j = np.ix_(np.arange(h), np.arange(w))
    ii, jj = np.broadcast_arrays(i[..., None, None], j[..., None, None], k)[:2]
    kk = np.broadcast_to(kern, k.shape)
    out[ii[inside], jj[inside], k[inside], l_[inside]] = kk[inside]
    return out


def plot_weight_stages(stages: Sequence[np.ndarray], titles: Sequence[str],
                       pixels: Sequence[tuple[int, int]]) -> Figure:
    """The input weights of a few output pixels at each stage, as ``(H, W)`` images.

    One column per stage (a ``(H, W, H, W)`` tensor), one row per output pixel (outlined in
    black). Red is positive, blue negative, white zero; each column has one symmetric colour
    scale, shared by its rows, with a colour bar.
    """
    if len(stages) != len(titles):
        raise ValueError(f"titles must have one entry per stage ({len(stages)}), got "
                         f"{len(titles)}")
    tensors = [_check_weight(s) for s in stages]
    fig, axes = plt.subplots(len(pixels), len(tensors), squeeze=False,
                             figsize=(2.6 * len(tensors) + 0.6, 2.3 * len(pixels)),
                             layout="constrained")
    for col, (w, title) in enumerate(zip(tensors, titles)):
        vmax = float(np.abs(w).max()) or 1.0
        for row, (i, j) in enumerate(pixels):
            ax = axes[row, col]
            im = ax.imshow(w[i, j], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=1.5))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=10)
            if col == 0:
                ax.set_ylabel(f"output ({i}, {j})")
        fig.colorbar(im, ax=axes[:, col], shrink=0.8)
    return fig

"""Translation equivariance and invariance, measured.

A map ``f`` is *equivariant* to a shift ``g`` when ``f(g(x)) == g(f(x))`` and *invariant*
when ``f(g(x)) == f(x)``. These helpers shift image batches by whole pixels (filling, never
wrapping), measure both errors, and record how a classifier's accuracy and confidence fall
as its input is shifted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_images, check_int, check_labels, check_module
from .augment import random_shift  # noqa: F401 -- moved to lenet.augment; old import path

Fn = Callable[[torch.Tensor], torch.Tensor]


def shift_images(images: torch.Tensor, dx: int, dy: int, fill: float = 0.0) -> torch.Tensor:
    """Translate every image by ``dx`` pixels right and ``dy`` pixels down.

    Pixels that leave the frame are dropped and the vacated ones are set to ``fill`` (no
    wrap-around). Shape: ``(N, C, H, W) -> (N, C, H, W)``; ``|dx| < W`` and ``|dy| < H``.
    """
    images = check_images("images", images)
    h, w = images.shape[-2:]
    dx, dy = check_int("dx", dx, None), check_int("dy", dy, None)
    if not -w < dx < w:
        raise ValueError(f"dx must be in ({-w}, {w}) for images {w} pixels wide, got {dx}")
    if not -h < dy < h:
        raise ValueError(f"dy must be in ({-h}, {h}) for images {h} pixels high, got {dy}")
    if not isinstance(fill, (int, float)) or isinstance(fill, bool):
        raise TypeError(f"fill must be a float, got {type(fill).__name__}")
    out = torch.full_like(images, float(fill))
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


@dataclass(frozen=True)
class Error:
    """Largest and mean absolute difference between two tensors (Python floats)."""

    max: float
    mean: float


def _error(a: torch.Tensor, b: torch.Tensor) -> Error:
    diff = (a - b).abs()
    return Error(float(diff.max()), float(diff.mean()))


@torch.no_grad()
def equivariance_error(layer_fn: Fn, images: torch.Tensor, shift: tuple[int, int],
                       crop: int | None = None, scale: int = 1,
                       out_shift: tuple[int, int] | None = None) -> Error:
    """How far ``f(shift(x))`` is from ``shift(f(x))``, away from the borders.

    Args:
        layer_fn: ``(N, C, H, W) -> (N, C', H', W')``, a map-to-map function.
        images: ``(N, C, H, W)``.
        shift: ``(dx, dy)`` in input pixels.
        crop: border width, in output pixels, left out of the comparison on every side.
            Near a border the two sides differ for a reason that is not the layer's fault:
            shifting the input pushes pixels out of the frame and fills zeros in, so every
            output whose receptive field touches the border or the vacated strip sees
            different data. Choose ``crop = ceil(receptive field / scale) + |shift|``; by
            default ``max(H', W') // 4 + max(|dx|, |dy|) // scale``.
        scale: how much the layer shrinks the map (its total stride, 2 after a 2x2 pool):
            the output is shifted by ``shift / scale``, which must be a whole number.
        out_shift: the ``(dx, dy)`` applied to ``f(x)`` instead of ``shift / scale``, to
            test a shift that is not a multiple of ``scale`` against a candidate.
    """
    images = check_images("images", images, nonempty=True)
    dx, dy = shift
    scale = check_int("scale", scale)
    if out_shift is None:
        if dx % scale or dy % scale:
            raise ValueError(f"shift {shift} must be a multiple of scale={scale} so the "
                             f"output shift is a whole number of pixels (or pass out_shift)")
        out_shift = (dx // scale, dy // scale)
    shifted_out = layer_fn(shift_images(images, dx, dy))
    out = layer_fn(images)
    out_shifted = shift_images(out, *out_shift)
    h, w = out.shape[-2:]
    if crop is None:
        crop = max(h, w) // 4 + max(abs(dx), abs(dy)) // scale
    crop = check_int("crop", crop, 0)
    if 2 * crop >= min(h, w):
        raise ValueError(f"crop={crop} leaves nothing of a {h}x{w} output; use crop < "
                         f"{(min(h, w) + 1) // 2}")
    inner = (..., slice(crop, h - crop), slice(crop, w - crop))
    return _error(shifted_out[inner], out_shifted[inner])


@torch.no_grad()
def invariance_error(fn: Fn, images: torch.Tensor, shift: tuple[int, int]) -> Error:
    """How far ``f(shift(x))`` is from ``f(x)``: ``images (N, C, H, W)``, any output shape."""
    images = check_images("images", images, nonempty=True)
    dx, dy = shift
    return _error(fn(shift_images(images, dx, dy)), fn(images))


@torch.no_grad()
def feature_similarity(fn: Fn, images: torch.Tensor, shift: tuple[int, int]) -> float:
    """Mean cosine similarity between ``f(shift(x))`` and ``f(x)``, each flattened per image.

    1.0 means the shift left the features unchanged (invariance); ``images (N, C, H, W)``,
    ``fn`` any ``(N, ...) -> (N, ...)`` map.
    """
    images = check_images("images", images, nonempty=True)
    dx, dy = shift
    a, b = fn(shift_images(images, dx, dy)).flatten(1), fn(images).flatten(1)
    return float(F.cosine_similarity(a, b, dim=1, eps=1e-12).mean())


@dataclass
class ShiftCurve:
    """Accuracy and confidence of a classifier at each shift (lists of Python floats).

    ``confidence_true`` is the mean softmax probability of the true class;
    ``confidence_pred`` the mean probability of the predicted class.
    """

    shifts: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    confidence_true: list[float] = field(default_factory=list)
    confidence_pred: list[float] = field(default_factory=list)


@torch.no_grad()
def shift_robustness(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     max_shift: int, transform: Fn | None = None,
                     direction: str = "x") -> ShiftCurve:
    """Accuracy and confidence of ``model`` for shifts ``0..max_shift``.

    Args:
        model: ``(N, C, H, W) -> (N, classes)`` scores; evaluated in eval mode.
        images: ``(N, C, H, W)``; labels: ``(N,)`` class indices.
        max_shift: the largest shift in pixels (>= 0, < image size).
        transform: applied after shifting, before the model (e.g. padding to 32x32).
        direction: ``"x"`` (right), ``"y"`` (down) or ``"xy"`` (diagonal, both by ``s``).
    """
    check_module("model", model)
    images = check_images("images", images, nonempty=True)
    labels = check_labels("labels", labels, len(images))
    max_shift = check_int("max_shift", max_shift, 0)
    if direction not in ("x", "y", "xy"):
        raise ValueError(f"direction must be 'x', 'y' or 'xy', got {direction!r}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    curve = ShiftCurve()
    for s in range(max_shift + 1):
        x = shift_images(images, s if "x" in direction else 0, s if "y" in direction else 0)
        x = x.to(device)
        probs = F.softmax(model(transform(x) if transform else x), dim=1).cpu()
        top, pred = probs.max(1)
        curve.shifts.append(s)
        curve.accuracy.append(float((pred == labels).float().mean()))
        curve.confidence_true.append(float(probs[torch.arange(len(labels)), labels].mean()))
        curve.confidence_pred.append(float(top.mean()))
    model.train(was_training)
    return curve

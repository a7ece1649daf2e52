"""How similar features stay when the input moves by a pixel, image by image.

:func:`lenet.invariance.feature_similarity` gives one mean over a batch and one shift.
To say whether one operation (max pooling, say) keeps features more stable than another,
a mean is not enough: :func:`shift_similarities` returns the cosine similarity between
``f(shift(x))`` and ``f(x)`` for every image and every shift, so a chapter can show the
spread and compare two operations image by image on the same shifts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .invariance import shift_images
from .layers import check_images, check_int

Fn = Callable[[torch.Tensor], torch.Tensor]

#: The eight one-pixel moves ``(dx, dy)``: right, down-right, down, down-left, left,
#: up-left, up, up-right (``dx`` to the right, ``dy`` down, as in ``shift_images``).
NEIGHBOUR_SHIFTS: tuple[tuple[int, int], ...] = (
    (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))


@torch.no_grad()
def shift_similarities(fn: Fn, images: torch.Tensor,
                       shifts: Sequence[tuple[int, int]] = NEIGHBOUR_SHIFTS
                       ) -> torch.Tensor:
    """Cosine similarity of ``fn(shift(x))`` with ``fn(x)``, per shift and per image.

    Args:
        fn: any ``(N, C, H, W) -> (N, ...)`` map, e.g. convolution then pooling.
        images: ``(N, C, H, W)``; each is shifted with ``shift_images`` (zero fill).
        shifts: ``S`` pairs ``(dx, dy)`` of whole pixels, ``dx`` right, ``dy`` down.

    Returns:
        ``(S, N)``: entry ``[s, n]`` is the cosine of the angle between the flattened
        features of image ``n`` shifted by ``shifts[s]`` and of image ``n`` unshifted.
        1 means unchanged (invariant); a feature vector of zeros gives 0.
    """
    images = check_images("images", images)
    if isinstance(shifts, (str, bytes)) or not isinstance(shifts, Sequence) \
            or len(shifts) == 0:
        raise ValueError(f"shifts must be a non-empty sequence of (dx, dy) pairs, "
                         f"got {shifts!r}")
    pairs = []
    for shift in shifts:
        if not isinstance(shift, (tuple, list)) or len(shift) != 2:
            raise ValueError(f"shifts must hold (dx, dy) pairs, got {shift!r}")
        pairs.append((check_int("dx", shift[0], None),
                      check_int("dy", shift[1], None)))
    base = fn(images).flatten(1)
    rows = [F.cosine_similarity(fn(shift_images(images, dx, dy)).flatten(1), base,
                                dim=1, eps=1e-12)
            for dx, dy in pairs]
    return torch.stack(rows)

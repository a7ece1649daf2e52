"""Random augmentations of a batch, with one protocol: call it on ``(N, C, H, W)`` images,
get ``(N, C, H, W)`` back; ``state()`` returns its random generator's state and
``set_state(state)`` continues from one, so :func:`lenet.train.fit` checkpoints it and a
resumed run draws the same distortions as an uninterrupted one.

* :class:`RandomAffine` -- the 1998 paper's planar affine distortions (translation,
  scaling, squeezing, shearing).
* :class:`RandomShift` (:func:`random_shift`) -- whole-pixel translations, for chapter 5's
  invariance experiments.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_images, check_int, check_number, fail

__all__ = ["RandomAffine", "RandomShift", "random_shift"]


def _fraction(name: str, value: object) -> float:
    value = check_number(name, value, minimum=0.0)
    if value >= 1:
        fail(name, value, "must be in [0, 1)")
    return value


class RandomAffine:
    """Random planar affine distortions of a batch, computed on the batch's device.

    Each image gets its own transform: a translation of up to ``translate`` pixels, a
    scaling by ``1 +- scale``, a squeeze (x and y scaled in opposite directions) by
    ``1 +- squeeze`` and a shear of up to ``shear`` (x shifted by ``shear * y``). Pixels
    that come from outside the image are background (0). With ``p < 1`` each image is
    distorted with probability ``p`` and otherwise passed through unchanged, so a pass over
    the data mixes originals and distortions as the paper's training set did. The random
    numbers come from a CPU generator seeded with ``seed``, so the distortions are the same
    on every device; :meth:`state` / :meth:`set_state` save and restore it.

    Shape: ``(N, C, H, W)`` -> ``(N, C, H, W)``.
    """

    def __init__(self, translate: float = 2.0, scale: float = 0.1, squeeze: float = 0.1,
                 shear: float = 0.15, seed: int = 0, p: float = 1.0) -> None:
        self.translate = check_number("translate", translate, minimum=0.0)
        self.scale = _fraction("scale", scale)
        self.squeeze = _fraction("squeeze", squeeze)
        self.shear = check_number("shear", shear, minimum=0.0)
        self.p = check_number("p", p, minimum=0.0)
        if self.p > 1:
            fail("p", p, "must be a probability in [0, 1]")
        seed = check_int("seed", seed, minimum=None)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def matrices(self, n: int, height: int, width: int) -> torch.Tensor:
        """``(n, 2, 3)`` affine matrices in ``affine_grid``'s normalised coordinates."""
        u = torch.rand(n, 5, generator=self.generator) * 2 - 1  # uniform in [-1, 1)
        s = 1 + self.scale * u[:, 0]
        q = 1 + self.squeeze * u[:, 1]
        sx, sy = s * q, s / q
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = 1 / sx
        theta[:, 0, 1] = self.shear * u[:, 2]
        theta[:, 1, 1] = 1 / sy
        theta[:, 0, 2] = self.translate * u[:, 3] * 2 / width
        theta[:, 1, 2] = self.translate * u[:, 4] * 2 / height
        return theta

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        check_images("images", images)
        n, _, h, w = images.shape
        theta = self.matrices(n, h, w).to(images.device, images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)
        if self.p < 1:  # drawn only then, so p=1 keeps the random stream of earlier runs
            keep = torch.rand(n, generator=self.generator) >= self.p
            out[keep.to(images.device)] = images[keep.to(images.device)]
        return out

    def state(self) -> torch.Tensor:
        """The generator's state (to checkpoint alongside a run)."""
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        """Continue from a :meth:`state`."""
        self.generator.set_state(state)

    def __repr__(self) -> str:
        return (f"RandomAffine(translate={self.translate}, scale={self.scale}, "
                f"squeeze={self.squeeze}, shear={self.shear}"
                + (f", p={self.p:g})" if self.p < 1 else ")"))


class RandomShift:
    """Shift each image of a batch by its own random ``(dx, dy)``, uniform integers in
    ``[-max_shift, max_shift]``; pixels shifted in from outside are ``fill``.

    The draws come from ``generator`` (a fresh CPU one seeded 0 if None), so a run is
    reproducible from its seed. Shape: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, max_shift: int, generator: torch.Generator | None = None,
                 fill: float = 0.0) -> None:
        self.max_shift = check_int("max_shift", max_shift, 0)
        self.fill = check_number("fill", fill)
        if generator is not None and not isinstance(generator, torch.Generator):
            fail("generator", generator, "must be a torch.Generator or None", TypeError)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = check_images("images", images)
        if self.max_shift == 0:
            return images
        n, _, h, w = images.shape
        if self.max_shift >= min(h, w):
            fail("max_shift", self.max_shift, f"must be < {min(h, w)} for {h}x{w} images")
        gen, m = self.generator, self.max_shift
        d = torch.randint(-m, m + 1, (n, 2), generator=gen, device=gen.device).to(images.device)
        # translating by (dx, dy) = sampling pixel (i - dy, j - dx); out of frame -> fill
        rows = torch.arange(h, device=images.device)[None, :] - d[:, 1:2]   # (N, H)
        cols = torch.arange(w, device=images.device)[None, :] - d[:, 0:1]   # (N, W)
        valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        r = rows.clamp(0, h - 1)[:, None, :, None].expand(n, images.shape[1], h, w)
        c = cols.clamp(0, w - 1)[:, None, None, :].expand(n, images.shape[1], h, w)
        picked = images.gather(2, r).gather(3, c)
        return torch.where(valid[:, None], picked, torch.full_like(picked, self.fill))

    def state(self) -> torch.Tensor:
        """The generator's state (to checkpoint alongside a run)."""
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        """Continue from a :meth:`state`."""
        self.generator.set_state(state)

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift}, fill={self.fill:g})"


def random_shift(max_shift: int, generator: torch.Generator | None = None,
                 fill: float = 0.0) -> RandomShift:
    """A :class:`RandomShift` augment (the function form chapter 5 uses)."""
    return RandomShift(max_shift, generator, fill)

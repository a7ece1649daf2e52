"""The package's argument validators, in one place and with one message format:

    ``name=value: what is allowed``

They are called at the public boundary (public functions, constructors, the CLI), never
inside a building block's ``forward`` or an inner helper, where ``assert`` states the
invariants instead. ``TypeError`` means the wrong kind of object, ``ValueError`` the right
kind with a value out of range. Importing this module does not import torch, so
:mod:`lenet.arithmetic` stays usable with plain ints.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

#: The largest spatial size (pixels along one axis) the drawing and animation helpers accept:
#: their cost grows with the square (figures) or the fourth power (animations) of it.
MAX_DRAW_SIZE = 64
#: The most frames :func:`lenet.animate.save_conv_animation` renders (one per output pixel).
MAX_FRAMES = 400


def show(value: object) -> str:
    """A short repr of ``value`` for a message: tensors and arrays by type, shape and dtype."""
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (int, float)):
        return f"{type(value).__name__}(shape={tuple(shape)}, dtype={getattr(value, 'dtype', '?')})"
    text = repr(value)  # strings and paths in full: a message names the file
    return text if len(text) <= 80 or isinstance(value, (str, os.PathLike)) else text[:77] + "..."


def fail(name: str, value: object, allowed: str, error: type[Exception] = ValueError) -> NoReturn:
    """Raise ``error("name=value: allowed")``."""
    raise error(f"{name}={show(value)}: {allowed}")


def check_int(name: str, value: object, minimum: int | None = 1,
              maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]`` (bools refused); else TypeError/ValueError."""
    low = "" if minimum is None else f" >= {minimum}"
    high = "" if maximum is None else f" <= {maximum}"
    wanted = f"must be an int{low}{' and' if low and high else ''}{high}"
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        fail(name, value, f"{wanted} (got {type(value).__name__})", TypeError)
    value = operator.index(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        fail(name, value, wanted)
    return value


def check_number(name: str, value: object, *, positive: bool = False,
                 minimum: float | None = None) -> float:
    """``value`` as a finite float (``> 0`` with ``positive``, ``>= minimum`` with one)."""
    wanted = ("must be a finite number" + (" > 0" if positive else "")
              + (f" >= {minimum}" if minimum is not None else ""))
    real = isinstance(value, (int, float)) or type(value).__module__ == "numpy"
    if isinstance(value, bool) or not real:
        fail(name, value, f"{wanted} (got {type(value).__name__})", TypeError)
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        fail(name, value, f"{wanted} (got {type(value).__name__})", TypeError)
    if not math.isfinite(value) or (positive and not value > 0) or (
            minimum is not None and value < minimum):
        fail(name, value, wanted)
    return value


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        fail(name, value, "must be True or False", TypeError)
    return value


def check_choice(name: str, value: object, allowed: Sequence[str]) -> str:
    """``value`` if it is one of the strings ``allowed``."""
    if not isinstance(value, str):
        fail(name, value, f"must be a str, one of {list(allowed)} (got {type(value).__name__})",
             TypeError)
    if value not in allowed:
        fail(name, value, f"must be one of {list(allowed)}")
    return value


def check_tensor(name: str, value: object):
    """``value`` if it is a ``torch.Tensor`` (NumPy arrays are refused: convert explicitly
    with ``torch.from_numpy``)."""
    import torch

    if not isinstance(value, torch.Tensor):
        hint = " (convert it with torch.from_numpy)" if type(value).__module__ == "numpy" else ""
        fail(name, value, f"must be a torch.Tensor{hint}", TypeError)
    return value


def check_images(name: str, value: object, *, nonempty: bool = False):
    """``value`` if it is a batch of images, a 4-d tensor ``(N, C, H, W)`` (``N >= 1`` with
    ``nonempty``)."""
    check_tensor(name, value)
    if value.dim() != 4:
        fail(name, value, "must have shape (N, C, H, W)")
    if nonempty and len(value) == 0:
        fail(name, value, "must hold at least one image")
    return value


def check_labels(name: str, value: object, count: int, num_classes: int | None = None):
    """``value`` if it is an integer tensor of shape ``(count,)`` (with values in
    ``0..num_classes-1`` when given)."""
    check_tensor(name, value)
    if value.dtype.is_floating_point or value.dtype.is_complex or str(value.dtype) == "torch.bool":
        fail(name, value, "must hold integer class indices", TypeError)
    if tuple(value.shape) != (count,):
        fail(name, value, f"must have shape ({count},): one label per image")
    if num_classes is not None and len(value) and (
            int(value.min()) < 0 or int(value.max()) >= num_classes):
        fail(name, value, f"must hold classes in 0..{num_classes - 1}, got values in "
                          f"{int(value.min())}..{int(value.max())}")
    return value


def check_module(name: str, value: object):
    """``value`` if it is a ``torch.nn.Module``."""
    from torch import nn

    if not isinstance(value, nn.Module):
        fail(name, value, "must be a torch.nn.Module", TypeError)
    return value


def check_path(name: str, value: object) -> Path:
    """``value`` as a Path, if it is a non-empty str or os.PathLike."""
    if not isinstance(value, (str, os.PathLike)):
        fail(name, value, "must be a str or os.PathLike path", TypeError)
    if str(value) == "":
        fail(name, value, "must name a file or folder, not an empty string")
    return Path(value).expanduser()


def check_file(name: str, value: object) -> Path:
    """``value`` as a Path to an existing regular file (FileNotFoundError / IsADirectoryError
    otherwise, both naming it)."""
    path = check_path(name, value)
    if path.is_dir():
        raise IsADirectoryError(f"{name}={str(path)!r}: is a folder, must be a file")
    if not path.is_file():
        raise FileNotFoundError(f"{name}={str(path)!r}: no such file")
    return path


def check_callable(name: str, value: object, allow_none: bool = True) -> Any:
    if value is None and allow_none:
        return value
    if not callable(value):
        fail(name, value, "must be callable" + (" or None" if allow_none else ""), TypeError)
    return value

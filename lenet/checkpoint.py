"""Atomic checkpoints: model, optimizer, scheduler, RNG state and history in one file.

A checkpoint is written to a temporary file in the same folder and then renamed over the
target, so a run killed mid-write leaves the previous checkpoint intact, never half a file.
Loading uses ``torch.load(weights_only=True)``: no pickled code is executed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .layers import check_module


class CheckpointError(RuntimeError):
    """A checkpoint that is unreadable or belongs to another model."""


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as JSON (indent 1, final newline) to ``path.tmp``, then rename it into
    place: a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=1) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer=None, scheduler=None,
                    **extra: Any) -> None:
    """Save ``model`` (and optimizer/scheduler states and ``extra`` entries) atomically."""
    check_module("model", model)
    state = {"model_class": type(model).__name__, "model": model.state_dict(), **extra}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    atomic_save(state, path)


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer=None,
                    scheduler=None) -> dict[str, Any]:
    """Load a checkpoint into ``model`` (and optimizer/scheduler); return the whole dict.

    Raises:
        CheckpointError: the file is not a readable checkpoint, or was saved from another
            model class or architecture.
    """
    check_module("model", model)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- torch raises many types for a damaged file
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: "
                              f"{err}); delete it and train again.".replace("\n", " ")) from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a lenet checkpoint (no 'model' entry)")
    saved = state.get("model_class")
    if saved != type(model).__name__:
        raise CheckpointError(f"{path} holds a {saved} checkpoint; it cannot be loaded into "
                              f"{type(model).__name__}")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match this {type(model).__name__}: {err}") from None
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    return state


def save_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Save just the model's weights, atomically."""
    save_checkpoint(path, model)


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load weights saved by :func:`save_weights` or :func:`save_checkpoint` into ``model``."""
    load_checkpoint(path, model)
    return model

"""Atomic checkpoints: model, optimizer, scheduler, RNG state and history in one file.

A checkpoint is written to a temporary file in the same folder and then renamed over the
target, so a run killed mid-write leaves the previous checkpoint intact, never half a file.
Loading uses ``torch.load(weights_only=True)``: no pickled code is executed.
"""

from __future__ import annotations

import glob
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._checks import check_module, check_path

#: The layout of the checkpoints :func:`lenet.train.fit` writes; a checkpoint of another
#: version is refused with a clear error instead of being half-read.
CHECKPOINT_FORMAT = 2


class CheckpointError(RuntimeError):
    """A checkpoint that is unreadable, belongs to another model, or to a run with other
    settings."""


def _stale_temporaries(path: Path) -> list[Path]:
    """Temporary files a killed :func:`atomic_write` to ``path`` left behind: those whose
    writer (the process id in the name) no longer runs. Another live process may be writing
    the same path at this moment (two builds running one notebook): its file stays."""
    pattern = f".{glob.escape(path.stem)}.*.tmp{glob.escape(path.suffix)}"
    name = re.compile(rf"\.{re.escape(path.stem)}\.(?:(\d+)-)?\w+\.tmp{re.escape(path.suffix)}")
    stale = []
    for tmp in path.parent.glob(pattern):
        match = name.fullmatch(tmp.name)   # not another path's (".a.b.1-x.tmp.gif" for a.gif)
        if match and tmp.is_file() and not (match[1] and _running(int(match[1]))):
            stale.append(tmp)
    return stale


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True    # running, as another user
    return True


def atomic_write(path: str | os.PathLike, write_fn: Callable[[Path], None]) -> Path:
    """Write ``path`` atomically: ``write_fn(tmp)`` writes a temporary file beside it
    (``.STEM.PID-XXXX.tmp.SUFFIX``: the suffix kept, for writers that
    pick the format from it), which is flushed to disk and renamed over ``path``. A reader sees
    the old file or the new one, never half of one. On any error, Ctrl-C included, the
    temporary file is removed; one left by a killed process (SIGKILL runs no clean-up) is
    removed by the next write to the same path, unless its process still runs: two processes
    may write one path at once (the last rename wins; each file is whole). Returns ``path``
    as a Path.

    The one writer of the package: checkpoints, JSON files and GIFs all go through it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in _stale_temporaries(path):
        stale.unlink(missing_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}-",
                                suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write_fn(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj)`` to ``path`` through :func:`atomic_write`."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    atomic_write(path, write)


def atomic_save_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as JSON (indent 1, final newline) to ``path`` through
    :func:`atomic_write`: a reader sees the old file or the new one, never half of one."""
    text = json.dumps(obj, indent=1) + "\n"  # serialise first: a bad object writes nothing
    atomic_write(path, lambda tmp: tmp.write_text(text))


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


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The dict a checkpoint file holds, read with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a folder, not a file.
        CheckpointError: the file is not a readable lenet checkpoint.
    """
    path = check_path("path", path)
    if path.is_dir():
        raise IsADirectoryError(f"path={str(path)!r}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no checkpoint there")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- torch raises many types for a damaged file
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: "
                              f"{err}); delete it and train again.".replace("\n", " ")) from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a lenet checkpoint (no 'model' entry)")
    return state


def apply_checkpoint(state: dict[str, Any], model: nn.Module, optimizer=None, scheduler=None,
                     path: str | os.PathLike = "checkpoint") -> None:
    """Load the states of :func:`read_checkpoint`'s ``state`` into ``model`` (and the
    optimizer and scheduler, when given and saved)."""
    saved = state.get("model_class")
    if saved != type(model).__name__:
        raise CheckpointError(f"{path} holds a {saved} checkpoint; it cannot be loaded into "
                              f"{type(model).__name__}")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match this {type(model).__name__}: {err}") from None
    try:
        if optimizer is not None and "optimizer" in state:
            optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and "scheduler" in state:
            scheduler.load_state_dict(state["scheduler"])
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: its optimizer or schedule state does not fit this "
                              f"run's ({type(err).__name__}: {err})") from None


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer=None,
                    scheduler=None) -> dict[str, Any]:
    """Load a checkpoint into ``model`` (and optimizer/scheduler); return the whole dict.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is not a readable checkpoint, or was saved from another
            model class or architecture.
    """
    check_module("model", model)
    state = read_checkpoint(path)
    apply_checkpoint(state, model, optimizer, scheduler, path)
    return state


def check_resumable(state: dict[str, Any], settings: dict[str, Any],
                    path: str | os.PathLike) -> None:
    """Refuse to resume from ``state`` a run whose ``settings`` differ from the saved ones.

    ``settings`` are those :func:`lenet.train.fit` records (see
    ``lenet.train.RESUME_MAY_CHANGE`` for the ones that may change). The error
    names every differing setting with both values.
    """
    if "epoch" not in state:
        raise CheckpointError(f"{path} holds weights only (save_weights), not a training "
                              f"checkpoint: load it with load_weights, or train without resume")
    version = state.get("format")
    if version != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is a checkpoint of format version {version}; this lenet "
                              f"resumes version {CHECKPOINT_FORMAT}: train again without resume")
    saved = state.get("settings", {})
    constant = settings.get("schedule") == "constant" and saved.get("schedule") == "constant"
    diffs = []
    for key in sorted(set(saved) | set(settings)):
        old, new = saved.get(key), settings.get(key)
        if constant and key == "epochs":
            continue
        if constant and key == "lr" and isinstance(old, list) and isinstance(new, list):
            n = min(len(old), len(new))  # more or fewer epochs at the same rates is fine
            old, new = old[:n], new[:n]
        if old != new:
            diffs.append(f"{key}: {old!r} in the checkpoint, {new!r} now")
    if diffs:
        raise CheckpointError(f"{path} was written by a run with other settings; "
                              f"{'; '.join(diffs)}. Resume with the checkpoint's settings, or "
                              f"start again without resume.")


def save_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Save just the model's weights, atomically (no training state: it cannot be resumed)."""
    save_checkpoint(path, model)


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load weights saved by :func:`save_weights` or :func:`save_checkpoint` into ``model``."""
    load_checkpoint(path, model)
    return model

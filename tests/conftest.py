"""Shared fixtures for the tests of the ``lenet`` core.

* ``mnist_root``: the full MNIST of ``$LENET_DATA``; skips (with the reason) when unset.
* ``offline_root``: an empty data root with downloads disabled, so MNIST falls back to the
  embedded subset and Fashion-MNIST is unavailable.
* ``write_idx`` / ``fake_mnist``: tiny IDX files in torchvision's layout, built in ``tmp_path``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import lenet.data

IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file holding ``array`` (1-D labels or 3-D images)."""
    array = np.asarray(array, dtype=np.uint8)
    magic = (0x0800 | array.ndim).to_bytes(4, "big")
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic + dims + array.tobytes()


@pytest.fixture
def write_idx() -> Callable[[Path, np.ndarray], Path]:
    def write(path: Path, array: np.ndarray) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(idx_bytes(array))
        return path
    return write


@pytest.fixture
def fake_mnist(tmp_path: Path, write_idx) -> Path:
    """A data root with a tiny, valid MNIST in torchvision's layout (6 train / 4 test images).

    Image ``i`` is filled with the value ``10 * i`` and labelled ``i % 10``.
    """
    raw = tmp_path / "MNIST" / "raw"
    for split, n in (("train", 6), ("test", 4)):
        images = np.stack([np.full((28, 28), 10 * i, dtype=np.uint8) for i in range(n)])
        write_idx(raw / IDX_FILES[split][0], images)
        write_idx(raw / IDX_FILES[split][1], np.arange(n) % 10)
    return tmp_path


@pytest.fixture
def mnist_root() -> Path:
    root = os.environ.get("LENET_DATA")
    if not root:
        pytest.skip("LENET_DATA is not set: these tests need the full MNIST in torchvision's "
                    "layout (source scripts/env.sh sets it when ../shared/datasets exists)")
    if not (Path(root) / "MNIST" / "raw" / IDX_FILES["train"][0]).exists():
        pytest.skip(f"LENET_DATA has no MNIST/raw/{IDX_FILES['train'][0]}")
    return Path(root)


@pytest.fixture
def offline_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root, downloads disabled, and the one-line announcement re-armed."""
    root = tmp_path / "empty-root"
    root.mkdir()
    monkeypatch.setenv("LENET_OFFLINE", "1")
    monkeypatch.setattr(lenet.data, "_announced", False)
    return root


@pytest.fixture
def refuses() -> Callable[..., str]:
    """The bad-input check: ``fn(*args)`` raises ``error`` whose message names the argument,
    ``says[0]``. Only the type and the name are pinned, never the wording: the rest of
    ``says`` documents what the message is expected to say."""
    def check(fn: Callable[..., object], args: tuple, error: type[BaseException],
              says: tuple[str, ...]) -> str:
        with pytest.raises(error) as info:
            fn(*args)
        message = str(info.value)
        assert says[0] in message, f"message {message!r} does not name {says[0]!r}"
        return message
    return check


@pytest.fixture
def one_thread():
    """Train on one CPU thread: bitwise reproducible, and fast on a shared, busy machine."""
    import torch

    from lenet.train import pin_threads

    before = pin_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread_module():
    """:func:`one_thread` for a whole test module (``pytest.mark.usefixtures``)."""
    import torch

    from lenet.train import pin_threads

    before = pin_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests (a fresh venv, a book build) first: the test command runs two pytest-xdist
    workers, which hand out tests in order, so the slow ones then run side by side from the
    start instead of one of them ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

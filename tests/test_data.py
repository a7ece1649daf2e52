"""``lenet.data``: the full MNIST, the embedded fallback, the data root, IDX integrity."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lenet.data
from lenet.data import (
    CorruptDataError,
    DataUnavailableError,
    data_root,
    embedded_mnist,
    load_cifar10,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
)
from lenet.models import lenet5_input

pytestmark = pytest.mark.usefixtures("one_thread")  # fast and exact on a busy CPU

# The published MNIST files, as every copy of them holds.
FIRST_TRAIN = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
FIRST_TEST = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_full_mnist_shapes_labels_and_class_counts(mnist_root):
    train = load_mnist("train", mnist_root, download=False)
    test = load_mnist("test", mnist_root, download=False)
    assert train.images.shape == (60_000, 1, 28, 28) and train.images.dtype == torch.float32
    assert test.images.shape == (10_000, 1, 28, 28) and test.labels.dtype == torch.int64
    assert 0.0 <= float(train.images.min()) and float(train.images.max()) == 1.0
    assert train.labels[:10].tolist() == FIRST_TRAIN
    assert test.labels[:10].tolist() == FIRST_TEST
    assert torch.bincount(train.labels).tolist() == TRAIN_COUNTS
    assert train.source == "MNIST files in the data root"
    assert train.take(5).labels.tolist() == FIRST_TRAIN[:5]


def test_lenet5_input_pads_to_32_with_the_papers_levels():
    images = torch.zeros(2, 1, 28, 28)
    images[:, :, 10:12, 10:12] = 1.0
    out = lenet5_input(images)
    assert out.shape == (2, 1, 32, 32)
    torch.testing.assert_close(out[0, 0, 0, 0], torch.tensor(-0.1))  # padding = background
    torch.testing.assert_close(out[0, 0, 5, 5], torch.tensor(-0.1))
    torch.testing.assert_close(out[0, 0, 12, 12], torch.tensor(1.175))  # ink, shifted by 2
    assert torch.equal(out[:, :, 2:30, 2:30] > 0, images > 0)


def test_embedded_fallback_when_the_root_is_empty_and_offline(offline_root, capsys):
    train = load_mnist("train", offline_root, download=False)
    test = load_mnist("test", offline_root, download=True)  # download disabled by LENET_OFFLINE
    assert (len(train), len(test)) == (4_000, 1_000)
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert train.images.shape == (4_000, 1, 28, 28)
    assert 0.0 <= float(train.images.min()) and float(train.images.max()) <= 1.0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "embedded" in lines[0] and "4,000 train / 1,000 test" in lines[0]
    assert "subset" in train.source


def test_embedded_train_and_test_do_not_overlap(offline_root):
    train, test = embedded_mnist("train"), embedded_mnist("test")
    a = {bytes(x.numpy().tobytes()) for x in (train.images * 255).to(torch.uint8)}
    b = {bytes(x.numpy().tobytes()) for x in (test.images * 255).to(torch.uint8)}
    assert not a & b


def test_fashion_mnist_offline_says_what_to_do(offline_root):
    with pytest.raises(DataUnavailableError) as err:
        load_fashion_mnist("train", offline_root)
    message = str(err.value)
    assert "LENET_DATA" in message and "FashionMNIST/raw" in message and "internet" in message


def test_mnist_without_fallback_is_unavailable(offline_root):
    with pytest.raises(DataUnavailableError, match="LENET_DATA"):
        load_dataset("mnist", "test", offline_root, download=False, embedded_fallback=False)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("LENET_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"  # argument first
    assert data_root() == tmp_path / "env"  # then $LENET_DATA
    monkeypatch.delenv("LENET_DATA")
    monkeypatch.setattr(lenet.data, "DEFAULT_ROOT", tmp_path / "home-cache")
    assert data_root() == tmp_path / "home-cache"
    monkeypatch.undo()
    monkeypatch.delenv("LENET_DATA", raising=False)
    assert data_root() == Path.home() / ".cache" / "lenet"


def test_files_in_torchvision_layout_are_read_exactly(fake_mnist):
    train = load_mnist("train", fake_mnist, download=False)
    assert train.images.shape == (6, 1, 28, 28)
    assert train.labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert [round(float(v) * 255) for v in train.images[:, 0, 0, 0]] == [0, 10, 20, 30, 40, 50]


def _raw(root: Path, name: str) -> Path:
    return root / "MNIST" / "raw" / name


def test_truncated_idx_file_says_delete_and_download(fake_mnist):
    path = _raw(fake_mnist, "train-images-idx3-ubyte")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDataError) as err:
        load_mnist("train", fake_mnist, download=False)
    message = str(err.value)
    assert "Delete" in message and "download it again" in message
    assert "[6, 28, 28]" in message and str(16 + 6 * 28 * 28) in message


def test_wrong_magic_is_reported(fake_mnist):
    path = _raw(fake_mnist, "t10k-labels-idx1-ubyte")
    data = bytearray(path.read_bytes())
    data[2:4] = (0x0D03).to_bytes(2, "big")  # float data, 3-D: not MNIST labels
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="magic 0x0d03, expected 0x0801"):
        load_mnist("test", fake_mnist, download=False)


def test_file_shorter_than_its_header(fake_mnist):
    _raw(fake_mnist, "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(CorruptDataError, match="shorter than its header"):
        load_mnist("test", fake_mnist, download=False)


def test_images_and_labels_of_different_lengths(fake_mnist, write_idx):
    write_idx(_raw(fake_mnist, "train-labels-idx1-ubyte"), np.arange(5))
    with pytest.raises(CorruptDataError, match="6 images but .* 5 labels"):
        load_mnist("train", fake_mnist, download=False)


# ------------------------------------------------------------------------------ bad input
_TINY = lenet.data.ImageSet(torch.zeros(3, 1, 28, 28), torch.zeros(3, dtype=torch.int64),
                            "mnist", "train", "test data")

#: (callable, args, exception, substrings the message must contain)
BAD_INPUT = [
    pytest.param(load_dataset, ("svhn",), ValueError, ("name", "'mnist'", "'svhn'"),
                 id="unknown-dataset"),
    pytest.param(load_dataset, ("MNIST",), ValueError, ("name", "'fashion-mnist'", "'MNIST'"),
                 id="dataset-case"),
    pytest.param(load_dataset, (3,), TypeError, ("name", "str", "int"), id="dataset-int"),
    pytest.param(load_dataset, ("mnist", "val"), ValueError,
                 ("split", "'train'", "'test'", "'val'"),
                 id="unknown-split"),
    pytest.param(load_mnist, ("training",), ValueError, ("split", "'training'"), id="mnist-split"),
    pytest.param(load_fashion_mnist, (None,), TypeError, ("split", "NoneType"), id="fashion-split"),
    pytest.param(load_dataset, ("mnist", "train", None, "yes"), TypeError,
                 ("download", "True or False", "'yes'"), id="download-str"),
    pytest.param(load_dataset, ("mnist", "train", None, True, 0), TypeError,
                 ("embedded_fallback", "int"), id="fallback-int"),
    pytest.param(load_dataset, ("mnist", "train", 5), TypeError, ("root", "int"), id="root-int"),
    pytest.param(load_dataset, ("mnist", "train", ""), ValueError, ("root", "empty"),
                 id="root-empty"),
    pytest.param(data_root, (["a"],), TypeError, ("root", "list"), id="data-root-list"),
    pytest.param(embedded_mnist, ("val",), ValueError, ("split", "'val'"), id="embedded-split"),
    pytest.param(lenet5_input, (torch.zeros(2, 1, 32, 32),), ValueError,
                 ("images", "(N, 1, 28, 28)", "(2, 1, 32, 32)"), id="lenet5-input-32"),
    pytest.param(lenet5_input, (torch.zeros(28, 28),), ValueError, ("images", "(28, 28)"),
                 id="lenet5-input-2d"),
    pytest.param(lenet5_input, (np.zeros((1, 1, 28, 28)),), TypeError,
                 ("images", "torch.Tensor", "ndarray"), id="lenet5-input-numpy"),
    pytest.param(_TINY.take, (0,), ValueError, ("count", ">= 1", "got 0"), id="take-0"),
    pytest.param(_TINY.take, (1.5,), TypeError, ("count", "float"), id="take-float"),
]


@pytest.mark.parametrize(("fn", "args", "error", "says"), BAD_INPUT)
def test_bad_input_is_refused_with_a_clear_message(refuses, fn, args, error, says):
    refuses(fn, args, error, says)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40))
def test_lenet5_input_accepts_only_28x28(h, w):
    images = torch.zeros(1, 1, h, w)
    if (h, w) == (28, 28):
        assert lenet5_input(images).shape == (1, 1, 32, 32)
    else:
        with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
            lenet5_input(images)


@settings(max_examples=30, deadline=None)
@given(count=st.integers(-5, 10))
def test_take_keeps_the_first_count_examples(count):
    if count >= 1:
        assert len(_TINY.take(count)) == min(count, 3)
    else:
        with pytest.raises(ValueError, match="count"):
            _TINY.take(count)


def _write_cifar(root: Path, images_per_batch: int = 2) -> Path:
    """A tiny CIFAR-10 in torchvision's layout: image k of the whole set is filled with k and
    labelled k % 10; data rows are 3072 bytes, red plane first, as in the real files."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    k = 0
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        rows = np.stack([np.full(3072, k + j, dtype=np.uint8) for j in range(images_per_batch)])
        rows[:, 1024:2048] += 100  # the green plane differs from the red one
        labels = [(k + j) % 10 for j in range(images_per_batch)]
        (folder / name).write_bytes(pickle.dumps({b"data": rows, b"labels": labels}))
        k += images_per_batch
    return root


def test_cifar10_batches_are_read_as_colour_images(tmp_path):
    root = _write_cifar(tmp_path)
    train, test = load_cifar10("train", root), load_cifar10("test", root, download=False)
    assert train.images.shape == (10, 3, 32, 32) and test.images.shape == (2, 3, 32, 32)
    assert train.labels.tolist() == list(range(10)) and test.labels.tolist() == [0, 1]
    assert torch.equal(train.images[3, 0], torch.full((32, 32), 3 / 255))
    assert torch.equal(train.images[3, 1], torch.full((32, 32), 103 / 255))
    assert train.classes[3] == "cat" and len(train.classes) == 10


def test_cifar10_offline_says_what_to_do(offline_root):
    with pytest.raises(DataUnavailableError, match="cifar-10-batches-py") as info:
        load_cifar10("train", offline_root)
    assert "Connect to the internet" in str(info.value)


def test_damaged_cifar10_batch_says_delete_and_download(tmp_path):
    root = _write_cifar(tmp_path)
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(CorruptDataError, match="data_batch_3 is not a CIFAR-10 batch.*Delete"):
        load_cifar10("train", root)
    rows = {b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]}
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(rows))
    with pytest.raises(CorruptDataError, match=r"shape \(2, 100\)"):
        load_cifar10("test", root)


class _Boom:
    """A pickle payload that runs a shell command when loaded by a plain unpickler."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_malicious_cifar10_batch_runs_no_code(tmp_path):
    root = _write_cifar(tmp_path / "root")
    marker = tmp_path / "pwned"
    batch = {b"data": _Boom(marker), b"labels": [0]}
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(batch))
    with pytest.raises(CorruptDataError, match="test_batch"):
        load_cifar10("test", root, download=False)
    assert not marker.exists(), "the pickle's command ran"
    # a genuine batch still loads (NumPy arrays come through the restricted unpickler)
    assert len(load_cifar10("train", root, download=False)) == 10


def test_cifar10_labels_out_of_range_are_refused(tmp_path):
    root = _write_cifar(tmp_path)
    rows = {b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 10]}
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(rows))
    with pytest.raises(CorruptDataError, match="test_batch"):
        load_cifar10("test", root, download=False)


def _mnist_with(root: Path, write_idx, images: np.ndarray | None = None,
                labels: np.ndarray | None = None) -> Path:
    from conftest import IDX_FILES

    raw = root / "MNIST" / "raw"
    for split in ("train", "test"):
        write_idx(raw / IDX_FILES[split][0], np.zeros((2, 28, 28), dtype=np.uint8))
        write_idx(raw / IDX_FILES[split][1], np.array([0, 1]))
    if images is not None:
        write_idx(raw / IDX_FILES["train"][0], images)
    if labels is not None:
        write_idx(raw / IDX_FILES["train"][1], labels)
    return root


@pytest.mark.parametrize(("images", "labels", "says"), [
    pytest.param(None, np.array([0, 10]), "train-labels", id="label-byte-10"),
    pytest.param(np.zeros((2, 14, 56)), None, "train-images", id="header-resplit"),
    pytest.param(np.zeros((0, 28, 28)), np.zeros(0), "train-images", id="n-zero"),
])
def test_idx_files_that_contradict_mnist_are_refused(tmp_path, write_idx, images, labels, says):
    root = _mnist_with(tmp_path, write_idx, images, labels)
    with pytest.raises(CorruptDataError, match=says):
        load_mnist("train", root, download=False)


def test_an_idx_header_whose_dimensions_overflow_is_refused(tmp_path, write_idx):
    from conftest import IDX_FILES

    root = _mnist_with(tmp_path, write_idx)
    path = root / "MNIST" / "raw" / IDX_FILES["train"][0]
    # 2**32 - 1 three times: the product overflows int64 and used to wrap to a small number
    path.write_bytes((0x0803).to_bytes(4, "big") + b"\xff\xff\xff\xff" * 3)
    with pytest.raises(CorruptDataError, match="train-images"):
        load_mnist("train", root, download=False)


def test_a_folder_in_place_of_a_data_file_is_named(tmp_path, write_idx):
    from conftest import IDX_FILES

    root = _mnist_with(tmp_path, write_idx)
    path = root / "MNIST" / "raw" / IDX_FILES["train"][1]
    path.unlink()
    path.mkdir()
    with pytest.raises(CorruptDataError, match="train-labels"):
        load_mnist("train", root, download=False)


def test_a_partial_data_root_names_the_missing_file_and_does_not_fall_back(
        tmp_path, write_idx, monkeypatch):
    from conftest import IDX_FILES

    monkeypatch.setenv("LENET_OFFLINE", "1")
    root = _mnist_with(tmp_path, write_idx)
    (root / "MNIST" / "raw" / IDX_FILES["test"][1]).unlink()
    with pytest.raises(DataUnavailableError, match=IDX_FILES["test"][1]):
        load_mnist("test", root)
    assert len(load_mnist("train", root)) == 2  # the complete split still loads


def test_lenet5_input_refuses_0_255_images():
    with pytest.raises(ValueError, match="images"):
        lenet5_input(torch.full((1, 1, 28, 28), 255.0))
    with pytest.raises(TypeError, match="images"):
        lenet5_input(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
    assert lenet5_input(torch.ones(1, 1, 28, 28)).max().item() == pytest.approx(1.175)


def test_missing_data_is_downloaded_by_default_both_splits(tmp_path, monkeypatch):
    import torchvision

    calls = []

    class FakeFashion:
        def __init__(self, root, train, download):
            calls.append((train, download))
            raise OSError("no network (simulated)")

    monkeypatch.delenv("LENET_OFFLINE", raising=False)
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FakeFashion)
    with pytest.raises(DataUnavailableError, match="simulated"):
        load_fashion_mnist("train", tmp_path)  # download=True is the default
    assert calls == [(True, True)]

    class Recorder(FakeFashion):
        def __init__(self, root, train, download):
            calls.append((train, download))

    calls.clear()
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", Recorder)
    assert lenet.data._download("fashion-mnist", tmp_path) == ""
    assert calls == [(True, True), (False, True)]  # the train and the test split

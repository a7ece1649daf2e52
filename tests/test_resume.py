"""A training run killed with SIGKILL mid-epoch and resumed from its last checkpoint ends
exactly where an uninterrupted run with the same seed ends: same history, same weights.

Both runs are real ``python -m lenet train`` processes on the CPU with one thread each
(``OMP_NUM_THREADS=1``), so their arithmetic is bitwise reproducible. The data is the
embedded 5,000-digit MNIST subset, written once into IDX files in torchvision's layout so
that every process starts fast.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lenet.data import embedded_mnist

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3
IDX = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
       "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


@pytest.fixture(scope="module")
def subset_root(tmp_path_factory) -> Path:
    """The embedded subset as IDX files (4,000 train / 1,000 test) in a fresh data root."""
    from conftest import idx_bytes

    root = tmp_path_factory.mktemp("subset")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, (images_file, labels_file) in IDX.items():
        data = embedded_mnist(split)
        pixels = (data.images[:, 0] * 255).round().to(torch.uint8).numpy()
        (raw / images_file).write_bytes(idx_bytes(pixels))
        (raw / labels_file).write_bytes(idx_bytes(data.labels.numpy().astype(np.uint8)))
    return root


def _train(root: Path, out: Path, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "lenet", "train", "--model", "lenet-modern",
            "--data-root", str(root), "--epochs", str(EPOCHS), "--batch-size", "32",
            "--limit", "2000",
            "--optimizer", "adam", "--schedule", "onecycle", "--lr", "0.003", "--seed", "7",
            "--device", "cpu", "--no-progress", "--checkpoint", str(out / "run.pt"),
            "--history", str(out / "history.json"), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LENET_OFFLINE": "1",
           "PYTHONHASHSEED": "0"}
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_result(subset_root, tmp_path):
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    reference_dir.mkdir()
    killed_dir.mkdir()
    reference = _train(subset_root, reference_dir)  # runs alongside the one we kill
    victim = _train(subset_root, killed_dir)
    checkpoint = killed_dir / "run.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert victim.poll() is None, victim.communicate()[1]
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.02)
    time.sleep(0.1)  # inside the second epoch
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL

    state = torch.load(checkpoint, weights_only=True)
    assert 1 <= state["epoch"] < EPOCHS, "the run must die before its last epoch"
    assert len(state["history"]["train_loss"]) == state["epoch"]
    assert not (killed_dir / "history.json").exists()

    resumed_out = _finish(_train(subset_root, killed_dir, "--resume"))
    _finish(reference)

    resumed = json.loads((killed_dir / "history.json").read_text())
    expected = json.loads((reference_dir / "history.json").read_text())
    assert len(expected["train_loss"]) == EPOCHS
    assert resumed == expected  # every float identical, not merely close
    final = torch.load(killed_dir / "run.pt", weights_only=True)
    uninterrupted = torch.load(reference_dir / "run.pt", weights_only=True)
    assert final["epoch"] == uninterrupted["epoch"] == EPOCHS
    for name, tensor in uninterrupted["model"].items():
        assert torch.equal(final["model"][name], tensor), name
    assert final["scheduler"] == uninterrupted["scheduler"]
    assert f"epoch {EPOCHS}: train loss" in resumed_out

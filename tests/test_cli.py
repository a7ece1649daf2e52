"""``python -m lenet``: bad flags give a usage message, bad values one ``error:`` line, both
exit with status 2, and nothing ever prints a traceback.

The table runs in-process (``lenet.cli.main``) to stay fast; a few cases also run as real
``python -m lenet`` subprocesses, end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lenet.checkpoint import save_checkpoint
from lenet.cli import main
from lenet.models import LeNetModern

pytestmark = pytest.mark.usefixtures("one_thread")  # fast and exact on a busy CPU

ROOT = Path(__file__).resolve().parents[1]

#: argv that argparse itself refuses: usage message, exit 2.
USAGE_ERRORS = [
    pytest.param([], "the following arguments are required", id="no-command"),
    pytest.param(["fly"], "invalid choice: 'fly'", id="unknown-command"),
    pytest.param(["summary"], "the following arguments are required: model", id="summary-no-model"),
    pytest.param(["summary", "lenet6"], "invalid choice: 'lenet6'", id="summary-unknown-model"),
    pytest.param(["summary", "lenet5", "--input-size", "1", "32"], "expected 3 arguments",
                 id="input-size-two-numbers"),
    pytest.param(["summary", "lenet5", "--input-size", "1", "a", "32"], "invalid int value: 'a'",
                 id="input-size-not-int"),
    pytest.param(["train", "--epochs", "three"], "invalid int value: 'three'", id="epochs-not-int"),
    pytest.param(["train", "--lr", "fast"], "invalid float value: 'fast'", id="lr-not-float"),
    pytest.param(["train", "--optimizer", "rmsprop"], "invalid choice: 'rmsprop'",
                 id="unknown-optimizer"),
    pytest.param(["train", "--dataset", "svhn"], "invalid choice: 'svhn'",
                 id="unknown-dataset"),
    pytest.param(["train", "--bogus"], "unrecognized arguments: --bogus", id="unknown-flag"),
    pytest.param(["data", "--dataset"], "expected one argument", id="flag-without-value"),
]


@pytest.mark.parametrize(("argv", "says"), USAGE_ERRORS)
def test_bad_flags_print_usage_and_exit_2(capsys, argv, says):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m lenet") and says in err


def _value_errors(tmp: Path) -> list:
    """argv with a well-formed but bad value: one ``error:`` line, exit 2."""
    fake = tmp  # tiny valid MNIST in tmp/MNIST/raw (the fake_mnist fixture)
    empty = tmp / "empty"
    quick = ["--data-root", str(fake), "--epochs", "1", "--no-progress"]
    cases = [
        (["summary", "lenet5", "--input-size", "1", "28", "28"],
         ("(N, 1, 32, 32)", "(1, 1, 28, 28)")),
        (["summary", "lenet", "--input-size", "0", "28", "28"],
         ("--input-size", "positive", "0 28 28")),
        (["train", "--epochs", "0"], ("--epochs", ">= 1", "got 0")),
        (["train", "--batch-size", "-5"], ("--batch-size", "got -5")),
        (["train", "--lr", "-0.1"], ("--lr", "> 0", "-0.1")),
        (["train", "--lr", "nan"], ("--lr", "nan")),
        (["train", "--limit", "0"], ("--limit", "got 0")),
        (["train", "--resume"], ("--resume", "--checkpoint")),
        (["train", "--device", "tpu"], ("--device", "cpu, cuda", "'tpu'")),
        (["train", "--dataset", "fashion-mnist", "--data-root", str(empty)],
         ("fashion-mnist", "not available", "LENET_DATA")),
        (["data", "--dataset", "fashion-mnist", "--data-root", str(empty), "--no-download"],
         ("fashion-mnist", "LENET_DATA")),
        (["train", "--model", "lenet5", "--checkpoint", str(tmp / "modern.pt"), "--resume", *quick],
         ("LeNetModern", "LeNet5")),
        (["train", "--checkpoint", str(tmp / "a-folder"), *quick], ("a-folder",)),
        (["train", "--data-root", str(tmp / "corrupt")], ("Delete", "download it again")),
    ]
    if not torch.cuda.is_available():
        cases.append((["train", "--device", "cuda"], ("--device", "'cuda'", "not available")))
    return cases


@pytest.fixture
def cli_world(tmp_path, monkeypatch, fake_mnist, write_idx):
    """Data roots (tiny valid, empty, corrupt), a LeNetModern checkpoint and a folder."""
    assert fake_mnist == tmp_path
    monkeypatch.setenv("LENET_OFFLINE", "1")
    world = fake_mnist  # == tmp_path, holding MNIST/raw
    (world / "empty").mkdir()
    raw = world / "corrupt" / "MNIST" / "raw"
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        write_idx(raw / name, torch.zeros(3, 28, 28, dtype=torch.uint8).numpy())
        (raw / name).write_bytes((raw / name).read_bytes()[:-7])
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        write_idx(raw / name, torch.zeros(3, dtype=torch.uint8).numpy())
    save_checkpoint(world / "modern.pt", LeNetModern())
    (world / "a-folder").mkdir()
    return world


def test_bad_values_print_one_error_line_and_exit_2(cli_world, capsys):
    cases = _value_errors(cli_world)
    for argv, says in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
        assert all(s in lines[0] for s in says), (argv, lines[0], says)
    assert len(cases) >= 14


def test_summary_prints_the_papers_numbers(capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "122,304" in out and "151,600" in out and "60,000" in out


def test_data_reports_the_embedded_subset_offline(offline_root, capsys):
    assert main(["data", "--data-root", str(offline_root), "--no-download"]) == 0
    captured = capsys.readouterr()
    assert "train: 4,000 images from the embedded" in captured.out
    assert "test: 1,000 images" in captured.out


def test_train_writes_history_and_checkpoint(cli_world, capsys, tmp_path):
    argv = ["train", "--data-root", str(cli_world), "--epochs", "2", "--no-progress",
            "--batch-size", "4", "--checkpoint", str(tmp_path / "c.pt"), "--history",
            str(tmp_path / "h.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "epoch 2: train loss" in out and (tmp_path / "c.pt").exists()
    assert (tmp_path / "h.json").read_text().count("train_loss") == 1


def test_train_fast_passes_the_devices_fast_path_to_fit(cli_world, capsys, monkeypatch):
    import lenet.cli
    from lenet.train import fast_path

    seen = {}
    real_fit = lenet.cli.fit
    monkeypatch.setattr(lenet.cli, "fit", lambda *a, **kw: seen.update(kw) or real_fit(*a, **kw))
    argv = ["train", "--data-root", str(cli_world), "--epochs", "1", "--no-progress",
            "--batch-size", "16", "--device", "cpu", "--fast"]
    assert main(argv) == 0
    assert "epoch 1: train loss" in capsys.readouterr().out
    assert fast_path("cpu").items() <= seen.items() and seen["channels_last"] is True


def _python_m_lenet(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lenet", *argv], capture_output=True, text=True,
                          check=False,
                          cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
                          timeout=120)


@pytest.mark.parametrize(("argv", "status", "says"), [
    pytest.param(["train", "--epochs", "zero"], 2, "usage: python -m lenet", id="usage"),
    pytest.param(["summary", "lenet5", "--input-size", "1", "28", "28"], 2,
                 "error: LeNet5 expects input of shape (N, 1, 32, 32)", id="bad-value"),
    pytest.param(["train", "--epochs", "-1"], 2, "error: --epochs must be >= 1", id="bad-epochs"),
    pytest.param(["train", "--model", "cifar-net"], 2,
                 "error: --model cifar-net takes 3x32x32 images; --dataset mnist has 1x28x28 "
                 "images (use --dataset cifar10)", id="model-dataset-mismatch"),
])
def test_python_m_lenet_fails_cleanly(argv, status, says):
    done = _python_m_lenet(*argv)
    assert done.returncode == status
    assert says in done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout


def test_python_m_lenet_fashion_offline_fails_cleanly(tmp_path):
    done = _python_m_lenet("data", "--dataset", "fashion-mnist", "--data-root", str(tmp_path),
                           env={"LENET_OFFLINE": "1"})
    assert done.returncode == 2
    assert done.stderr.startswith("error: fashion-mnist (train) is not available")
    assert "Traceback" not in done.stderr


def test_python_m_lenet_cifar10_offline_fails_cleanly(tmp_path):
    done = _python_m_lenet("train", "--model", "cifar-net", "--dataset", "cifar10",
                           "--data-root", str(tmp_path), env={"LENET_OFFLINE": "1"})
    assert done.returncode == 2
    assert done.stderr.startswith("error: cifar10 (train) is not available")
    assert "cifar-10-batches-py" in done.stderr and "Traceback" not in done.stderr

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
         ("--input-size", "1 28 28", "1x32x32")),
        (["summary", "lenet", "--input-size", "0", "28", "28"],
         ("--input-size", "0 28 28", "1x28x28")),
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
         ("modern.pt",)),
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
        assert says[0] in lines[0], (argv, lines[0], says)  # names the flag or the file
    assert len(cases) >= 14


def test_summary_prints_the_papers_numbers(capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "122,304" in out and "151,600" in out and "60,000" in out


def test_data_reports_the_embedded_subset_offline(offline_root, capsys):
    assert main(["data", "--data-root", str(offline_root), "--no-download"]) == 0
    out = capsys.readouterr().out
    assert f"data root: {offline_root}" in out and "mnist" in out and "absent" in out
    assert main(["data", "--data-root", str(offline_root), "--no-download",
                 "--dataset", "mnist"]) == 0
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
                 "error: --input-size=1 28 28: must be 1 32 32 (C H W): LeNet5 takes 1x32x32 "
                 "images", id="bad-value"),
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


def test_version_and_train_help_show_the_defaults_and_an_example(capsys):
    import lenet

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and lenet.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "(default: 256)" in out and "example:" in out and "--resume" in out


def test_data_lists_the_datasets_the_root_holds(cli_world, capsys):
    assert main(["data", "--data-root", str(cli_world)]) == 0
    out = capsys.readouterr().out
    assert f"data root: {cli_world}" in out
    assert any(line.split()[:2] == ["mnist", "present"] for line in out.splitlines())
    assert any(line.split()[:2] == ["cifar10", "absent"] for line in out.splitlines())


def _quick_train(root: Path, checkpoint: Path, *extra: str) -> list[str]:
    return ["train", "--data-root", str(root), "--epochs", "1", "--no-progress",
            "--batch-size", "4", "--device", "cpu", "--checkpoint", str(checkpoint), *extra]


def test_the_cli_seeds_the_initial_weights(cli_world, tmp_path, capsys):
    from lenet.checkpoint import read_checkpoint

    weights = []
    for i, disturbance in enumerate((123, 456)):
        torch.manual_seed(disturbance)  # the global RNG in another state before each run
        assert main(_quick_train(cli_world, tmp_path / f"{i}.pt", "--seed", "3")) == 0
        weights.append(read_checkpoint(tmp_path / f"{i}.pt")["model"])
    assert main(_quick_train(cli_world, tmp_path / "other.pt", "--seed", "4")) == 0
    other = read_checkpoint(tmp_path / "other.pt")["model"]
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name
    assert any(not torch.equal(t, other[n]) for n, t in weights[0].items())


def test_existing_checkpoint_needs_resume_or_overwrite(cli_world, tmp_path, capsys):
    path = tmp_path / "c.pt"
    assert main(_quick_train(cli_world, path)) == 0
    before = path.read_bytes()
    assert main(_quick_train(cli_world, path)) == 2
    err = capsys.readouterr().err
    assert "c.pt" in err and "--overwrite" in err and path.read_bytes() == before
    assert main(_quick_train(cli_world, path, "--overwrite")) == 0


def test_resume_says_where_it_resumes_and_refuses_other_settings(cli_world, tmp_path, capsys):
    path = tmp_path / "c.pt"
    assert main(_quick_train(cli_world, path, "--resume")) == 0  # no checkpoint yet: says so
    assert "starting from epoch 1" in capsys.readouterr().err
    argv = _quick_train(cli_world, path, "--resume")
    argv[argv.index("--epochs") + 1] = "2"  # a constant schedule may train on
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "resumed from epoch 1" in captured.err and "epoch 2: train loss" in captured.out
    assert main([*argv, "--optimizer", "sgd", "--batch-size", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "optimizer" in err and "batch_size" in err
    assert "'adam'" in err and "'sgd'" in err and "4" in err and "2" in err


def test_resume_of_onecycle_with_more_epochs_is_refused(cli_world, tmp_path, capsys):
    path = tmp_path / "c.pt"
    assert main(_quick_train(cli_world, path, "--schedule", "onecycle")) == 0
    argv = _quick_train(cli_world, path, "--schedule", "onecycle", "--resume")
    argv[argv.index("--epochs") + 1] = "3"
    assert main(argv) == 2
    assert "epochs: 1 in the checkpoint, 3 now" in capsys.readouterr().err


def test_resume_from_a_weights_file_is_a_clear_error(cli_world, tmp_path, capsys):
    from lenet.checkpoint import save_weights

    save_weights(LeNetModern(), tmp_path / "w.pt")
    assert main(_quick_train(cli_world, tmp_path / "w.pt", "--resume")) == 2
    err = capsys.readouterr().err
    assert "w.pt" in err and "weights" in err


def test_predict_prints_the_top_3_classes(cli_world, tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "c.pt"
    assert main(_quick_train(cli_world, path)) == 0
    capsys.readouterr()
    assert main(["predict", str(path), "--index", "1", "--data-root", str(cli_world)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("mnist test image 1") and len(lines) == 4
    scores = [float(line.split()[-1]) for line in lines[1:]]
    assert [line.split()[0] for line in lines[1:]] == ["1.", "2.", "3."]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-6
    Image.new("L", (40, 40), 0).save(tmp_path / "digit.png")
    assert main(["predict", str(path), "--image", str(tmp_path / "digit.png")]) == 0
    assert capsys.readouterr().out.count("\n") == 4
    Image.new("L", (4, 4)).save(tmp_path / "digit.jpg", format="JPEG")
    for bad in (["--image", str(tmp_path / "digit.jpg")], ["--image", str(tmp_path / "no.png")],
                ["--index", "99"]):
        assert main(["predict", str(path), *bad, "--data-root", str(cli_world)]) == 2, bad
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and bad[0] in err
    assert main(["predict", str(tmp_path / "none.pt"), "--index", "0"]) == 2
    assert "none.pt" in capsys.readouterr().err


def test_the_mnist_models_pair_with_both_mnist_datasets_and_not_with_cifar10():
    """Fashion-MNIST's images are MNIST's shape (1x28x28): every MNIST model takes both."""
    from lenet.cli import _check_pairing
    from lenet.data import lenet5_input
    from lenet.models import LeNet, LeNet5

    for dataset in ("mnist", "fashion-mnist"):
        _check_pairing("lenet", LeNet(), None, dataset)
        _check_pairing("lenet5", LeNet5(), lenet5_input, dataset)
    with pytest.raises(ValueError, match="--dataset cifar10"):
        _check_pairing("lenet", LeNet(), None, "cifar10")

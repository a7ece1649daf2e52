"""``lenet.checkpoint``: round trips, atomic writes, clear errors for bad files."""

from __future__ import annotations

import pytest
import torch

import lenet.checkpoint
from lenet.checkpoint import (
    CheckpointError,
    atomic_save_json,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from lenet.models import LeNet, LeNet5, LeNetModern

pytestmark = pytest.mark.usefixtures("one_thread")  # fast and exact on a busy CPU


def _trained_pieces(seed: int = 0):
    torch.manual_seed(seed)
    model = LeNetModern()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    loss = torch.nn.functional.cross_entropy(model(torch.rand(4, 1, 28, 28)), torch.arange(4))
    loss.backward()
    opt.step()
    sched.step()
    return model, opt, sched


def test_round_trip_restores_model_optimizer_scheduler_and_extras(tmp_path):
    model, opt, sched = _trained_pieces()
    gen = torch.Generator().manual_seed(7)
    path = tmp_path / "run.pt"
    save_checkpoint(path, model, opt, sched, epoch=3, history={"train_loss": [1.5, 0.5]},
                    generator=gen.get_state())
    fresh, fresh_opt, fresh_sched = _trained_pieces(seed=1)
    state = load_checkpoint(path, fresh, fresh_opt, fresh_sched)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    assert fresh_sched.state_dict() == sched.state_dict()
    assert torch.equal(fresh_opt.state_dict()["state"][0]["exp_avg"],
                       opt.state_dict()["state"][0]["exp_avg"])
    assert state["epoch"] == 3 and state["history"] == {"train_loss": [1.5, 0.5]}
    restored = torch.Generator().manual_seed(0)
    restored.set_state(state["generator"])
    assert torch.equal(torch.randperm(10, generator=restored), torch.randperm(10, generator=gen))


def test_files_load_with_weights_only(tmp_path):
    model = LeNet5()
    save_weights(model, tmp_path / "w.pt")
    state = torch.load(tmp_path / "w.pt", weights_only=True)  # no pickled code needed
    assert state["model_class"] == "LeNet5"
    other = load_weights(LeNet5(), tmp_path / "w.pt")
    assert torch.equal(other.features.C3.weight, model.features.C3.weight)


def test_failed_save_leaves_the_previous_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    model, opt, _ = _trained_pieces()
    path = tmp_path / "run.pt"
    save_checkpoint(path, model, opt, epoch=1)
    before = path.read_bytes()
    real_save = torch.save

    def save_then_fail(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)  # half a file on disk, then the "crash"
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(lenet.checkpoint.torch, "save", save_then_fail)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, model, opt, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]
    assert load_checkpoint(path, LeNetModern())["epoch"] == 1


def test_interrupt_during_save_also_cleans_up(tmp_path, monkeypatch):
    def interrupted(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(lenet.checkpoint.torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "run.pt", LeNet())
    assert list(tmp_path.iterdir()) == []


def test_json_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "results.json"
    atomic_save_json({"runs": {"a": 1}}, path)
    assert path.read_text() == '{\n "runs": {\n  "a": 1\n }\n}\n'
    def crash(src, dst):  # the new file is written in full, then the rename fails
        assert '"b": 2' in open(src).read()
        raise OSError("rename failed (simulated)")

    monkeypatch.setattr(lenet.checkpoint.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        atomic_save_json({"runs": {"b": 2}}, path)
    monkeypatch.undo()
    assert path.read_text().count('"a": 1') == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]


@pytest.mark.parametrize("keep", [0, 10, 1000, -1])
def test_truncated_checkpoint_raises_a_clear_error(tmp_path, keep):
    path = tmp_path / "run.pt"
    save_checkpoint(path, LeNet(), epoch=1)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, LeNet())
    assert "not a readable checkpoint" in str(err.value) and "delete it" in str(err.value)
    assert "\n" not in str(err.value)


def test_checkpoint_of_another_model_names_both_classes(tmp_path):
    save_checkpoint(tmp_path / "run.pt", LeNet5())
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "run.pt", LeNetModern())
    assert "LeNet5" in str(err.value) and "LeNetModern" in str(err.value)


def test_same_class_different_architecture_is_refused(tmp_path):
    save_checkpoint(tmp_path / "run.pt", LeNet(num_classes=3))
    with pytest.raises(CheckpointError, match="does not match this LeNet"):
        load_checkpoint(tmp_path / "run.pt", LeNet())


def test_a_file_that_is_not_a_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no 'model' entry"):
        load_checkpoint(tmp_path / "other.pt", LeNet())


def test_missing_checkpoint_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_checkpoint(tmp_path / "absent.pt", LeNet())


# ------------------------------------------------------------------------------ bad input
#: (callable, args, exception, substrings the message must contain); the path is filled in.
BAD_INPUT = [
    pytest.param(save_checkpoint, ("model",), TypeError, ("model", "nn.Module", "str"),
                 id="save-not-a-module"),
    pytest.param(load_checkpoint, (None,), TypeError, ("model", "nn.Module", "NoneType"),
                 id="load-not-a-module"),
    pytest.param(save_weights, ("model",), TypeError, ("model", "nn.Module", "str"),
                 id="save-weights-swapped"),
]


@pytest.mark.parametrize(("fn", "args", "error", "says"), BAD_INPUT)
def test_bad_input_is_refused_with_a_clear_message(refuses, tmp_path, fn, args, error, says):
    save_checkpoint(tmp_path / "run.pt", LeNet())
    if fn is save_weights:  # save_weights(model, path): the path goes second
        refuses(fn, (*args, tmp_path / "run.pt"), error, says)
    else:
        refuses(fn, (tmp_path / "run.pt", *args), error, says)


def test_atomic_write_creates_missing_parent_folders(tmp_path):
    from lenet.checkpoint import atomic_write

    path = atomic_write(tmp_path / "a" / "b" / "c.txt", lambda tmp: tmp.write_text("x"))
    assert path.read_text() == "x" and sorted(p.name for p in path.parent.iterdir()) == ["c.txt"]


def test_atomic_write_leaves_a_live_writers_temporary_file_alone(tmp_path):
    """Two processes writing one path (two builds running the same notebook) must not delete
    each other's temporary file; a dead writer's file, or one not named by atomic_write, goes."""
    import os
    import subprocess
    import sys

    from lenet.checkpoint import atomic_write

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    live = tmp_path / f".c.{os.getppid()}-abc123.tmp.txt"
    killed = tmp_path / f".c.{dead}-def456.tmp.txt"
    leftover = tmp_path / ".c.x1y2z3.tmp.txt"
    other_path = tmp_path / ".c.d.1-ghi789.tmp.txt"   # a temporary of c.d.txt, not of c.txt
    for f in (live, killed, leftover, other_path):
        f.write_text("half")
    atomic_write(tmp_path / "c.txt", lambda tmp: tmp.write_text("x"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other_path.name, "c.txt"])


def test_atomic_write_from_two_threads_at_once_never_fails(tmp_path):
    import threading
    import time

    from lenet.checkpoint import atomic_write

    errors = []

    def write(text: str) -> None:
        def slow(tmp):
            tmp.write_text(text)
            time.sleep(0.002)
        try:
            for _ in range(30):
                atomic_write(tmp_path / "same.txt", slow)
        except Exception as error:   # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(t * 100,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert (tmp_path / "same.txt").read_text() in ("a" * 100, "b" * 100)
    assert [p.name for p in tmp_path.iterdir()] == ["same.txt"]

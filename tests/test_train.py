"""lenet.train: the device-tensor trainer against a plain reference loop, reproducibility,
the per-epoch learning rates, and the speed flags on the CPU (bfloat16 autocast close to
float32, compile a no-op)."""

from __future__ import annotations

import copy
import math
import platform
import sys

import pytest
import torch
import torch.nn.functional as F

from lenet.layers import map_loss
from lenet.models import LeNet, LeNet5, default_recipe, lenet5_input
from lenet.train import (
    History,
    evaluate,
    fast_path,
    fit,
    has_fast_bf16,
    predict,
    seed_everything,
)

N, BATCH = 300, 64


# tiny batches run fastest on one thread (and are not slowed by a busy second core)
pytestmark = pytest.mark.usefixtures("one_thread_module")


def _data(seed: int = 0, n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def _reference_loop(model, x, y, *, epochs, lr, batch_size, momentum, seed):
    """The textbook loop: shuffle with a seeded CPU generator, slice, step. Nothing else."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(y))
    return losses


def test_fit_matches_a_plain_reference_loop_on_the_same_batches():
    x, y = _data()
    seed_everything(0)
    model = LeNet()
    reference = copy.deepcopy(model)
    history = fit(model, (x, y), epochs=2, lr=0.1, batch_size=BATCH, momentum=0.9, seed=3,
                  progress=False, device="cpu")
    losses = _reference_loop(reference, x, y, epochs=2, lr=0.1, batch_size=BATCH,
                             momentum=0.9, seed=3)
    assert history.train_loss == pytest.approx(losses, rel=1e-5)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_same_seed_gives_an_identical_history_and_another_seed_does_not():
    x, y = _data()
    runs = []
    for seed in (0, 0, 1):
        seed_everything(seed)
        runs.append(fit(LeNet(), (x, y), (x[:100], y[:100]), epochs=2, lr=0.5,
                        batch_size=BATCH, seed=seed, progress=False, device="cpu"))
    assert runs[0] == runs[1]
    assert runs[0].train_loss != runs[2].train_loss


def test_history_records_the_learning_rate_given_for_each_epoch():
    x, y = _data(n=128)
    seed_everything(0)
    history = fit(LeNet(), (x, y), epochs=3, lr=[0.3, 0.2, 0.1], batch_size=BATCH,
                  progress=False, device="cpu")
    assert history.lr == pytest.approx([0.3, 0.2, 0.1])
    assert history.epochs == 3 and history.test_acc == []


def _train(x, y, **flags):
    seed_everything(0)
    model = LeNet()
    history = fit(model, (x, y), (x, y), epochs=2, lr=0.5, batch_size=BATCH, progress=False,
                  device="cpu", **flags)
    return history, model


def test_compile_is_a_no_op_on_the_cpu():
    x, y = _data(n=128)
    (plain, plain_model), (compiled, compiled_model) = _train(x, y), _train(x, y, compile=True)
    assert plain == compiled
    for key, value in plain_model.state_dict().items():
        assert torch.equal(value, compiled_model.state_dict()[key])


def test_amp_trains_in_bfloat16_on_the_cpu_and_stays_close_to_float32():
    x, y = _data(n=128)
    seen: list[torch.dtype] = []
    model = LeNet()
    model.features[0].register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    fit(model, (x, y), epochs=1, lr=0.5, batch_size=BATCH, progress=False, device="cpu",
        amp=True)
    assert seen and set(seen) == {torch.bfloat16}  # C1 really ran in bfloat16
    (fp32, _), (bf16, bf16_model) = _train(x, y), _train(x, y, amp=True)
    assert bf16.train_loss != fp32.train_loss  # a different computation ...
    assert bf16.train_loss == pytest.approx(fp32.train_loss, rel=2e-2)  # ... to the same end
    assert bf16.test_acc == pytest.approx(fp32.test_acc, abs=3 / 128)
    assert all(p.dtype == torch.float32 for p in bf16_model.parameters())  # fp32 master weights


def test_amp_runs_lenet5_with_its_own_layers_and_loss():
    x, y = _data(n=64)
    losses = []
    for amp in (False, True):
        seed_everything(0)
        losses.append(fit(LeNet5(), (x, y), epochs=1, lr=1e-3, batch_size=32, progress=False,
                          device="cpu", transform=lenet5_input, loss_fn=map_loss,
                          amp=amp).train_loss[0])
    assert losses[1] == pytest.approx(losses[0], rel=2e-2)


def test_fast_path_flags():
    glibc = platform.libc_ver()[0] == "glibc" and sys.platform.startswith("linux")
    assert fast_path("cpu") == {"channels_last": True, "amp": has_fast_bf16("cpu"),
                                "compile": False, "fuse": True, "reuse_memory": glibc}
    assert isinstance(has_fast_bf16("cpu"), bool)
    assert has_fast_bf16("meta") is False


@pytest.mark.parametrize("speedup, fast", [(0.55, False), (1.49, False), (1.5, True),
                                            (2.3, True)])
def test_fast_bf16_on_the_cpu_follows_the_measured_matmul(monkeypatch, speedup, fast):
    """AVX512-BF16 measured 0.55x float32 on one CPU (LeNet 0.75x under autocast) and 2.3x on
    another (LeNet 1.24x): the fast path asks the measurement, not the feature flags."""
    import lenet.train as train

    monkeypatch.setattr(train, "cpu_bf16_speedup", lambda: speedup)
    assert has_fast_bf16("cpu") is fast
    assert fast_path("cpu")["amp"] is fast


def test_cpu_bf16_speedup_is_measured_and_zero_without_bf16_kernels(monkeypatch):
    import lenet.train as train

    train.cpu_bf16_speedup.cache_clear()
    try:
        if torch.ops.mkldnn._is_mkldnn_bf16_supported():
            first = train.cpu_bf16_speedup(size=64, repeats=2)
            assert first > 0 and math.isfinite(first)
            assert train.cpu_bf16_speedup(size=64, repeats=2) == first  # measured once
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
        assert train.cpu_bf16_speedup(size=32, repeats=1) == 0.0  # emulated: not timed
    finally:
        train.cpu_bf16_speedup.cache_clear()


def test_cpu_supports_is_false_for_a_check_this_torch_lacks(monkeypatch):
    import lenet.train as train

    monkeypatch.setattr(torch.cpu, "_is_avx2_supported", lambda: True, raising=False)
    assert train.cpu_supports("_is_avx2_supported") is True
    assert train.cpu_supports("_is_no_such_feature_supported") is False


def test_reuse_memory_raises_glibcs_malloc_thresholds(monkeypatch):
    import lenet.train as train

    calls = []

    class FakeLibc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(train, "_glibc", lambda: FakeLibc())
    x, y = _data(n=16)
    fit(LeNet(), (x, y), epochs=1, progress=False, device="cpu", reuse_memory=True)
    assert calls == [(-3, 256 << 20), (-1, 512 << 20)]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    calls.clear()
    fit(LeNet(), (x, y), epochs=1, progress=False, device="cpu")
    assert calls == []
    monkeypatch.setattr(train, "_glibc", lambda: None)   # musl, macOS, Windows: untouched
    assert train.reuse_freed_memory() is False
    assert train.fast_path("cpu")["reuse_memory"] is False


def test_channels_last_changes_the_memory_layout_not_the_training():
    x, y = _data(n=128)
    runs = []
    for channels_last in (False, True):
        seed_everything(0)
        model = LeNet()
        runs.append(fit(model, (x, y), (x, y), epochs=2, lr=0.5, batch_size=BATCH,
                        progress=False, device="cpu", channels_last=channels_last))
        conv = model.features[3].weight  # (16, 6, 5, 5): the layouts differ
        assert conv.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert runs[1].train_loss == pytest.approx(runs[0].train_loss, rel=1e-4)
    assert runs[1].test_acc == pytest.approx(runs[0].test_acc, abs=1 / 128)


def test_timings_report_steps_and_images():
    x, y = _data(n=128)
    timings: dict[str, float] = {}
    fit(LeNet(), (x, y), epochs=2, lr=0.1, batch_size=BATCH, progress=False, device="cpu",
        timings=timings)
    assert timings["images"] == 256
    assert 0 < timings["first_step_s"] <= timings["train_s"]
    assert len(timings["epoch_s"]) == 2
    assert sum(timings["epoch_s"]) == pytest.approx(timings["train_s"])
    one_step: dict[str, float] = {}  # one batch an epoch: the first step is that batch
    fit(LeNet(), (x, y), epochs=1, lr=0.1, batch_size=len(y), progress=False, device="cpu",
        timings=one_step)
    assert 0 < one_step["first_step_s"] <= one_step["train_s"]


def test_predict_and_evaluate_agree_with_the_model():
    x, y = _data(n=50)
    model = LeNet().eval()
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(predict(model, x, batch_size=7), expected)
    assert evaluate(model, x, y) == pytest.approx(float((expected.argmax(1) == y).float().mean()))


def test_float64_training_follows_float32_closely_and_predict_casts_the_images():
    x, y = _data(n=128)
    runs = {}
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(0)
        model = LeNet()
        runs[dtype] = fit(model, (x, y), (x, y), epochs=2, lr=0.5, batch_size=32,
                          progress=False, device="cpu", dtype=dtype)
        assert all(p.dtype == dtype for p in model.parameters())
        assert predict(model, x[:5]).dtype == dtype  # float32 images follow the weights
    assert x.dtype == torch.float32  # the caller's tensors are not converted in place
    assert runs[torch.float64].train_loss == pytest.approx(runs[torch.float32].train_loss,
                                                           rel=1e-4)


def test_default_recipe_feeds_lenet5_the_paper_input_and_map_loss():
    assert default_recipe(LeNet5()) == (lenet5_input, map_loss)
    assert default_recipe(LeNet()) == (None, F.cross_entropy)


@pytest.mark.parametrize("kwargs, error", [
    ({"epochs": 0}, ValueError), ({"batch_size": 2.0}, TypeError),
    ({"lr": [0.1]}, ValueError), ({"lr": -1.0}, ValueError),
    ({"optimizer": "rmsprop"}, ValueError), ({"schedule": "cosine"}, ValueError),
    ({"dtype": torch.int64}, TypeError), ({"dtype": "float64"}, TypeError),
])
def test_bad_arguments_are_refused(kwargs, error):
    x, y = _data(n=16)
    with pytest.raises(error):
        fit(LeNet(), (x, y), **{"epochs": 2, **kwargs}, progress=False, device="cpu")


def test_history_round_trips_through_a_dict():
    h = History(train_loss=[1.0], train_acc=[0.5], test_acc=[0.4], lr=[0.1])
    assert History(**h.as_dict()) == h


def test_resume_with_a_random_affine_augment_matches_an_uninterrupted_run(tmp_path):
    from lenet.augment import RandomAffine

    x, y = _data(n=96)

    def run(epochs: int, resume: bool):
        seed_everything(0)
        model = LeNet()
        history = fit(model, (x, y), epochs=epochs, lr=0.1, batch_size=32, progress=False,
                      device="cpu", augment=RandomAffine(seed=1),
                      checkpoint=tmp_path / "run.pt", resume=resume)
        return history, model.state_dict()

    full, full_state = run(3, resume=False)
    (tmp_path / "run.pt").unlink()
    run(1, resume=False)                       # stop after one epoch
    resumed, resumed_state = run(3, resume=True)
    assert resumed == full
    for key, value in full_state.items():
        assert torch.equal(value, resumed_state[key])


def test_pin_threads_sets_the_count_and_returns_the_old_one() -> None:
    from lenet.train import pin_threads

    before = torch.get_num_threads()
    try:
        assert pin_threads(1) == before
        assert torch.get_num_threads() == 1
        assert pin_threads(2) == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("bad", "error"), [(0, ValueError), (-1, ValueError),
                                            (1.5, TypeError), (True, TypeError), ("2", TypeError)])
def test_pin_threads_refuses_a_bad_count(bad, error) -> None:
    from lenet.train import pin_threads

    with pytest.raises(error, match="threads="):
        pin_threads(bad)


# ------------------------------------------------------------------ wrong results, refused
def _fit(train, **kwargs):
    return fit(LeNet(), train, **{"epochs": 1, "progress": False, "device": "cpu", **kwargs})


@pytest.mark.parametrize(("train", "kwargs", "error", "name"), [
    pytest.param((torch.rand(8, 1, 28, 28), torch.zeros(6, dtype=torch.long)), {}, ValueError,
                 "train[1]", id="lengths-differ"),
    pytest.param((torch.rand(0, 1, 28, 28), torch.zeros(0, dtype=torch.long)), {}, ValueError,
                 "train[0]", id="empty"),
    pytest.param((torch.rand(8, 1, 28, 28).numpy(), torch.zeros(8, dtype=torch.long)), {},
                 TypeError, "train[0]", id="numpy-images"),
    pytest.param((torch.rand(8, 1, 28, 28), torch.zeros(8, dtype=torch.long).numpy()), {},
                 TypeError, "train[1]", id="numpy-labels"),
    pytest.param((torch.zeros(8, 1, 28, 28, dtype=torch.uint8), torch.zeros(8, dtype=torch.long)),
                 {}, TypeError, "train[0]", id="uint8-images"),
    pytest.param((torch.rand(8, 1, 28, 28), torch.zeros(8)), {}, TypeError, "train[1]",
                 id="float-labels"),
    pytest.param(_data(n=8), {"lr": float("nan")}, ValueError, "lr", id="lr-nan"),
    pytest.param(_data(n=8), {"lr": float("inf")}, ValueError, "lr", id="lr-inf"),
    pytest.param(_data(n=8), {"lr": 0.0}, ValueError, "lr", id="lr-zero"),
    pytest.param(_data(n=8), {"lr": [0.1, float("nan")], "epochs": 2}, ValueError, "lr[1]",
                 id="lr-list-nan"),
    pytest.param(_data(n=8), {"test": _data(n=0)}, ValueError, "test[0]", id="empty-test"),
])
def test_fit_refuses_inputs_that_used_to_train_silently(train, kwargs, error, name):
    with pytest.raises(error) as info:
        _fit(train, **kwargs)
    assert name in str(info.value)


def test_float64_images_into_a_float32_model_are_cast():
    x, y = _data(n=32)
    seed_everything(0)
    a = _fit((x, y), seed=0)
    seed_everything(0)
    b = _fit((x.double(), y), seed=0)
    assert a == b


@pytest.mark.parametrize(("kwargs", "name"), [({"batch_size": 0}, "batch_size"),
                                              ({"labels": torch.zeros(3, dtype=torch.long)},
                                               "labels")])
def test_evaluate_refuses_a_bad_batch_size_or_labels(kwargs, name):
    x, y = _data(n=8)
    with pytest.raises(ValueError, match=name):
        evaluate(LeNet(), x, kwargs.pop("labels", y), **kwargs)


@pytest.mark.parametrize("training", [True, False])
def test_predict_puts_the_model_back_in_its_mode(training):
    model = LeNet().train(training)
    predict(model, _data(n=4)[0])
    assert model.training is training


def test_train_acc_counts_the_predicted_class():
    """Labels are the model's own predictions and the step is ~0: train_acc must be 1."""
    x, _ = _data(n=64)
    seed_everything(0)
    model = LeNet()
    y = predict(model, x).argmax(1)
    history = fit(model, (x, y), epochs=1, lr=1e-30, batch_size=16, progress=False, device="cpu")
    assert history.train_acc == [1.0]


def test_on_epoch_is_called_as_each_epoch_ends():
    seen = []
    _fit(_data(n=16), epochs=3, on_epoch=lambda epoch, h: seen.append((epoch, h.epochs)))
    assert seen == [(1, 1), (2, 2), (3, 3)]


def test_fit_refuses_to_overwrite_a_checkpoint_unless_told(tmp_path):
    path = tmp_path / "run.pt"
    _fit(_data(n=16), checkpoint=path)
    with pytest.raises(FileExistsError, match="checkpoint"):
        _fit(_data(n=16), checkpoint=path)
    _fit(_data(n=16), checkpoint=path, overwrite=True)


@pytest.mark.parametrize(("change", "says"), [
    ({"optimizer": "adam", "lr": 1e-3}, "optimizer"),
    ({"batch_size": 8}, "batch_size"),
    ({"lr": 0.05}, "lr"),
    ({"train": _data(n=12)}, "train_examples"),
    ({"schedule": "onecycle"}, "schedule"),
    ({"seed": 1}, "seed"),
])
def test_resume_with_other_settings_is_refused_naming_them(tmp_path, change, says):
    from lenet.checkpoint import CheckpointError

    path = tmp_path / "run.pt"
    base = {"train": _data(n=16), "lr": 0.1, "checkpoint": path, "batch_size": 4}
    _fit(**base)
    with pytest.raises(CheckpointError, match=says):
        _fit(**{**base, **change, "resume": True, "epochs": 2})


def test_resume_refuses_another_format_version_and_weights_files(tmp_path):
    from lenet.checkpoint import CheckpointError, save_weights

    path = tmp_path / "run.pt"
    _fit(_data(n=16), checkpoint=path)
    state = torch.load(path, weights_only=True)
    torch.save({**state, "format": 1}, path)
    with pytest.raises(CheckpointError, match="format version 1"):
        _fit(_data(n=16), checkpoint=path, resume=True, epochs=2)
    save_weights(LeNet(), path)
    with pytest.raises(CheckpointError, match="weights"):
        _fit(_data(n=16), checkpoint=path, resume=True, epochs=2)


def test_a_killed_writes_temporary_file_is_removed_by_the_next_write(tmp_path):
    path = tmp_path / "run.pt"
    stale = tmp_path / ".run.x1y2z3.tmp.pt"  # what SIGKILL mid-write leaves
    stale.write_bytes(b"half")
    _fit(_data(n=16), checkpoint=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


@pytest.mark.parametrize("make", ["affine", "shift"])
def test_every_augment_resumes_exactly_through_its_state(tmp_path, make):
    """RandomAffine and RandomShift share one protocol: state() / set_state()."""
    from lenet.augment import RandomAffine, random_shift

    x, y = _data(n=64)

    def run(epochs: int, resume: bool):
        seed_everything(0)
        model = LeNet()
        augment = RandomAffine(seed=1) if make == "affine" else random_shift(
            3, torch.Generator().manual_seed(1))
        history = fit(model, (x, y), epochs=epochs, lr=0.1, batch_size=32, progress=False,
                      device="cpu", augment=augment, checkpoint=tmp_path / "run.pt",
                      resume=resume, overwrite=not resume)
        return history, model.state_dict()

    full, full_state = run(2, resume=False)
    run(1, resume=False)
    resumed, resumed_state = run(2, resume=True)
    assert resumed == full
    for key, value in full_state.items():
        assert torch.equal(value, resumed_state[key])


def test_progress_shows_speed_on_a_terminal_and_no_timings_elsewhere(monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    # (tqdm redraws at most every 0.1 s: only its first frame is certain to be drawn)
    for stream, wanted, unwanted in ((Terminal(), ("img/s", "epoch 1/2", "/128"), ()),
                                     (io.StringIO(), ("2/2 epochs", "train acc"),
                                      ("img/s", "it/s", "<"))):
        monkeypatch.setattr(sys, "stderr", stream)
        _fit(_data(n=64), epochs=2, batch_size=16, progress=True)
        out = stream.getvalue()
        assert all(w in out for w in wanted), out
        assert not any(u in out for u in unwanted), out
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    _fit(_data(n=64), epochs=2, batch_size=16, progress=False)
    assert quiet.getvalue() == ""


def test_resume_with_onecycle_restores_the_schedule_and_matches_an_uninterrupted_run(tmp_path):
    """A resumed onecycle run continues the learning-rate schedule where it stopped (the
    scheduler's state is in the checkpoint), so it ends exactly like the uninterrupted run."""
    x, y = _data(n=96)

    class Killed(Exception):
        pass

    def kill_after_one_epoch(epoch: int, history) -> None:
        if epoch == 1:
            raise Killed

    def run(resume: bool, on_epoch=None):
        seed_everything(0)
        model = LeNet()
        history = fit(model, (x, y), epochs=3, lr=0.1, batch_size=32, progress=False,
                      device="cpu", schedule="onecycle", checkpoint=tmp_path / "run.pt",
                      resume=resume, overwrite=not resume, on_epoch=on_epoch)
        return history, model.state_dict()

    full, full_state = run(resume=False)
    with pytest.raises(Killed):
        run(resume=False, on_epoch=kill_after_one_epoch)   # its checkpoint holds epoch 1
    resumed, resumed_state = run(resume=True)
    assert resumed.lr == full.lr and resumed == full
    for key, value in full_state.items():
        assert torch.equal(value, resumed_state[key])


def test_resume_from_a_missing_checkpoint_trains_every_epoch(tmp_path, capsys):
    x, y = _data(n=64)
    seed_everything(0)
    fresh = fit(LeNet(), (x, y), epochs=2, lr=0.1, batch_size=32, progress=False, device="cpu")
    seed_everything(0)
    resumed = fit(LeNet(), (x, y), epochs=2, lr=0.1, batch_size=32, progress=False,
                  device="cpu", checkpoint=tmp_path / "none.pt", resume=True)
    assert resumed == fresh and len(resumed.train_loss) == 2
    assert "no checkpoint" in capsys.readouterr().err

"""The benchmark scripts: the Performance appendix is generated from the committed results,
and the accelerator benchmark runs end to end (on the CPU here) with the keys it promises."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch

from benchmarks import cpu, gpu, report
from lenet.models import LeNet, LeNet5
from lenet.summary import summary


def test_performance_page_is_generated_from_the_committed_results():
    page = report.PAGE.read_text(encoding="utf-8")
    assert page == report.render(), (
        "book/performance.md is stale: run `python -m benchmarks.report` after changing "
        "results/*.json or benchmarks/report.py")


def test_performance_page_quotes_the_recorded_speedup():
    cpu = json.loads((report.RESULTS / "cpu_benchmarks.json").read_text())
    assert f"{cpu['trainer_speedup_vs_baseline']:.2f}x" in report.render()


@pytest.mark.usefixtures("mnist_root")
def test_gpu_benchmark_runs_on_the_cpu_and_prints_its_keys(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    result = gpu.main(["--device", "cpu", "--max-epochs", "2", "--train-size", "512",
                       "--batch-size", "128", "--throughput-batch-size", "256",
                       "--repeats", "1", "--out", str(out)])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads(out.read_text()) == result
    assert {"device", "seconds_to_99", "epochs_to_99", "compile_s", "train_images_per_s",
            "final_test_acc"} <= set(result)
    assert result["device"].startswith("cpu") and result["compile_s"] == 0.0
    assert result["train_images_per_s"] > 0
    assert result["seconds_to_99"] is None or result["seconds_to_99"] > 0


def test_training_flops_per_image_are_six_times_the_connections():
    # The stated convention: forward = 2 FLOPs per connection, forward + backward = 3x.
    assert cpu.train_flops_per_image(LeNet5(), LeNet5.input_size) == 6 * 340_908
    assert cpu.train_flops_per_image(LeNet(), LeNet.input_size) == 6 * summary(
        LeNet(), (1, 1, 28, 28)).total_connections
    assert "6xconn" not in cpu.FLOP_CONVENTION and "3 x 2 x connections" in cpu.FLOP_CONVENTION


def test_d2l_lenet_has_lenet_models_layers():
    assert [p.shape for p in cpu.d2l_lenet().parameters()] == [
        p.shape for p in LeNet().parameters()]


@pytest.mark.parametrize("argv, message", [
    (["--images", "1024"], "d2l's train_ch6 needs 5 batches"),
    (["--levers", "compile,warp"], "unknown ['warp']"),
])
def test_cpu_benchmark_refuses_bad_options_before_running(argv, message, capsys):
    with pytest.raises(SystemExit):
        cpu.main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.usefixtures("mnist_root")
def test_a_failing_compile_lever_is_reported_not_raised(monkeypatch):
    def no_compiler(model, *args, **kwargs):
        raise RuntimeError("no C++ compiler\nsecond line")

    monkeypatch.setattr(torch, "compile", no_compiler)
    threads = torch.get_num_threads()
    result = cpu.bench_levers(64, 1, 1, ("compile", "threads"), (1, 2))
    torch.set_num_threads(threads)
    assert result["errors"] == {"compile": "RuntimeError: no C++ compiler"}
    assert set(result["speedups_vs_fast_path"]) == {"threads_2"}
    assert result["train_acc_last_epoch"].keys() == {"fast_path", "threads_2"}


@pytest.mark.usefixtures("mnist_root")
def test_each_levers_accuracy_run_starts_from_the_timed_runs_initial_weights(monkeypatch):
    """After the timed runs have trained the weights, each accuracy run starts again from
    the same initial weights, with the accuracy recipe."""
    import lenet.train

    real_fit, calls = lenet.train.fit, []

    def spy(model, *args, **kwargs):
        weights = float(sum(p.detach().double().sum() for p in model.parameters()))
        calls.append((kwargs.get("optimizer", "sgd"), kwargs["epochs"], weights))
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(lenet.train, "fit", spy)   # bench_levers imports fit when it runs
    monkeypatch.setattr(cpu, "ACCURACY_RECIPE", {"optimizer": "adam", "lr": 0.01, "epochs": 2})
    threads = torch.get_num_threads()
    try:
        result = cpu.bench_levers(64, 2, 1, ("threads",), (1, 2))
    finally:
        torch.set_num_threads(threads)
    timed = [c for c in calls if c[0] == "sgd"]
    again = [c for c in calls if c[0] == "adam"]
    assert len(again) == 2 and all(epochs == 2 for _, epochs, _ in again)
    assert len({w for *_, w in timed}) > 1   # the timed runs trained the weights on
    assert again[0][2] == again[1][2] == timed[0][2]   # each restarts from the same weights
    assert set(result["train_acc_last_epoch"]) == {"fast_path", "threads_2"}


def test_the_avgpool_lever_computes_lenets_average_pooling():
    """The avgpool lever times LeNet with its pools computed as a depthwise convolution: the
    same averages and gradients as nn.AvgPool2d (channels_last, as in the fast path)."""
    torch.manual_seed(0)
    plain = LeNet().to(memory_format=torch.channels_last)
    torch.manual_seed(0)
    depthwise = cpu.lenet_with_depthwise_avgpool().to(memory_format=torch.channels_last)
    assert sum(isinstance(m, cpu.DepthwiseAvgPool2d) for m in depthwise.modules()) == 2
    x = torch.rand(8, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    for model in (plain, depthwise):
        model(x).square().sum().backward()
    torch.testing.assert_close(depthwise(x), plain(x), rtol=1e-5, atol=1e-6)
    for a, b in zip(depthwise.parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.usefixtures("mnist_root")
def test_the_malloc_lever_runs_each_setting_in_fresh_processes():
    """reuse_memory cannot be undone in a process, so its lever times the fast path with
    and without it in processes of their own; the fast path here reuses memory."""
    result = cpu.bench_levers(300, 1, 1, ("malloc",), ())
    fresh = result["fresh_processes"]
    assert set(fresh["seconds"]) == {"fast_path", "malloc_defaults"}
    assert result["speedups_vs_fast_path"]["malloc_defaults"] == fresh["speedup_vs_fast_path"]
    assert 0.1 < fresh["speedup_vs_fast_path"] < 10
    assert result["train_acc_last_epoch"].keys() == {"fast_path"}   # malloc: the same maths
    assert result["errors"] == {}


@pytest.mark.usefixtures("mnist_root")
def test_the_step_floor_times_batches_of_one_against_full_batches(monkeypatch):
    """bench_step_floor divides each run's training seconds by its own number of steps:
    FLOOR_STEPS steps of one image, and ceil(images / 256) full batches."""
    monkeypatch.setattr(cpu, "FLOOR_STEPS", 16)
    threads = torch.get_num_threads()
    result = cpu.bench_step_floor(600, 2, 1)
    torch.set_num_threads(threads)
    assert result["steps"] == {1: 16, 256: 3}
    step_1, step_256 = result["step_s"]["1"], result["step_s"]["256"]
    assert 0 < step_1 < step_256   # a batch of 256 costs more than a batch of 1
    assert result["fixed_fraction"] == pytest.approx(step_1 / step_256)


def test_the_wait_policies_run_d2l_and_fit_in_fresh_processes_of_each_policy(monkeypatch):
    """Each policy's comparison runs in a process of its own, whose environment sets
    OMP_WAIT_POLICY=ACTIVE or leaves it unset (whatever this process has)."""
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    seen = []

    def fake_run(cmd, cwd, env, check, capture_output, text):
        seen.append((env.get("OMP_WAIT_POLICY"), cmd[-5:]))
        fit_s = 1.0 if env.get("OMP_WAIT_POLICY") == "ACTIVE" else 1.2
        result = {"seconds": {"fit_fast_path": {"median": fit_s},
                              "d2l_train_ch6": {"median": 6.0}}, "speedup": 6.0 / fit_s}
        return subprocess.CompletedProcess(cmd, 0, "log line\n" + json.dumps(result), "")

    monkeypatch.setattr(cpu.subprocess, "run", fake_run)
    out = cpu.bench_wait_policies(1000, 200, 2, 3, 2)
    assert seen == [(None, ["1000", "200", "2", "3", "2"]),
                    ("ACTIVE", ["1000", "200", "2", "3", "2"])]
    assert out["speedup_vs_d2l"] == {"default": 5.0, "ACTIVE": 6.0}
    assert out["fit_active_vs_default"] == pytest.approx(1.2)
    assert out["d2l_active_vs_default"] == 1.0
    assert cpu.omp_wait_policy() == "PASSIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert cpu.omp_wait_policy() == "default"
    assert "wait" in cpu.LEVERS


def test_the_kernel_benchmark_starts_and_stops_both_kernels():
    k = cpu.bench_kernel(repeats=1)
    assert set(k) == {"project", "plain"}
    for name in k:
        assert set(k[name]) == {"ready_s", "exit_s", "repeats"}
        assert k[name]["repeats"] == 1
        assert 0 < k[name]["ready_s"] < 120 and 0 < k[name]["exit_s"] < 120

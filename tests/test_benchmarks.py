"""The benchmark scripts: the Performance appendix is generated from the committed results,
and the accelerator benchmark runs end to end (on the CPU here) with the keys it promises."""

from __future__ import annotations

import json

import pytest

from benchmarks import gpu, report


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

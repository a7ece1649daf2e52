"""Accelerator benchmark: seconds for LeNetModern to reach 99% test accuracy, and LeNet-5's
training throughput, on the device's fast path (:func:`lenet.train.fast_path`).

    python -m benchmarks.gpu                      # on the best device: CUDA, MPS or the CPU
    python -m benchmarks.gpu --out results/gpu_benchmarks.json

On the CPU it runs too (channels_last, and bfloat16 where the CPU has it natively),
printing the same keys. The last line is one JSON object: ``device``, ``seconds_to_99`` (training seconds, evaluation and
compilation excluded; null if 99% was not reached in ``--max-epochs``), ``compile_s``
(extra seconds of the first, compiling step), ``epochs_to_99``, ``train_images_per_s``
(LeNet-5, the second epoch of a two-epoch run, so compilation is excluded; median of
``--repeats``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
from pathlib import Path

import torch

from lenet.checkpoint import atomic_save_json
from lenet.data import load_mnist
from lenet.layers import map_loss
from lenet.models import LeNet5, LeNetModern, lenet5_input
from lenet.train import fast_path, fit, pick_device, seed_everything


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"{dev.type} ({os.cpu_count()} cores, torch threads: {torch.get_num_threads()})"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--throughput-batch-size", type=int, default=4096,
                        help="LeNet-5's batch for the images/s measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--train-size", type=int, default=60000, help="a subset, for a smoke run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    dev = pick_device(args.device)
    fast = fast_path(dev)
    train, test = load_mnist("train").take(args.train_size), load_mnist("test")
    data = (train.images, train.labels), (test.images, test.labels)

    seed_everything(0)
    timings: dict = {}
    history = fit(LeNetModern(), *data, epochs=args.max_epochs, lr=3e-3,
                  batch_size=args.batch_size, optimizer="adam", schedule="onecycle",
                  device=dev, progress=False, timings=timings, **fast)
    steady = statistics.median(timings["epoch_s"][1:]) if args.max_epochs > 1 else None
    compile_s = max(0.0, timings["epoch_s"][0] - steady) if (steady and fast["compile"]) else 0.0
    hit = next((k for k, acc in enumerate(history.test_acc) if acc >= 0.99), None)
    seconds_to_99 = None if hit is None else sum(timings["epoch_s"][:hit + 1]) - compile_s

    rates = []
    for r in range(args.repeats):
        seed_everything(r)
        t: dict = {}
        # two epochs: the first compiles (on CUDA), the second is timed
        fit(LeNet5(), data[0], epochs=2, lr=1e-3, batch_size=args.throughput_batch_size,
            momentum=0.9, loss_fn=functools.partial(map_loss, j=1.0), transform=lenet5_input,
            device=dev, progress=False, timings=t, **fast)
        rates.append(len(data[0][1]) / t["epoch_s"][1])
    result = {"device": device_name(dev), "seconds_to_99": seconds_to_99,
              "epochs_to_99": None if hit is None else hit + 1, "compile_s": compile_s,
              "final_test_acc": history.test_acc[-1],
              "train_images_per_s": statistics.median(rates),
              "train_images_per_s_min_max": [min(rates), max(rates)],
              "flags": fast, "batch_size": args.batch_size,
              "throughput_batch_size": args.throughput_batch_size, "torch": torch.__version__,
              "command": "python -m benchmarks.gpu " + " ".join(
                  argv if argv is not None else sys.argv[1:])}
    if args.out is not None:
        atomic_save_json(result, args.out)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

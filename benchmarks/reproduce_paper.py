"""Train the faithful LeNet-5 (with and without the paper's distortions, and with SDLM)
and LeNetModern on full MNIST, and write ``results/paper_results.json``.

    python -m benchmarks.reproduce_paper                 # all four runs (about 40-70 min on 2 cores)
    python -m benchmarks.reproduce_paper --runs lenet5   # one run; the others are kept
    python -m benchmarks.merge_results a.json b.json     # runs made in parallel, one file

The file is rewritten atomically after every run, so an interrupted command loses at most
the run in progress. Chapter 8 reads it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from lenet.checkpoint import atomic_save_json
from lenet.data import load_mnist
from lenet.layers import map_loss
from lenet.models import LeNet5, LeNetModern, lenet5_input
from lenet.paper import PAPER_RECIPE, SDLM_RECIPE, RandomAffine
from lenet.train import fit, pick_device, seed_everything

RESULTS = Path(__file__).resolve().parent.parent / "results" / "paper_results.json"
RUNS = ("lenet5", "lenet_modern", "lenet5_distorted", "lenet5_sdlm")
MODERN = {"epochs": 15, "lr": 5e-3, "batch_size": 128, "optimizer": "adam",
          "schedule": "onecycle", "augment": "RandomAffine(seed=1)"}


def run(name: str, seed: int, epochs: int | None, scale: float | None = None,
        copies: int = 0) -> dict:
    """Train one configuration from scratch; return its result record.

    With ``copies`` K > 0 (distorted runs only), a pass covers the training set K + 1 times,
    each image distorted with probability K / (K + 1): on average the originals plus K
    distorted copies of each, as in the paper's set of 60,000 originals and 540,000
    distortions (K = 9).
    """
    train, test = load_mnist("train"), load_mnist("test")
    images, labels = train.images, train.labels
    if copies:
        if name != "lenet5_distorted":
            raise ValueError(f"--copies applies to lenet5_distorted only, not {name}")
        images, labels = images.repeat(copies + 1, 1, 1, 1), labels.repeat(copies + 1)
    seed_everything(seed)
    if name == "lenet_modern":
        cfg = dict(MODERN, epochs=epochs or MODERN["epochs"])
        model, kwargs = LeNetModern(), {
            "epochs": cfg["epochs"], "lr": cfg["lr"], "batch_size": cfg["batch_size"],
            "optimizer": cfg["optimizer"], "schedule": cfg["schedule"], "augment": RandomAffine(seed=1)}
    else:
        overrides = {k: v for k, v in (("epochs", epochs), ("scale", scale)) if v is not None}
        base = SDLM_RECIPE if name == "lenet5_sdlm" else PAPER_RECIPE
        recipe = type(base)(**{**base.as_dict(), **overrides})
        cfg = dict(recipe.as_dict(), lr=recipe.lr(), loss="map_loss", transform="lenet5_input",
                   optimizer="sgd" if recipe.mu is None else "sdlm")
        model, kwargs = LeNet5(), {
            "epochs": recipe.epochs, "lr": recipe.lr(), "batch_size": recipe.batch_size,
            "momentum": recipe.momentum, "optimizer": recipe.optimizer(),
            "loss_fn": functools.partial(map_loss, j=recipe.j), "transform": lenet5_input}
        if name == "lenet5_distorted":
            augment = RandomAffine(seed=1, p=copies / (copies + 1) if copies else 1.0)
            cfg["augment"], cfg["copies"] = repr(augment) + " (seed=1)", copies
            kwargs["augment"] = augment
    start = time.perf_counter()
    history = fit(model, (images, labels), (test.images, test.labels),
                  seed=seed, **kwargs)
    wall = time.perf_counter() - start
    return {"model": type(model).__name__, "config": cfg, "seed": seed,
            "epochs": history.epochs, "test_error": 1 - history.test_acc[-1],
            "best_test_error": 1 - max(history.test_acc), "wall_s": wall,
            "history": history.as_dict()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument("--epochs", type=int, default=None, help="override (for a quick check)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=None,
                        help="LeNet-5 runs: multiply the paper's rates by this instead")
    parser.add_argument("--copies", type=int, default=0,
                        help="lenet5_distorted: originals plus this many distorted copies per "
                             "pass (the paper used 9); 0 distorts every image once per pass")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest for LeNet-sized batches)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = json.loads(args.out.read_text()) if args.out.exists() else {"runs": {}}
    device = pick_device()
    for name in args.runs:
        record = run(name, args.seed, args.epochs, args.scale, args.copies)
        record.update(device=str(device), machine=f"{platform.machine()}, {os.cpu_count()} cores",
                      torch=torch.__version__, threads=torch.get_num_threads(),
                      command="python -m benchmarks.reproduce_paper --runs " + name
                      + (f" --epochs {args.epochs}" if args.epochs else "")
                      + (f" --scale {args.scale:g}" if args.scale else "")
                      + (f" --copies {args.copies}" if args.copies else ""))
        key = name + (f"_scale{args.scale:g}" if args.scale and name != "lenet_modern" else "")
        key += f"_copies{args.copies}" if args.copies else ""
        data["runs"][key] = record
        atomic_save_json(data, args.out)
        print(f"{name}: test error {record['test_error']:.4f} after {record['epochs']} epochs, "
              f"{record['wall_s']:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

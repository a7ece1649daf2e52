"""Train the faithful LeNet-5 (with and without the paper's distortions, and with SDLM)
and LeNetModern on MNIST, and record the runs in ``lenet/results/*.json``.

    python -m benchmarks.reproduce_paper                 # all four runs (about 40-70 min on 2 cores)
    python -m benchmarks.reproduce_paper --runs lenet5   # one run; the others are kept
    python -m benchmarks.reproduce_paper --runs lenet5 --validation 10000
    python -m benchmarks.reproduce_paper --runs lenet5 --train-size 5000
    python -m benchmarks.merge_results a.json b.json     # runs made elsewhere, one file

Three files, one per kind of run, each a ``{"runs": {key: record}}`` dictionary:

* ``paper_results.json``: trained on all 60,000 training digits, evaluated on the 10,000
  test digits after every pass; the record holds the final ``test_error`` and the test-set
  predictions (``test_predictions``, a string of 10,000 digits).
* ``paper_validation.json`` (``--validation N``): trained on the first ``60,000 - N``
  training digits and evaluated on the last ``N``: ``val_error`` and its history, and no
  test-set number at all. Chapter 8 chooses between variants with these.
* ``paper_sweep.json`` (``--train-size N``): trained on the first ``N`` training digits,
  evaluated on the test set: error against training-set size.

A file is updated atomically after every run, under a lock, so runs made in parallel
(one process each) add their records to the same file, and an interrupted command loses at
most the run in progress. The files live inside the ``lenet`` package
(:func:`lenet.paper.load_results` reads them), so an installed package has them too.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

import lenet
from lenet.checkpoint import atomic_save_json
from lenet.data import load_mnist
from lenet.layers import map_loss
from lenet.models import LeNet5, LeNetModern, lenet5_input
from lenet.paper import PAPER_RECIPE, SDLM_RECIPE, RandomAffine
from lenet.train import fit, pick_device, pin_threads, predict, seed_everything

RESULTS_DIR = Path(lenet.__file__).resolve().parent / "results"
RESULTS = RESULTS_DIR / "paper_results.json"
VALIDATION = RESULTS_DIR / "paper_validation.json"
SWEEP = RESULTS_DIR / "paper_sweep.json"
RUNS = ("lenet5", "lenet_modern", "lenet5_distorted", "lenet5_sdlm")
MODERN = {"epochs": 15, "lr": 5e-3, "batch_size": 128, "optimizer": "adam",
          "schedule": "onecycle", "augment": "RandomAffine(seed=1)"}
TRAIN_DIGITS = 60_000


def split(validation: int = 0, train_size: int | None = None):
    """``(train, evaluation)`` pairs of ``(images, labels)``: the test set, or with
    ``validation`` N the last N training digits (trained on the others). ``train_size``
    keeps only the first digits of the training part."""
    train = load_mnist("train")
    if not 0 <= validation < TRAIN_DIGITS:
        raise ValueError(f"validation must be in [0, {TRAIN_DIGITS}), got {validation}")
    cut = TRAIN_DIGITS - validation
    if train_size is not None and not 0 < train_size <= cut:
        raise ValueError(f"train_size must be in [1, {cut}], got {train_size}")
    keep = cut if train_size is None else train_size
    fit_set = (train.images[:keep], train.labels[:keep])
    if validation:
        return fit_set, (train.images[cut:], train.labels[cut:])
    test = load_mnist("test")
    return fit_set, (test.images, test.labels)


def run(name: str, seed: int, epochs: int | None, scale: float | None = None,
        copies: int = 0, validation: int = 0, train_size: int | None = None) -> dict:
    """Train one configuration from scratch; return its result record.

    With ``copies`` K > 0 (distorted runs only), a pass covers the training set K + 1 times,
    each image distorted with probability K / (K + 1): on average the originals plus K
    distorted copies of each, as in the paper's set of 60,000 originals and 540,000
    distortions (K = 9). With ``validation`` N > 0 the evaluation set is the last N
    training digits, and the record says ``val_error``, never ``test_error``.
    """
    (images, labels), (eval_images, eval_labels) = split(validation, train_size)
    if copies:
        if name != "lenet5_distorted":
            raise ValueError(f"--copies applies to lenet5_distorted only, not {name}")
        images, labels = images.repeat(copies + 1, 1, 1, 1), labels.repeat(copies + 1)
    seed_everything(seed)
    transform = None
    if name == "lenet_modern":
        cfg = dict(MODERN, epochs=epochs or MODERN["epochs"])
        model, kwargs = LeNetModern(), {
            "epochs": cfg["epochs"], "lr": cfg["lr"], "batch_size": cfg["batch_size"],
            "optimizer": cfg["optimizer"], "schedule": cfg["schedule"],
            "augment": RandomAffine(seed=1)}
    else:
        overrides = {k: v for k, v in (("epochs", epochs), ("scale", scale)) if v is not None}
        base = SDLM_RECIPE if name == "lenet5_sdlm" else PAPER_RECIPE
        recipe = type(base)(**{**base.as_dict(), **overrides})
        cfg = dict(recipe.as_dict(), lr=recipe.lr(), loss="map_loss", transform="lenet5_input",
                   optimizer="sgd" if recipe.mu is None else "sdlm")
        transform = lenet5_input
        model, kwargs = LeNet5(), {
            "epochs": recipe.epochs, "lr": recipe.lr(), "batch_size": recipe.batch_size,
            "momentum": recipe.momentum, "optimizer": recipe.optimizer(),
            "loss_fn": functools.partial(map_loss, j=recipe.j), "transform": transform}
        if name == "lenet5_distorted":
            augment = RandomAffine(seed=1, p=copies / (copies + 1) if copies else 1.0)
            cfg["augment"], cfg["copies"] = repr(augment) + " (seed=1)", copies
            kwargs["augment"] = augment
    cfg["train_digits"] = len(labels) // (copies + 1)
    start = time.perf_counter()
    # a sweep run is evaluated once, at the end (a small set trains faster than it tests)
    per_pass = None if train_size else (eval_images, eval_labels)
    history = fit(model, (images, labels), per_pass, seed=seed, **kwargs)
    wall = time.perf_counter() - start
    record = {"model": type(model).__name__, "config": cfg, "seed": seed,
              "epochs": history.epochs, "wall_s": wall}
    hist = history.as_dict()
    if validation:
        hist["val_acc"] = hist.pop("test_acc")
        record.update(validation_digits=validation,
                      val_error=1 - history.test_acc[-1],
                      best_val_error=1 - max(history.test_acc), history=hist)
    else:
        preds = predict(model, eval_images, transform=transform).argmax(1).cpu()
        error = int((preds != eval_labels).sum()) / len(eval_labels)
        record.update(test_error=error, history=hist,
                      test_predictions="".join(str(int(p)) for p in preds))
        if not train_size:
            record["best_test_error"] = 1 - max(history.test_acc)
    return record


def update(path: Path, key: str, record: dict) -> None:
    """Add ``record`` under ``key`` to the runs in ``path``, rewriting it atomically while
    holding a lock on its folder, so parallel processes never lose each other's runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {"runs": {}}
        data["runs"][key] = record
        atomic_save_json(data, path)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def run_key(name: str, scale: float | None, copies: int, train_size: int | None) -> str:
    """``lenet5``, ``lenet5_scale2``, ``lenet5_distorted_copies2``, ``lenet5_n5000``, ..."""
    key = name + (f"_scale{scale:g}" if scale and name != "lenet_modern" else "")
    key += f"_copies{copies}" if copies else ""
    return key + (f"_n{train_size}" if train_size else "")


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
    parser.add_argument("--validation", type=int, default=0, metavar="N",
                        help="train on the first 60,000 - N training digits, evaluate on the "
                             "last N; records val_error (no test numbers) in "
                             + VALIDATION.name)
    parser.add_argument("--train-size", type=int, default=None, metavar="N",
                        help="train on the first N training digits only; records the test "
                             "error in " + SWEEP.name)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"default: {RESULTS.name}, or the file named above")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest for LeNet-sized batches)")
    args = parser.parse_args(argv)
    if args.validation and args.train_size:
        parser.error("--validation and --train-size are separate experiments")
    out = args.out or (VALIDATION if args.validation else SWEEP if args.train_size
                       else RESULTS)
    pin_threads(args.threads)
    device = pick_device()
    for name in args.runs:
        record = run(name, args.seed, args.epochs, args.scale, args.copies,
                     args.validation, args.train_size)
        record.update(device=str(device), machine=f"{platform.machine()}, {os.cpu_count()} cores",
                      torch=torch.__version__, threads=torch.get_num_threads(),
                      command="python -m benchmarks.reproduce_paper --runs " + name
                      + (f" --epochs {args.epochs}" if args.epochs else "")
                      + (f" --scale {args.scale:g}" if args.scale else "")
                      + (f" --copies {args.copies}" if args.copies else "")
                      + (f" --validation {args.validation}" if args.validation else "")
                      + (f" --train-size {args.train_size}" if args.train_size else ""))
        update(out, run_key(name, args.scale, args.copies, args.train_size), record)
        metric = "val_error" if args.validation else "test_error"
        print(f"{name}: {metric} {record[metric]:.4f} after {record['epochs']} epochs, "
              f"{record['wall_s']:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

"""Command line: ``python -m lenet {summary,train,data} ...``.

Bad flags print a usage message and exit with status 2; a bad value (a model name, a size)
prints one ``error:`` line naming it and exits with status 2. No tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .checkpoint import CheckpointError, atomic_save_json
from .data import DATASETS, CorruptDataError, DataUnavailableError, load_dataset
from .models import MODELS, get_model
from .summary import summary
from .train import default_recipe, evaluate, fast_path, fit, seed_everything

#: Errors that mean "bad input or environment": reported in one line, never as a traceback.
EXPECTED_ERRORS = (ValueError, TypeError, DataUnavailableError, CorruptDataError,
                   CheckpointError, OSError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lenet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("summary", help="per-layer shapes, parameters and connections")
    s.add_argument("model", choices=sorted(MODELS))
    s.add_argument("--input-size", type=int, nargs=3, metavar=("C", "H", "W"),
                   help="input size (default: the model's own)")

    t = sub.add_parser("train", help="train a model on MNIST, Fashion-MNIST or CIFAR-10")
    t.add_argument("--model", choices=sorted(MODELS), default="lenet-modern")
    t.add_argument("--dataset", choices=sorted(DATASETS), default="mnist",
                   help="cifar10 goes with the 3-channel models (cifar-net, cifar-net-deep)")
    t.add_argument("--data-root", help="data root (overrides $LENET_DATA)")
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--lr", type=float, default=None, help="learning rate (default per optimizer)")
    t.add_argument("--batch-size", type=int, default=256)
    t.add_argument("--optimizer", choices=["sgd", "adam"], default="adam")
    t.add_argument("--schedule", choices=["constant", "onecycle"], default="constant")
    t.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    t.add_argument("--checkpoint", type=Path, default=None, help="checkpoint written every epoch")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    t.add_argument("--history", type=Path, default=None, help="write the history as JSON here")
    t.add_argument("--fast", action="store_true",
                   help="the device's fast path: channels_last, bfloat16 autocast where the "
                        "device has it natively, torch.compile on CUDA")
    t.add_argument("--no-progress", action="store_true")

    d = sub.add_parser("data", help="say where the data comes from")
    d.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    d.add_argument("--data-root", default=None)
    d.add_argument("--no-download", action="store_true")
    return parser


def run_summary(args: argparse.Namespace) -> None:
    if args.input_size is not None and min(args.input_size) < 1:
        raise ValueError(f"--input-size must be three positive ints C H W, "
                         f"got {' '.join(map(str, args.input_size))}")
    model = get_model(args.model)
    print(summary(model, args.input_size or model.input_size))


def run_train(args: argparse.Namespace) -> None:
    if args.resume and args.checkpoint is None:
        raise ValueError("--resume needs --checkpoint PATH")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    for flag in ("epochs", "batch_size"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.lr is not None and not args.lr > 0:
        raise ValueError(f"--lr must be > 0, got {args.lr}")
    _check_device(args.device)
    seed_everything(args.seed)  # the initial weights depend on the seed too, not just the shuffles
    model = get_model(args.model)
    transform, loss_fn = default_recipe(model)
    _check_pairing(args.model, model, transform, args.dataset)
    train = load_dataset(args.dataset, "train", args.data_root)
    test = load_dataset(args.dataset, "test", args.data_root)
    if args.limit:
        train = train.take(args.limit)
    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 0.1)
    print(f"training {args.model} on {train.source}: "
          f"{len(train):,} train / {len(test):,} test images")
    history = fit(model, (train.images, train.labels), (test.images, test.labels),
                  epochs=args.epochs, lr=lr, batch_size=args.batch_size, optimizer=args.optimizer,
                  schedule=args.schedule, loss_fn=loss_fn, transform=transform, device=args.device,
                  seed=args.seed, progress=not args.no_progress, checkpoint=args.checkpoint,
                  resume=args.resume, **(fast_path(args.device) if args.fast else {}))
    for epoch, (loss, acc) in enumerate(zip(history.train_loss, history.test_acc), start=1):
        print(f"epoch {epoch}: train loss {loss:.4f}, test accuracy {acc:.4f}")
    final = evaluate(model, test.images, test.labels, transform=transform)
    print(f"test accuracy {final:.4f} (error {100 * (1 - final):.2f}%)")
    if args.history is not None:
        atomic_save_json(history.as_dict(), args.history)


def _check_pairing(name: str, model, transform, dataset: str) -> None:
    """Refuse a model whose input the dataset's images (after its recipe) do not fit."""
    shape = DATASETS[dataset].image_shape
    try:
        fed = tuple(transform(torch.zeros(1, *shape)).shape[1:]) if transform else shape
    except ValueError:
        fed = None
    if fed != tuple(model.input_size):
        want = "x".join(map(str, model.input_size))
        fits = [d for d, spec in DATASETS.items()
                if spec.image_shape[0] == model.input_size[0]]
        raise ValueError(f"--model {name} takes {want} images; --dataset {dataset} has "
                         f"{'x'.join(map(str, shape))} images (use --dataset "
                         f"{' or '.join(fits)})")


def _check_device(device: str | None) -> None:
    """Refuse a device name torch does not know, or one this machine does not have."""
    if device is None:
        return
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device must be cpu, cuda, cuda:N or mps, got {device!r}") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None
                 and torch.backends.mps.is_available()}
    if not available.get(dev.type, False):
        raise ValueError(f"--device {device!r} is not available on this machine "
                         f"(available: {[k for k, v in available.items() if v]})")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"--device {device!r}: this machine has {torch.cuda.device_count()} "
                         f"CUDA device(s)")


def run_data(args: argparse.Namespace) -> None:
    for split in ("train", "test"):
        data = load_dataset(args.dataset, split, args.data_root, download=not args.no_download)
        print(f"{split}: {len(data):,} images from {data.source}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        {"summary": run_summary, "train": run_train, "data": run_data}[args.command](args)
    except EXPECTED_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0

"""Command line: ``python -m lenet {summary,train,data,predict} ...``.

Bad flags print a usage message and exit with status 2; a bad value (a model name, a size,
a file) prints one ``error:`` line naming it and exits with status 2. No tracebacks: an
unexpected error prints one ``error:`` line too (exit 1; ``LENET_DEBUG=1`` shows the
traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from tqdm.std import tqdm

from . import __version__
from .checkpoint import CheckpointError, apply_checkpoint, atomic_save_json, read_checkpoint
from .data import DATASETS, CorruptDataError, DataUnavailableError, data_root, load_dataset
from .models import MODELS, default_recipe, get_model
from .summary import summary
from .train import History, evaluate, fast_path, fit, predict, seed_everything

TRAIN_EXAMPLE = """example:
  python -m lenet train --model lenet-modern --epochs 2 --limit 10000 --checkpoint run.pt
  python -m lenet train --model lenet-modern --epochs 4 --limit 10000 --checkpoint run.pt --resume
  python -m lenet predict run.pt --index 0"""

#: Errors that mean "bad input or environment": reported in one line, never as a traceback.
EXPECTED_ERRORS = (ValueError, TypeError, DataUnavailableError, CorruptDataError,
                   CheckpointError, OSError)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's default in its help line; the epilog's example kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and action.option_strings:
            text += f" (default: {action.default})"
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lenet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lenet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("summary", help="per-layer shapes, parameters and connections")
    s.add_argument("model", choices=sorted(MODELS))
    s.add_argument("--input-size", type=int, nargs=3, metavar=("C", "H", "W"),
                   help="input size (default: the model's own)")

    t = sub.add_parser("train", help="train a model on MNIST, Fashion-MNIST or CIFAR-10",
                       formatter_class=_HelpFormatter,
                       epilog=TRAIN_EXAMPLE)
    t.add_argument("--model", choices=sorted(MODELS), default="lenet-modern", help="the network")
    t.add_argument("--dataset", choices=sorted(DATASETS), default="mnist",
                   help="cifar10 goes with the 3-channel models (cifar-net, cifar-net-deep)")
    t.add_argument("--data-root", help="data root (overrides $LENET_DATA)")
    t.add_argument("--epochs", type=int, default=5, help="passes over the training set")
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 0.001 for adam, 0.1 for sgd)")
    t.add_argument("--batch-size", type=int, default=256, help="images per step")
    t.add_argument("--optimizer", choices=["sgd", "adam"], default="adam", help="the optimizer")
    t.add_argument("--schedule", choices=["constant", "onecycle"], default="constant",
                   help="learning-rate schedule")
    t.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    t.add_argument("--seed", type=int, default=0,
                   help="seeds the initial weights and the shuffles")
    t.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    t.add_argument("--checkpoint", type=Path, default=None, help="checkpoint written every epoch")
    t.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint (same settings; --epochs may change with "
                        "--schedule constant)")
    t.add_argument("--overwrite", action="store_true",
                   help="replace an existing --checkpoint instead of refusing")
    t.add_argument("--history", type=Path, default=None, help="write the history as JSON here")
    t.add_argument("--fast", action="store_true",
                   help="the device's fast path: channels_last, bfloat16 autocast where the "
                        "device computes it fast (CUDA; a CPU whose bf16 matmul measures "
                        ">= 1.5x float32's), torch.compile on CUDA, and on "
                        "the CPU sigmoid+pool fused and (glibc) malloc keeping freed memory")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    d = sub.add_parser("data", help="print the data root and the datasets it holds")
    d.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                   help="also load this dataset and say where it comes from")
    d.add_argument("--data-root", default=None)
    d.add_argument("--no-download", action="store_true")

    p = sub.add_parser("predict", help="classify a PNG image or a test-set image with a "
                                       "checkpoint; prints the top 3 classes")
    p.add_argument("checkpoint", type=Path, help="a checkpoint written by train")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--image", type=Path, help="a PNG file (resized, grey or colour as the "
                                                 "model takes; a white digit on black for MNIST)")
    what.add_argument("--index", type=int, help="an image of the test set, by index")
    p.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                   help="class names and test set (default: the one the checkpoint was "
                        "trained on, else mnist)")
    p.add_argument("--data-root", default=None)
    return parser


def run_summary(args: argparse.Namespace) -> None:
    model = get_model(args.model)
    fixed = getattr(model, "input_size", None)   # the models of lenet.models take one size
    if args.input_size is not None and (min(args.input_size) < 1 or (
            fixed is not None and tuple(args.input_size) != tuple(fixed))):
        allowed = ("three positive ints C H W" if fixed is None else
                   f"{' '.join(map(str, fixed))} (C H W): {type(model).__name__} takes "
                   f"{'x'.join(map(str, fixed))} images")
        raise ValueError(f"--input-size={' '.join(map(str, args.input_size))}: must be "
                         f"{allowed}")
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
          f"{len(train):,} train / {len(test):,} test images", flush=True)

    def report(epoch: int, history: History) -> None:  # as each epoch ends, above the bar
        tqdm.write(f"epoch {epoch}: train loss {history.train_loss[-1]:.4f}, "
                   f"test accuracy {history.test_acc[-1]:.4f}", file=sys.stdout)
        sys.stdout.flush()

    history = fit(model, (train.images, train.labels), (test.images, test.labels),
                  epochs=args.epochs, lr=lr, batch_size=args.batch_size, optimizer=args.optimizer,
                  schedule=args.schedule, loss_fn=loss_fn, transform=transform, device=args.device,
                  seed=args.seed, progress=not args.no_progress, checkpoint=args.checkpoint,
                  resume=args.resume, overwrite=args.overwrite, on_epoch=report,
                  settings={"cli_model": args.model, "dataset": args.dataset},
                  **(fast_path(args.device) if args.fast else {}))
    if not history.epochs:
        raise ValueError(f"--epochs={args.epochs}: the checkpoint has no epochs to train")
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
    root = data_root(args.data_root)
    print(f"data root: {root}")
    for name, spec in DATASETS.items():
        folder = root / spec.folder
        files = sorted(p.name for p in (folder / ("" if name == "cifar10" else "raw")).glob("*")
                       if p.is_file()) if folder.is_dir() else []
        print(f"  {name:14s} {'present' if files else 'absent'}"
              + (f" ({len(files)} files in {spec.folder}/)" if files else ""))
    if args.dataset is not None:
        for split in ("train", "test"):
            data = load_dataset(args.dataset, split, args.data_root,
                                download=not args.no_download)
            print(f"{split}: {len(data):,} images from {data.source}")


def run_predict(args: argparse.Namespace) -> None:
    state = read_checkpoint(args.checkpoint)
    settings = state.get("settings", {})
    names = {cls.__name__: name for name, cls in MODELS.items()}
    name = settings.get("cli_model") or names.get(state.get("model_class"))
    if name not in MODELS:
        raise CheckpointError(f"{args.checkpoint} holds a {state.get('model_class')}, which "
                              f"is not one of the CLI's models {sorted(MODELS)}")
    model = get_model(name)
    apply_checkpoint(state, model, path=args.checkpoint)
    dataset = args.dataset or settings.get("dataset") or "mnist"
    spec = DATASETS[dataset]
    if args.image is not None:
        image, what = _read_png(args.image, spec.image_shape), str(args.image)
    else:
        test = load_dataset(dataset, "test", args.data_root)
        if not 0 <= args.index < len(test):
            raise ValueError(f"--index={args.index}: must be in 0..{len(test) - 1} "
                             f"(the {dataset} test set)")
        image = test.images[args.index:args.index + 1]
        what = f"{dataset} test image {args.index} (label {spec.classes[test.labels[args.index]]})"
    transform, _ = default_recipe(model)
    _check_pairing(name, model, transform, dataset)
    probs = torch.softmax(predict(model, image, transform=transform)[0].float(), dim=0)
    top = probs.topk(min(3, len(probs)))
    print(f"{what}:")
    for rank, (p, c) in enumerate(zip(top.values.tolist(), top.indices.tolist()), start=1):
        print(f"  {rank}. {spec.classes[c]:12s} {p:.4f}")


def _read_png(path: Path, shape: tuple[int, int, int]) -> torch.Tensor:
    """A PNG as a ``(1, C, H, W)`` float image in [0, 1], converted and resized to ``shape``."""
    from PIL import Image, UnidentifiedImageError

    if path.is_dir() or not path.is_file():
        raise FileNotFoundError(f"--image={str(path)!r}: no such file")
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise ValueError(f"--image={str(path)!r}: is a {img.format} image, must be PNG")
            c, h, w = shape
            img = img.convert("L" if c == 1 else "RGB").resize((w, h))
            data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"--image={str(path)!r}: not a readable PNG ({err})") from None
    return data.view(h, w, c).permute(2, 0, 1)[None].float() / 255


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"summary": run_summary, "train": run_train, "data": run_data,
                "predict": run_predict}
    try:
        commands[args.command](args)
    except EXPECTED_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 -- never a raw traceback from the command line
        if os.environ.get("LENET_DEBUG"):
            raise
        print(f"error: unexpected {type(err).__name__}: {err} (LENET_DEBUG=1 shows the "
              f"traceback)".replace("\n", " "), file=sys.stderr)
        return 1
    return 0

"""Training and evaluation with the dataset held as tensors on the device.

Batches are sliced from device tensors with a seeded, device-side permutation: no
``DataLoader`` in the hot loop, so a small network such as LeNet is not starved by Python
overhead. A run is reproducible from its seed, can checkpoint every epoch atomically and
resume where it stopped, and records a :class:`History`.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .layers import check_int
from .sdlm import CURVATURE_SAMPLES, SDLM, gauss_newton_diagonal

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Transform = Callable[[torch.Tensor], torch.Tensor]
OptimizerFactory = Callable[[list[nn.Parameter], float], torch.optim.Optimizer]


@dataclass
class History:
    """Per-epoch metrics of a run (plain Python floats, so it glues and serialises cleanly)."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def as_dict(self) -> dict[str, list[float]]:
        return asdict(self)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA, else Apple's MPS, else the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def has_fast_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively, so that ``fit(amp=True)`` pays: a
    CUDA GPU with bf16 support, or a CPU with AVX512-BF16 or AMX (oneDNN's bf16 kernels)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if dev.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without oneDNN
            return False
    return False


def fast_path(device: str | torch.device | None = None) -> dict[str, bool]:
    """The speed flags of :func:`fit` worth switching on for ``device`` (default: the one
    :func:`pick_device` picks): ``channels_last`` everywhere, ``amp`` where bfloat16 is
    native (:func:`has_fast_bf16`), ``compile`` on CUDA. Use as ``fit(..., **fast_path())``."""
    dev = pick_device(device)
    return {"channels_last": True, "amp": has_fast_bf16(dev), "compile": dev.type == "cuda"}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pin_threads(threads: int = 2) -> int:
    """Use exactly ``threads`` CPU threads for torch's kernels; return the previous count.

    Float results depend on the thread count (a reduction split two ways rounds differently
    from one split one way), so a chapter or test that compares numbers pins it: the same
    count gives the same last bits on any machine with at least that many cores.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads={threads!r}: must be an int >= 1")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    return before


def to_model(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``images`` on ``model``'s device and, when floating point, in its dtype (float32
    images into a model trained with ``fit(dtype=torch.float64)``, say)."""
    param = next(model.parameters())
    return images.to(param.device, param.dtype if images.is_floating_point() else None,
                     non_blocking=True)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1024,
            transform: Transform | None = None) -> torch.Tensor:
    """Class scores for ``images``: ``(N, C, H, W) -> (N, classes)``, on the model's device."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = to_model(model, images[start:start + batch_size])
        out.append(model(transform(x) if transform else x))
    model.train(was_training)
    return torch.cat(out)


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024,
             transform: Transform | None = None) -> float:
    """Accuracy in ``[0, 1]`` of ``model`` on ``images (N, C, H, W)`` with ``labels (N,)``."""
    scores = predict(model, images, batch_size, transform)
    return float((scores.argmax(1).cpu() == labels.cpu()).float().mean())


def fit(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
        test: tuple[torch.Tensor, torch.Tensor] | None = None, *, epochs: int = 10,
        lr: float | list[float] = 0.1, batch_size: int = 256,
        optimizer: str | OptimizerFactory = "sgd",
        momentum: float = 0.0, weight_decay: float = 0.0, schedule: str = "constant",
        loss_fn: LossFn = F.cross_entropy, transform: Transform | None = None,
        augment: Transform | None = None, device: str | torch.device | None = None,
        seed: int = 0, progress: bool = True, checkpoint: str | Path | None = None,
        resume: bool = False, amp: bool = False, channels_last: bool = False,
        compile: bool = False, timings: dict | None = None,
        dtype: torch.dtype | None = None) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Args:
        model: any classifier returning scores ``(N, classes)``.
        train, test: ``(images (N, C, H, W), labels (N,))``; moved to the device once.
        epochs: passes over ``train``.
        lr: a learning rate, or one per epoch (the paper's schedule is such a list).
        batch_size: examples per step; the last, smaller batch of an epoch is kept.
        optimizer: ``"sgd"``, ``"adam"``, ``"sdlm"`` (:class:`lenet.sdlm.SDLM`, the
            paper's stochastic diagonal Levenberg-Marquardt, with ``mu=0.02``: its curvature
            is re-estimated on the first 500 examples of every pass, after ``transform``;
            ``lr`` is its ``epsilon`` times ``batch_size``), or a factory
            ``(params, lr) -> Optimizer`` such as ``functools.partial(SDLM, mu=1.0)``.
        schedule: ``"constant"`` or ``"onecycle"`` (``torch.optim.lr_scheduler.OneCycleLR``
            peaking at ``lr``).
        loss_fn: ``(scores, labels) -> loss``; cross-entropy by default.
        transform: applied to every batch, train and test (e.g. :func:`lenet.data.lenet5_input`).
        augment: applied to training batches only, before ``transform``.
        seed: seeds the initial shuffles; same seed, same machine, same history.
        progress: a bar over epochs that prints no timings (so notebook output is stable).
        checkpoint: file to write after every epoch (atomically).
        resume: continue from ``checkpoint`` if it exists. The checkpoint also holds the
            global torch RNG state and, for an ``augment`` with ``state()``/``set_state()``
            (such as :class:`lenet.paper.RandomAffine`), its state, so a random augment
            resumes exactly.
        amp: run forward and loss under bfloat16 autocast, on CUDA and on the CPU (no-op
            elsewhere). It pays where the device computes in bfloat16 natively (see
            :func:`has_fast_bf16`): about 1.2x for LeNet on a CPU with AMX. Measured there,
            10 passes of LeNet over MNIST ended within 0.05 points of float32's test
            accuracy (96.97% vs 96.94%). Elsewhere the CPU emulates bfloat16 and is slower:
            leave it off.
        channels_last: store model and images in ``channels_last`` (NHWC) memory format, on
            any device: cuDNN and the CPU's oneDNN both have faster NHWC kernels for LeNet's
            few-channel convolutions (about 1.3x on one CPU thread, 1.7x on two).
        compile: on CUDA, ``torch.compile`` the model (no-op elsewhere); the first step,
            which compiles, is timed separately in ``timings``.
        dtype: cast the model and the images to this floating dtype first. The chapters
            train their short live demos in ``torch.float64``: float32 kernels may round
            differently from one process to the next, and training amplifies those last
            bits into different third decimals; in float64 they stay invisible.
        timings: if a dict is given, filled with ``first_step_s`` (includes any compile),
            ``train_s`` (all training steps, evaluation excluded), ``epoch_s`` (a list: the
            training seconds of each epoch) and ``images`` (examples trained on).

    On CUDA the shuffles come from a CUDA generator, so the permutation never leaves the
    device; on the CPU a CPU generator, whose state the checkpoint saves.
    """
    epochs, batch_size = check_int("epochs", epochs), check_int("batch_size", batch_size)
    lrs = _per_epoch(lr, epochs)
    dev = pick_device(device)
    cuda = dev.type == "cuda"
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype such as torch.float64, "
                        f"got {dtype!r}")
    model.to(dev, dtype)
    x_train, y_train = train[0].to(dev, dtype), train[1].to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        if x_train.dim() == 4:
            x_train = x_train.contiguous(memory_format=torch.channels_last)
    step_model = torch.compile(model) if (cuda and compile) else model
    autocast = amp and dev.type in ("cuda", "cpu")
    opt = _optimizer(model, optimizer, lrs[0], momentum, weight_decay)
    steps = math.ceil(len(y_train) / batch_size)
    sched = _scheduler(opt, schedule, lrs[0], epochs, steps)
    gen = torch.Generator(device=dev if cuda else "cpu").manual_seed(seed)
    history, start = History(), 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, model, opt, sched)
        history, start = History(**state["history"]), state["epoch"]
        gen.set_state(state["generator"])
        if "torch_rng" in state:  # what a random augment draws from the global RNG
            torch.set_rng_state(state["torch_rng"])
        if "augment_state" in state and hasattr(augment, "set_state"):
            augment.set_state(state["augment_state"])
    bar = tqdm(total=epochs, initial=start, disable=not progress, file=sys.stderr,
               mininterval=0, miniters=1, ncols=100,
               bar_format="{n_fmt}/{total_fmt} epochs |{bar:20}| {desc}")
    model.train()
    train_s, first_step_s, images, epoch_s = 0.0, 0.0, 0, []
    for epoch in range(start, epochs):
        if sched is None:
            for group in opt.param_groups:
                group["lr"] = lrs[epoch]
        order = torch.randperm(len(y_train), generator=gen, device=gen.device).to(dev)
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        tick = _clock(dev, timings)
        if isinstance(opt, SDLM):
            _set_curvature(opt, model, x_train, y_train, order, transform, loss_fn, gen)
        for i in range(steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            x, y = x_train[idx], y_train[idx]
            if augment is not None:
                x = augment(x)
            if transform is not None:
                x = transform(x)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                scores = step_model(x)
                loss = loss_fn(scores, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.detach().float() * len(y)
            correct += (scores.argmax(1) == y).sum()
            if timings is not None and epoch == start and i == 0:
                first_step_s = _clock(dev, timings) - tick
        if timings is not None:
            epoch_s.append(_clock(dev, timings) - tick)
            train_s += epoch_s[-1]
            images += len(y_train)
        history.train_loss.append(float(loss_sum) / len(y_train))
        history.train_acc.append(float(correct) / len(y_train))
        history.lr.append(float(opt.param_groups[0]["lr"]))
        if test is not None:
            history.test_acc.append(evaluate(model, test[0], test[1], transform=transform))
        if checkpoint is not None:
            extra = {"augment_state": augment.state()} if hasattr(augment, "state") else {}
            save_checkpoint(checkpoint, model, opt, sched, epoch=epoch + 1,
                            history=history.as_dict(), generator=gen.get_state(),
                            torch_rng=torch.get_rng_state(), **extra)
        bar.set_description_str(_postfix(history), refresh=False)
        bar.update(1)
    bar.close()
    if timings is not None:
        timings.update(first_step_s=first_step_s, train_s=train_s, images=float(images),
                       epoch_s=epoch_s)
    return history


def _clock(dev: torch.device, timings: dict | None) -> float:
    """Wall-clock seconds, after waiting for queued CUDA work when timing is on."""
    if timings is not None and dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return time.perf_counter()


def _postfix(h: History) -> str:
    text = f"loss {h.train_loss[-1]:.3f}, train acc {h.train_acc[-1]:.3f}"
    return text + (f", test acc {h.test_acc[-1]:.3f}" if h.test_acc else "")


def _per_epoch(lr: float | list[float], epochs: int) -> list[float]:
    lrs = [float(lr)] * epochs if isinstance(lr, (int, float)) else [float(v) for v in lr]
    if len(lrs) != epochs:
        raise ValueError(f"lr must be a number or a list of {epochs} rates (one per epoch), "
                         f"got {len(lrs)} rates")
    if any(not v > 0 for v in lrs):
        raise ValueError(f"lr must be > 0, got {lr}")
    return lrs


def _optimizer(model: nn.Module, name: str | OptimizerFactory, lr: float, momentum: float,
               wd: float):
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    factory = SDLM if name == "sdlm" else name
    if not callable(factory):
        raise ValueError(f"optimizer must be 'sgd', 'adam', 'sdlm' or a factory "
                         f"(params, lr) -> Optimizer, got {name!r}")
    if momentum or wd:
        raise ValueError(f"momentum and weight_decay apply to optimizer 'sgd' and 'adam' only: "
                         f"optimizer {getattr(name, '__name__', name)!r} takes its own "
                         f"settings, got momentum={momentum}, weight_decay={wd}")
    return factory(params, lr)


def _set_curvature(opt: SDLM, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   order: torch.Tensor, transform: Transform | None, loss_fn: LossFn,
                   gen: torch.Generator) -> None:
    """SDLM's per-pass curvature, from the first :data:`CURVATURE_SAMPLES` of the pass."""
    idx = order[:CURVATURE_SAMPLES]
    xs = transform(x[idx]) if transform is not None else x[idx]
    opt.set_curvature(gauss_newton_diagonal(model, xs, y[idx], loss_fn, generator=gen))


def _scheduler(opt, name: str, lr: float, epochs: int, steps: int):
    if name == "constant":
        return None
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps)
    raise ValueError(f"schedule must be 'constant' or 'onecycle', got {name!r}")


def default_recipe(model: nn.Module) -> tuple[Transform | None, LossFn]:
    """How a model expects to be fed and trained: ``(transform, loss_fn)``.

    LeNet-5 gets the paper's input (:func:`lenet.data.lenet5_input`, 28 -> 32 pixels,
    background -0.1, ink 1.175) and the MAP loss; every other model takes ``[0, 1]``
    images and cross-entropy.
    """
    from .data import lenet5_input
    from .layers import map_loss
    from .models import LeNet5

    if isinstance(model, LeNet5):
        return lenet5_input, map_loss
    return None, F.cross_entropy

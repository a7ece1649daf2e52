"""Training and evaluation with the dataset held as tensors on the device.

Batches are sliced from device tensors with a seeded, device-side permutation: no
``DataLoader`` in the hot loop, so a small network such as LeNet is not starved by Python
overhead. A run is reproducible from its seed, can checkpoint every epoch atomically and
resume where it stopped, and records a :class:`History`.
"""

from __future__ import annotations

import ctypes
import functools
import math
import platform
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

from ._checks import (
    check_bool,
    check_callable,
    check_choice,
    check_images,
    check_int,
    check_labels,
    check_module,
    check_number,
    check_path,
    fail,
)
from .checkpoint import (
    CHECKPOINT_FORMAT,
    apply_checkpoint,
    check_resumable,
    read_checkpoint,
    save_checkpoint,
)
from .fuse import SigmoidAvgPool2d, fuse_sigmoid_pool
from .layout import channels_first_convs
from .models import default_recipe  # noqa: F401 -- moved to lenet.models; old import path
from .polyphase import polyphase_convs
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


def cpu_supports(check: str) -> bool:
    """The answer of one of torch's CPU feature checks, ``torch.cpu._is_<feature>_supported``
    (e.g. ``"_is_amx_tile_supported"``); False where this torch build lacks the check."""
    probe = getattr(torch.cpu, check, None)
    return bool(probe is not None and probe())


#: How many times faster than float32 a CPU must multiply in bfloat16 (:func:`cpu_bf16_speedup`)
#: for bfloat16 autocast to pay in :func:`fit`. Measured on two 2-core CPUs: an AMD EPYC
#: (Zen 4, AVX512-BF16) multiplied at 2.3x and trained LeNet 1.24x faster under autocast; an
#: Intel Xeon exposing AVX512-BF16 but no AMX multiplied at 0.55x and trained at 0.75x.
BF16_MIN_SPEEDUP = 1.5


@functools.cache
def cpu_bf16_speedup(size: int = 512, repeats: int = 5) -> float:
    """How many times faster this CPU multiplies two ``size x size`` matrices in bfloat16
    than in float32: best of ``repeats`` of each, at torch's current thread count, measured
    once per process (a few milliseconds). 0.0 where oneDNN has no bfloat16 kernels here
    (the CPU would emulate them, far slower, so they are not timed).

    A feature flag cannot answer this: the same AVX512-BF16 instructions ran at 2.3x on one
    CPU and 0.55x on another (:data:`BF16_MIN_SPEEDUP`), and AMX runs far faster still.
    """
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return 0.0
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return 0.0
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=gen) for _ in range(2))
    best = {}
    for dtype in (torch.float32, torch.bfloat16):
        x, y = a.to(dtype), b.to(dtype)
        torch.mm(x, y)  # the first call builds oneDNN's kernel
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(x, y)
            times.append(time.perf_counter() - start)
        best[dtype] = min(times)
    return best[torch.float32] / best[torch.bfloat16]


def has_fast_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 fast enough that ``fit(amp=True)`` pays: a
    CUDA GPU with bf16 support, or a CPU whose bfloat16 matmul runs at least
    :data:`BF16_MIN_SPEEDUP` times as fast as its float32 one (:func:`cpu_bf16_speedup`,
    measured once per process): CPUs with AMX, and some with AVX512-BF16 alone."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if dev.type == "cpu":
        return cpu_bf16_speedup() >= BF16_MIN_SPEEDUP
    return False


def fast_path(device: str | torch.device | None = None) -> dict[str, bool]:
    """The speed flags of :func:`fit` worth switching on for ``device`` (default: the one
    :func:`pick_device` picks): ``channels_last`` everywhere, ``amp`` where bfloat16 is
    fast (:func:`has_fast_bf16`), ``compile`` on CUDA, and on the CPU ``fuse``
    (:func:`lenet.fuse.fuse_sigmoid_pool`) and, where the C library is glibc,
    ``reuse_memory`` (:func:`reuse_freed_memory`). Use as ``fit(..., **fast_path())``."""
    dev = pick_device(device)
    cpu = dev.type == "cpu"
    return {"channels_last": True, "amp": has_fast_bf16(dev), "compile": dev.type == "cuda",
            "fuse": cpu, "reuse_memory": cpu and _glibc() is not None}


#: glibc's ``mallopt`` parameters, and the values :func:`reuse_freed_memory` gives them.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES = 256 << 20, 512 << 20


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def reuse_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for the next allocation; return whether it
    applied (False where the C library is not glibc: nothing is changed there).

    By default glibc serves every block over a threshold (128 KiB at first, adjusted as blocks
    are freed) with fresh pages from the kernel and hands them back when it is freed, and it
    trims the heap as soon as its free top grows past a second threshold. A training step of a
    small CNN allocates and frees its activations (4.8 MB for LeNet's first layer at a batch
    of 256) every step, so the kernel maps and zeroes fresh pages every step. This sets both
    thresholds high (``MMAP_THRESHOLD_BYTES``, ``TRIM_THRESHOLD_BYTES``): blocks under
    256 MiB come from the heap, and up to 512 MiB of freed heap stays with the process.
    Process-wide and permanent: glibc's adjusting thresholds cannot be restored.
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


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
    threads = check_int("threads", threads)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    return before


def to_model(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``images`` on ``model``'s device and, when floating point, in its dtype (float32
    images into a model trained with ``fit(dtype=torch.float64)``, say)."""
    param = next(model.parameters())
    return images.to(param.device, param.dtype if images.is_floating_point() else None,
                     non_blocking=True)


def _check_batch(name: str, images: object, nonempty: bool = False) -> torch.Tensor:
    """A float image batch ``(N, C, H, W)``: NumPy arrays and integer (0-255) images are
    refused, since a silent conversion would hide a preprocessing mistake."""
    images = check_images(name, images, nonempty=nonempty)
    if not images.is_floating_point():
        fail(name, images, "must be floating point images (uint8 0-255 images: convert with "
                           ".float() / 255)", TypeError)
    return images


def _check_pair(name: str, pair: object, nonempty: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images (N, C, H, W), labels (N,))`` with the same ``N``."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        fail(name, pair, "must be a pair (images (N, C, H, W), labels (N,))", TypeError)
    images = _check_batch(f"{name}[0] (images)", pair[0], nonempty)
    labels = check_labels(f"{name}[1] (labels)", pair[1], len(images))
    return images, labels


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1024,
            transform: Transform | None = None) -> torch.Tensor:
    """Class scores for ``images``: ``(N, C, H, W) -> (N, classes)``, on the model's device.

    The model runs in eval mode and is put back in the mode it was in."""
    check_module("model", model)
    images = _check_batch("images", images)
    batch_size = check_int("batch_size", batch_size)
    check_callable("transform", transform)
    was_training = model.training
    model.eval()
    try:
        out = []
        for start in range(0, len(images), batch_size):
            x = to_model(model, images[start:start + batch_size])
            out.append(model(transform(x) if transform else x))
    finally:
        model.train(was_training)
    if not out:
        return torch.empty(0, 0)
    return torch.cat(out)


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024,
             transform: Transform | None = None) -> float:
    """Accuracy in ``[0, 1]`` of ``model`` on ``images (N, C, H, W)`` with ``labels (N,)``,
    ``N >= 1``."""
    images = _check_batch("images", images, nonempty=True)
    labels = check_labels("labels", labels, len(images))
    scores = predict(model, images, batch_size, transform)
    return float((scores.argmax(1).cpu() == labels.cpu()).float().mean())


#: What :func:`fit` records in a checkpoint and compares on ``resume``. A resume with
#: different values is refused, naming each. ``epochs`` (and the per-epoch ``lr`` list past
#: the epochs both runs share) may change with ``schedule="constant"``: training on for more
#: epochs, or stopping earlier, continues the same run. With ``"onecycle"`` the schedule's
#: shape depends on the epoch count, so a change is refused. Settings not recorded, and so
#: free to change: ``device``, ``progress``, ``timings``, ``amp``, ``channels_last``,
#: ``compile``, ``fuse`` (speed, not the run's maths; the last bits may differ),
#: ``reuse_memory``.
RECORDED_SETTINGS = ("model", "optimizer", "momentum", "weight_decay", "schedule", "lr",
                     "batch_size", "epochs", "seed", "train_examples", "train_labels",
                     "loss_fn", "transform", "augment", "dtype")
RESUME_MAY_CHANGE = ("epochs",)


EpochHook = Callable[[int, History], None]


def fit(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
        test: tuple[torch.Tensor, torch.Tensor] | None = None, *, epochs: int = 10,
        lr: float | list[float] = 0.1, batch_size: int = 256,
        optimizer: str | OptimizerFactory = "sgd",
        momentum: float = 0.0, weight_decay: float = 0.0, schedule: str = "constant",
        loss_fn: LossFn = F.cross_entropy, transform: Transform | None = None,
        augment: Transform | None = None, device: str | torch.device | None = None,
        seed: int = 0, progress: bool = True, checkpoint: str | Path | None = None,
        resume: bool = False, overwrite: bool = False, amp: bool = False,
        channels_last: bool = False, compile: bool = False, fuse: bool = False,
        reuse_memory: bool = False, timings: dict | None = None,
        dtype: torch.dtype | None = None, on_epoch: EpochHook | None = None,
        settings: dict | None = None) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Args:
        model: any classifier returning scores ``(N, classes)``.
        train, test: ``(images (N, C, H, W), labels (N,))`` tensors, floating-point images
            (converted to the model's dtype) and integer labels, ``N >= 1`` for ``train``;
            moved to the device once.
        epochs: passes over ``train``.
        lr: a learning rate, or one per epoch (the paper's schedule is such a list); finite
            and > 0.
        batch_size: examples per step; the last, smaller batch of an epoch is kept.
        optimizer: ``"sgd"``, ``"adam"``, ``"sdlm"`` (:class:`lenet.sdlm.SDLM`, the
            paper's stochastic diagonal Levenberg-Marquardt, with ``mu=0.02``: its curvature
            is re-estimated on the first 500 examples of every pass, after ``transform``;
            ``lr`` is its ``epsilon`` times ``batch_size``), or a factory
            ``(params, lr) -> Optimizer`` such as ``functools.partial(SDLM, mu=1.0)``.
        schedule: ``"constant"`` or ``"onecycle"`` (``torch.optim.lr_scheduler.OneCycleLR``
            peaking at ``lr``).
        loss_fn: ``(scores, labels) -> loss``; cross-entropy by default.
        transform: applied to every batch, train and test (e.g. :func:`lenet.models.lenet5_input`).
        augment: applied to training batches only, before ``transform``.
        seed: seeds the initial shuffles; same seed, same machine, same history.
        progress: on a terminal, a bar over the batches with images/s and the time left;
            elsewhere (notebooks, logs) a bar over epochs that prints no timings, so that
            notebook output is stable.
        checkpoint: file to write after every epoch (atomically). It records the run's
            settings (:data:`RECORDED_SETTINGS`) and the format version.
        resume: continue from ``checkpoint``. A missing file is announced and the run starts
            at epoch 1; a file written with other settings is refused
            (:class:`lenet.checkpoint.CheckpointError` naming each differing setting;
            ``RESUME_MAY_CHANGE`` lists what may change).
            The checkpoint also holds the global torch RNG state and, for an ``augment``
            with ``state()``/``set_state()`` (such as :class:`lenet.augment.RandomAffine`),
            its state, so a random augment resumes exactly.
        overwrite: without ``resume``, an existing ``checkpoint`` is refused unless this
            is True (a fresh run would silently replace it).
        amp: run forward and loss under bfloat16 autocast, on CUDA and on the CPU (no-op
            elsewhere); the per-epoch evaluation on ``test`` runs under it too. It pays
            where the device computes in bfloat16 fast (see :func:`has_fast_bf16`): about
            1.2x for LeNet on a CPU with AMX, and 1.24x on an AMD Zen 4 (AVX512-BF16).
            Measured with AMX, 10 passes of LeNet over MNIST ended within 0.05 points of
            float32's test accuracy (96.97% vs 96.94%). Elsewhere bfloat16 is slower than
            float32: leave it off.
        channels_last: store model and images in ``channels_last`` (NHWC) memory format, on
            any device: cuDNN and the CPU's oneDNN both have faster NHWC kernels for LeNet's
            few-channel convolutions (about 1.3x on one CPU thread, 1.7x on two). With
            ``amp`` and ``fuse`` on the CPU, the convolutions that feed a fused sigmoid and
            pool run in NCHW all the same, where oneDNN's bfloat16 kernels are faster
            (:func:`lenet.layout.channels_first_convs`).
        compile: on CUDA, ``torch.compile`` the model (no-op elsewhere); the first step,
            which compiles, is timed separately in ``timings``.
        fuse: train through :func:`lenet.fuse.fuse_sigmoid_pool` (each ``Sigmoid`` followed
            by a 2x2 ``AvgPool2d`` computed as one autograd step, as in d2l's LeNet); the
            model itself is not changed. On the CPU, a convolution with one input channel
            that feeds such a pair is computed with it on the input's four phases
            (:func:`lenet.polyphase.polyphase_convs`: LeNet's C1). The same function up to
            float rounding. The per-epoch evaluation on ``test`` runs through the same model.
        reuse_memory: call :func:`reuse_freed_memory` first, so that each step's activations
            reuse freed memory instead of fresh pages from the kernel (glibc only; a no-op
            elsewhere). It changes the whole process's malloc, for good.
        dtype: cast the model and the images to this floating dtype first. The chapters
            train their short live demos in ``torch.float64``: float32 kernels may round
            differently from one process to the next, and training amplifies those last
            bits into different third decimals; in float64 they stay invisible.
        timings: if a dict is given, filled with ``first_step_s`` (includes any compile),
            ``train_s`` (all training steps, evaluation excluded), ``epoch_s`` (a list: the
            training seconds of each epoch) and ``images`` (examples trained on).
        on_epoch: called as ``on_epoch(epoch, history)`` as each epoch ends (``epoch``
            counts from 1), after its checkpoint is written.
        settings: extra entries (plain str/int/float values) to record in the checkpoint
            and compare on resume, e.g. the dataset's name.

    On CUDA the shuffles come from a CUDA generator, so the permutation never leaves the
    device; on the CPU a CPU generator, whose state the checkpoint saves.
    """
    check_module("model", model)
    epochs, batch_size = check_int("epochs", epochs), check_int("batch_size", batch_size)
    x_train, y_train = _check_pair("train", train, nonempty=True)
    if test is not None:
        test = _check_pair("test", test, nonempty=True)
    lrs = _per_epoch(lr, epochs)
    momentum = check_number("momentum", momentum, minimum=0.0)
    weight_decay = check_number("weight_decay", weight_decay, minimum=0.0)
    check_choice("schedule", schedule, ["constant", "onecycle"])
    seed = check_int("seed", seed, minimum=None)
    for flag in ("progress", "resume", "overwrite", "amp", "channels_last", "compile", "fuse",
                 "reuse_memory"):
        check_bool(flag, locals()[flag])
    for name in ("loss_fn", "transform", "augment", "on_epoch"):
        check_callable(name, locals()[name], allow_none=name != "loss_fn")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        fail("dtype", dtype, "must be a floating torch.dtype such as torch.float64", TypeError)
    if checkpoint is not None:
        checkpoint = check_path("checkpoint", checkpoint)
        if checkpoint.is_dir():
            fail("checkpoint", str(checkpoint), "is a folder, must be a file path")
        if checkpoint.exists() and not resume and not overwrite:
            fail("checkpoint", str(checkpoint), "exists: resume it (resume=True, --resume) or "
                                                "replace it (overwrite=True, --overwrite)",
                 FileExistsError)
    dev = pick_device(device)
    cuda = dev.type == "cuda"
    if reuse_memory:
        reuse_freed_memory()
    model.to(dev, dtype)
    param_dtype = next(model.parameters()).dtype
    x_train, y_train = x_train.to(dev, param_dtype), y_train.to(dev)
    if test is not None:
        test = (test[0].to(param_dtype), test[1])
    autocast = amp and dev.type in ("cuda", "cpu")
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x_train = x_train.contiguous(memory_format=torch.channels_last)
        if test is not None:
            test = (test[0].contiguous(memory_format=torch.channels_last), test[1])
    step_model = fuse_sigmoid_pool(model) if fuse else model
    if fuse and dev.type == "cpu":   # see lenet.polyphase
        step_model = polyphase_convs(step_model)
    if channels_last and autocast and fuse and dev.type == "cpu":   # see lenet.layout
        step_model = channels_first_convs(step_model, before=SigmoidAvgPool2d)
    eval_model = step_model
    step_model = torch.compile(step_model) if (cuda and compile) else step_model
    opt = _optimizer(model, optimizer, lrs[0], momentum, weight_decay)
    steps = math.ceil(len(y_train) / batch_size)
    sched = _scheduler(opt, schedule, lrs[0], epochs, steps)
    gen = torch.Generator(device=dev if cuda else "cpu").manual_seed(seed)
    history, start = History(), 0
    recorded = None
    if checkpoint is not None:
        recorded = _settings(model, optimizer, momentum, weight_decay, schedule, lrs,
                             batch_size, epochs, seed, y_train, loss_fn, transform, augment,
                             param_dtype, settings)
    if resume and checkpoint is not None:
        history, start = _resume(checkpoint, recorded, model, opt, sched, gen, augment)
    # Hooks run before each epoch; SDLM re-estimates its curvature there.
    hooks: list[Callable[[torch.Tensor], None]] = []
    if isinstance(opt, SDLM):
        hooks.append(lambda order: _set_curvature(opt, model, x_train, y_train, order,
                                                  transform, loss_fn, gen))
    bar = _Progress(progress, epochs, start, len(y_train))
    model.train()
    train_s, first_step_s, images, epoch_s = 0.0, 0.0, 0, []
    for epoch in range(start, epochs):
        if sched is None:
            for group in opt.param_groups:
                group["lr"] = lrs[epoch]
        order = torch.randperm(len(y_train), generator=gen, device=gen.device).to(dev)
        tick = _clock(dev, timings)
        for hook in hooks:
            hook(order)

        marks: list[float] | None = [] if (timings is not None and epoch == start) else None
        loss_sum, correct = _train_epoch(step_model, opt, sched, x_train, y_train, order,
                                         batch_size, augment, transform, loss_fn, autocast,
                                         bar, marks)
        if marks:
            first_step_s = marks[0] - tick
        if timings is not None:
            epoch_s.append(_clock(dev, timings) - tick)
            train_s += epoch_s[-1]
            images += len(y_train)
        history.train_loss.append(float(loss_sum) / len(y_train))
        history.train_acc.append(float(correct) / len(y_train))
        history.lr.append(float(opt.param_groups[0]["lr"]))
        if test is not None:
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                history.test_acc.append(evaluate(eval_model, test[0], test[1],
                                                 transform=transform))
        if checkpoint is not None:
            extra = {"augment_state": augment.state()} if hasattr(augment, "state") else {}
            save_checkpoint(checkpoint, model, opt, sched, epoch=epoch + 1,
                            history=history.as_dict(), generator=gen.get_state(),
                            torch_rng=torch.get_rng_state(), format=CHECKPOINT_FORMAT,
                            settings=recorded, **extra)
        bar.end_epoch(history)
        if on_epoch is not None:
            on_epoch(epoch + 1, history)
    bar.close()
    if timings is not None:
        timings.update(first_step_s=first_step_s, train_s=train_s, images=float(images),
                       epoch_s=epoch_s)
    return history


def _resume(checkpoint: Path, recorded: dict, model: nn.Module, opt, sched,
            gen: torch.Generator, augment: Transform | None) -> tuple[History, int]:
    """Restore a run from ``checkpoint`` (refused if its settings differ from ``recorded``);
    return its history and the number of epochs done. A missing file is announced and
    the run starts at epoch 1."""
    if not checkpoint.exists():
        print(f"no checkpoint at {checkpoint} yet: starting from epoch 1", file=sys.stderr)
        return History(), 0
    state = read_checkpoint(checkpoint)
    check_resumable(state, recorded, checkpoint)
    apply_checkpoint(state, model, opt, sched, checkpoint)
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])  # what a random augment draws from
    if "augment_state" in state and hasattr(augment, "set_state"):
        augment.set_state(state["augment_state"])
    print(f"resumed from epoch {state['epoch']} ({checkpoint.name})", file=sys.stderr)
    return History(**state["history"]), state["epoch"]


def _train_epoch(step_model: nn.Module, opt, sched, x_train: torch.Tensor,
                 y_train: torch.Tensor, order: torch.Tensor, batch_size: int,
                 augment: Transform | None, transform: Transform | None, loss_fn: LossFn,
                 autocast: bool, bar: _Progress, first_step: list[float] | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over ``x_train`` in the order ``order``; returns the summed loss and the
    number of correct predictions (device scalars: no sync per step). With a list as
    ``first_step``, the clock after the first step is appended to it."""
    dev = x_train.device
    loss_sum = torch.zeros((), device=dev)
    correct = torch.zeros((), device=dev, dtype=torch.long)
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
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
        if i == 0 and first_step is not None:
            first_step.append(_clock(dev, {}))
        bar.batch(len(y))
    return loss_sum, correct


class _Progress:
    """fit's progress: on a terminal a bar over images with images/s and the time left; off
    a terminal (a notebook, a log file) a bar over epochs with no timings, so the output
    is the same on every run."""

    def __init__(self, enabled: bool, epochs: int, start: int, per_epoch: int) -> None:
        self.live = enabled and sys.stderr.isatty()
        if self.live:
            self.bar = tqdm(total=(epochs - start) * per_epoch, unit="img", unit_scale=True,
                            file=sys.stderr, dynamic_ncols=True, leave=False,
                            desc=f"epoch {start + 1}/{epochs}")
        else:
            self.bar = tqdm(total=epochs, initial=start, disable=not enabled, file=sys.stderr,
                            mininterval=0, miniters=1, ncols=100,
                            bar_format="{n_fmt}/{total_fmt} epochs |{bar:20}| {desc}")
        self.epoch, self.epochs = start, epochs

    def batch(self, images: int) -> None:
        if self.live:
            self.bar.update(images)

    def end_epoch(self, history: History) -> None:
        self.epoch += 1
        if self.live:
            self.bar.set_description_str(f"epoch {min(self.epoch + 1, self.epochs)}/"
                                         f"{self.epochs}", refresh=False)
            self.bar.set_postfix_str(_postfix(history), refresh=False)
        else:
            self.bar.set_description_str(_postfix(history), refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _describe(obj: object) -> str | None:
    """A stable name for a callable or an optimizer choice (no addresses)."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, functools.partial):
        args = ", ".join([*map(repr, obj.args), *(f"{k}={v!r}" for k, v in obj.keywords.items())])
        return f"partial({_describe(obj.func)}, {args})"
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{getattr(obj, '__module__', None) or type(obj).__module__}.{name}"


def _settings(model, optimizer, momentum, weight_decay, schedule, lrs, batch_size, epochs,
              seed, labels, loss_fn, transform, augment, dtype, extra) -> dict:
    """The settings a checkpoint records (:data:`RECORDED_SETTINGS`) plus ``extra``."""
    weights = torch.arange(len(labels), device=labels.device) % 9973 + 1
    recorded = {
        "model": type(model).__name__, "optimizer": _describe(optimizer),
        "momentum": momentum, "weight_decay": weight_decay, "schedule": schedule,
        "lr": list(lrs), "batch_size": batch_size, "epochs": epochs, "seed": seed,
        "train_examples": len(labels),
        "train_labels": int((labels.long() * weights).sum()),  # a checksum of the subset
        "loss_fn": _describe(loss_fn), "transform": _describe(transform),
        "augment": _describe(augment), "dtype": str(dtype)}
    for key, value in (extra or {}).items():
        if not isinstance(value, (str, int, float, bool, type(None))):
            fail(f"settings[{key!r}]", value, "must be a str, int, float, bool or None",
                 TypeError)
        recorded[str(key)] = value
    return recorded


def _clock(dev: torch.device, timings: dict | None) -> float:
    """Wall-clock seconds, after waiting for queued CUDA work when timing is on."""
    if timings is not None and dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return time.perf_counter()


def _postfix(h: History) -> str:
    text = f"loss {h.train_loss[-1]:.3f}, train acc {h.train_acc[-1]:.3f}"
    return text + (f", test acc {h.test_acc[-1]:.3f}" if h.test_acc else "")


def _per_epoch(lr: float | list[float], epochs: int) -> list[float]:
    if isinstance(lr, (list, tuple)):
        lrs = [check_number(f"lr[{i}]", v, positive=True) for i, v in enumerate(lr)]
        if len(lrs) != epochs:
            fail("lr", lr, f"must be a number or a list of {epochs} rates (one per epoch)")
        return lrs
    return [check_number("lr", lr, positive=True)] * epochs


def _optimizer(model: nn.Module, name: str | OptimizerFactory, lr: float, momentum: float,
               wd: float):
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    factory = SDLM if name == "sdlm" else name
    if not callable(factory):
        fail("optimizer", name, "must be 'sgd', 'adam', 'sdlm' or a factory "
                                "(params, lr) -> Optimizer")
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
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs,
                                                   steps_per_epoch=steps)
    raise ValueError(f"schedule must be 'constant' or 'onecycle', got {name!r}")

"""CPU benchmarks, side by side in one process; prints a table, then one JSON line.

    python -m benchmarks.cpu                    # trainers, d2l, FLOP/s, levers, im2col, sparse C3
    python -m benchmarks.cpu --notebooks        # also time executing every notebook
    python -m benchmarks.cpu --setup            # also time the first set-up on a fresh clone
    python -m benchmarks.cpu --out results/cpu_benchmarks.json

Keys of the final JSON line: ``trainer_speedup_vs_baseline`` (images/s of
:func:`lenet.train.fit` on the CPU's fast path, :func:`lenet.train.fast_path` -- NHWC
layout, plus bfloat16 autocast on a CPU with native bf16 (AMX / AVX512-BF16) -- / images/s
of a d2l ``train_ch6``-style loop over torchvision's ``MNIST`` Dataset and a ``DataLoader``
with 4 workers, d2l's default; same ``LeNet``, batch 256, same images, torch on every core;
``trainer_speedup_vs_baseline_1_thread`` is the same on one thread;
``trainer_speedup_float32_vs_baseline`` is ``fit(channels_last=True)`` in float32),
``im2col_conv_vs_torch`` (:func:`lenet.ops.conv2d` time / ``F.conv2d`` time, C1 + C3 shapes
at batch 256, one thread), ``im2col_vs_naive_speedup`` (:func:`lenet.ops.conv2d_naive` /
im2col, per image: the naive loop runs on a small batch and is scaled to 256),
``sparse_c3_vs_masked_dense`` (:class:`lenet.layers.SparseConv2d` / dense conv times a mask,
forward + backward), ``notebooks_total_s`` (with ``--notebooks``, else null; the kernel's
own start and exit, the project's against the plain one, are in ``details.notebooks.kernel``).

Against the real peer: ``trainer_speedup_vs_d2l`` is the whole wall time of d2l's own
``d2l.train_ch6`` (``from d2l import torch as d2l``, d2l 1.0.3: its DataLoaders with
``d2l.get_dataloader_workers()`` workers, its evaluation after every epoch, its animated
plot drawn off screen on matplotlib's Agg backend and its printing swallowed; d2l's
``nn.Sequential`` LeNet) / the whole wall time of :func:`lenet.train.fit` with the fast path
on :class:`lenet.models.LeNet` (the same layers), both training on the same ``--images``
MNIST digits and evaluating on the same ``--test-images`` after each of ``--epochs`` epochs,
batch 256, the same learning rate, torch on every core, in turns in one process.

How close training is to the machine: the same run times a ``--matmul-size`` square
``torch.matmul`` in float32 and in bfloat16 (``matmul_fp32_flop_per_s``,
``matmul_bf16_flop_per_s``, counting ``2 n^3`` FLOPs) and the fast path's training steps
(evaluation excluded) for LeNet and LeNet-5. FLOPs per training image follow one stated
convention, marked ``6xconn`` in the key names: a connection of :func:`lenet.summary.summary`
is one multiply-add, 2 FLOPs, so forward = 2 x connections; backward costs about twice the
forward, so forward + backward = 3 x forward = 6 x connections.
``lenet_train_vs_fp32_matmul_6xconn`` is LeNet's training FLOP/s / the float32 matmul's, and
likewise for bf16 and for ``lenet5_``.

The fixed cost of a step: ``step_fixed_s`` is a fast-path training step on a batch of 1, where
LeNet's arithmetic is negligible, ``step_s`` one on a batch of 256, ``step_fixed_fraction``
their ratio: the most a whole-epoch step without per-batch Python could remove.

Levers (``--levers``, all by default): ``lever_speedups_vs_fast_path`` gives images/s of
one-epoch ``fit`` runs with a setting changed / images/s of the default fast path, timed in
turns in the same run: ``bf16_autocast`` (channels_last + bfloat16 autocast, oneDNN's
bf16/AMX path), ``float32`` (channels_last alone; one of these two is the default, so its
ratio is the noise floor), ``compile`` (``torch.compile``, inductor, on top of the fast path;
a failure is caught and its reason reported in ``lever_errors``), ``threads_N`` (the fast
path on N torch threads), ``unfused`` (the fast path without ``fuse``: torch's sigmoid and
average-pooling kernels one after the other), ``depthwise_avgpool`` (LeNet's pools as depthwise
convolutions after a separate sigmoid; the report also sets it against ``unfused``),
``wait`` (the d2l comparison once more in a fresh process under each OpenMP wait policy,
libgomp's default and ``OMP_WAIT_POLICY=ACTIVE``: ``trainer_speedup_vs_d2l_by_wait_policy``,
``fit_speedup_omp_active_vs_default``, ``d2l_speedup_omp_active_vs_default``; ``omp_wait_policy``
is this process's own) and
``malloc_defaults`` (glibc malloc's own thresholds instead of ``reuse_memory``: timed in fresh
processes, against the fast path in fresh processes, since the setting cannot be undone; the
rest of the run has it set from the start, d2l's trainer included). ``lever_train_acc`` is
each setting's training accuracy in the last epoch of a second run from the same initial
weights, with ``ACCURACY_RECIPE`` (Adam, 4 epochs: SGD at lr 0.9 leaves a sigmoid LeNet at
chance level for longer); ``malloc_defaults`` computes what the fast path computes and has
no run of its own. A setting that costs accuracy stays off by default.

``--setup`` clones the repository into a temporary folder and times both README commands
there, ``bash scripts/book.sh`` then ``bash scripts/test.sh`` (``setup_s``; about 40 minutes).
Every time is the median of repeats; the table gives min and max too.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")       # single-threaded NumPy BLAS and torch
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import contextlib
import functools
import io
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lenet.checkpoint import atomic_save_json

ROOT = Path(__file__).resolve().parent.parent
BATCH = 256
#: d2l's learning rate for LeNet (section 7.6: ``lr, num_epochs = 0.9, 10``).
LR = 0.9
#: How the levers' accuracy runs train (after their timed one-epoch runs): Adam at lr 0.01
#: takes a sigmoid LeNet off chance level within a few epochs (chapter 2), where SGD at
#: d2l's lr 0.9 sits at chance for many.
ACCURACY_RECIPE = {"optimizer": "adam", "lr": 0.01, "epochs": 4}
#: The FLOP convention of the ``*_6xconn`` keys (see the module docstring).
FLOP_CONVENTION = ("FLOPs per training image = 3 x forward = 3 x 2 x connections of "
                   "lenet.summary (a connection is one multiply-add, 2 FLOPs; backward ~ 2x "
                   "forward); a square n x n matmul counts 2 n^3 FLOPs")


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def timed_alternating(fns: dict[str, Callable[[], object]], repeats: int,
                      warmup: int = 1) -> dict[str, list[float]]:
    """Like :func:`timed` for several functions, taking turns so that all see the same load."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name] += timed(fn, 1, warmup=0)
    return times


def timed_pair(fa: Callable[[], object], fb: Callable[[], object], repeats: int,
               warmup: int = 1) -> tuple[list[float], list[float]]:
    """:func:`timed_alternating` for two functions."""
    times = timed_alternating({"a": fa, "b": fb}, repeats, warmup)
    return times["a"], times["b"]


def spread(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "repeats": len(times)}


def d2l_style_epoch(model, loader, lr: float) -> None:
    """One epoch as d2l's ``train_ch6``: DataLoader batches, SGD, an accuracy accumulator."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    metric = [0.0, 0.0, 0.0]
    for x, y in loader:
        opt.zero_grad()
        y_hat = model(x)
        loss = F.cross_entropy(y_hat, y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            metric[0] += float(loss) * x.shape[0]
            metric[1] += float((y_hat.argmax(1) == y).sum())
            metric[2] += x.shape[0]


def bench_trainer(images: int, repeats: int, workers: int, threads: int) -> dict:
    """The d2l-style loop (``workers`` and 0 DataLoader workers) against :func:`fit`: plain,
    ``channels_last`` alone, and the CPU's :func:`lenet.train.fast_path`; all on ``LeNet``,
    batch 256, the same
    ``images`` MNIST digits, ``threads`` torch threads, timed in turns."""
    import torchvision
    from torch.utils.data import DataLoader, Subset

    from lenet.data import data_root, load_mnist
    from lenet.models import LeNet
    from lenet.train import fast_path, fit

    torch.set_num_threads(threads)
    dataset = torchvision.datasets.MNIST(str(data_root()), train=True, download=False,
                                         transform=torchvision.transforms.ToTensor())
    subset = Subset(dataset, range(images))
    loaders = {w: DataLoader(subset, batch_size=BATCH, shuffle=True, num_workers=w)
               for w in dict.fromkeys((workers, 0))}
    digits = load_mnist("train").take(images)
    train = (digits.images, digits.labels)
    fast = fast_path("cpu")
    variants = {"fit": {}, "fit_channels_last": {"channels_last": True}, "fit_fast_path": fast}
    torch.manual_seed(0)
    models = {name: LeNet() for name in ("base", "base0", *variants)}
    fns = {f"baseline_{w}_workers": (lambda w=w, m=models["base" if w else "base0"]:
                                     d2l_style_epoch(m, loaders[w], 0.9)) for w in loaders}
    for name, flags in variants.items():
        fns[name] = (lambda m=models[name], flags=flags:
                     fit(m, train, epochs=1, lr=0.9, batch_size=BATCH, progress=False,
                         device="cpu", **flags))
    times = timed_alternating(fns, repeats)
    per_s = {name: images / statistics.median(t) for name, t in times.items()}
    base = per_s[f"baseline_{workers}_workers"]
    return {"images": images, "workers": workers, "threads": threads, "fast_path": fast,
            "seconds": {name: spread(t) for name, t in times.items()},
            "images_per_s": per_s,
            "speedup": per_s["fit_fast_path"] / base,
            "speedup_channels_last": per_s["fit_channels_last"] / base,
            "speedup_plain_fit": per_s["fit"] / base}


# ------------------------------------------------------------------ d2l's own train_ch6


def d2l_lenet() -> torch.nn.Module:
    """d2l's LeNet (section 7.6), as its chapter builds it for ``train_ch6``."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


def import_d2l():
    """``d2l.torch`` with matplotlib on the Agg backend, so its animated plot stays off screen."""
    import matplotlib

    matplotlib.use("Agg")
    from d2l import torch as d2l

    return d2l


def run_d2l(d2l, train_iter, test_iter, epochs: int, lr: float) -> dict:
    """One call of ``d2l.train_ch6`` on a fresh d2l LeNet; its printing (the plot's repr
    and the final summary lines) is swallowed and its final accuracies parsed from it."""
    import matplotlib.pyplot as plt

    net = d2l_lenet()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        d2l.train_ch6(net, train_iter, test_iter, epochs, lr, torch.device("cpu"))
    plt.close("all")
    accs = {}
    for line in printed.getvalue().splitlines():
        if line.startswith("loss "):  # "loss 2.3, train acc 0.1, test acc 0.1"
            for part in line.split(", ")[1:]:
                key, value = part.rsplit(" ", 1)
                accs[key.replace(" ", "_")] = float(value)
    return accs


def bench_d2l(images: int, test_images: int, epochs: int, repeats: int, threads: int,
              lr: float = LR) -> dict:
    """d2l's ``train_ch6`` against :func:`fit` with the fast path: whole wall times, each
    training on the same ``images`` digits and evaluating on ``test_images`` every epoch."""
    import torchvision
    from torch.utils.data import DataLoader, Subset

    from lenet.data import data_root, load_mnist
    from lenet.models import LeNet
    from lenet.train import fast_path, fit

    d2l = import_d2l()
    torch.set_num_threads(threads)
    # d2l's 4 workers on a machine with fewer cores: torch warns, d2l's default stands.
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    workers = d2l.get_dataloader_workers()
    tensor = torchvision.transforms.ToTensor()
    sets = {split: torchvision.datasets.MNIST(str(data_root()), train=split == "train",
                                              download=False, transform=tensor)
            for split in ("train", "test")}
    # As d2l.load_data_fashion_mnist builds them: shuffled training batches, ordered test.
    train_iter = DataLoader(Subset(sets["train"], range(images)), BATCH, shuffle=True,
                            num_workers=workers)
    test_iter = DataLoader(Subset(sets["test"], range(test_images)), BATCH, shuffle=False,
                           num_workers=workers)
    train = load_mnist("train").take(images)
    test = load_mnist("test").take(test_images)
    fast = fast_path("cpu")
    assert [p.shape for p in d2l_lenet().parameters()] == [p.shape for p in LeNet().parameters()]
    results: dict[str, list] = {"d2l": [], "fit": [], "fit_train_s": []}

    def d2l_run() -> None:
        results["d2l"].append(run_d2l(d2l, train_iter, test_iter, epochs, lr))

    def fit_run() -> None:
        timings: dict = {}
        model = LeNet()
        h = fit(model, (train.images, train.labels), (test.images, test.labels), epochs=epochs,
                lr=lr, batch_size=BATCH, progress=False, device="cpu", timings=timings, **fast)
        results["fit"].append({"train_acc": h.train_acc[-1], "test_acc": h.test_acc[-1]})
        results["fit_train_s"].append(timings["train_s"])

    torch.manual_seed(0)
    times = timed_alternating({"d2l_train_ch6": d2l_run, "fit_fast_path": fit_run}, repeats)
    d2l_s = statistics.median(times["d2l_train_ch6"])
    fit_s = statistics.median(times["fit_fast_path"])
    train_s = statistics.median(results["fit_train_s"][1:] or results["fit_train_s"])
    return {"images": images, "test_images": test_images, "epochs": epochs, "lr": lr,
            "batch_size": BATCH, "workers": workers, "threads": threads, "fast_path": fast,
            "d2l_version": getattr(d2l, "__version__", None) or _d2l_version(),
            "seconds": {name: spread(t) for name, t in times.items()},
            "speedup": d2l_s / fit_s,
            "fit_train_images_per_s": images * epochs / train_s,
            "final_accuracy": {"d2l_train_ch6": results["d2l"][-1],
                               "fit_fast_path": results["fit"][-1]}}


#: bench_d2l in a process of its own: argv images, test images, epochs, repeats, threads;
#: prints its result as JSON (malloc set as in the main process).
_FRESH_D2L = """
import json, sys
from benchmarks.cpu import bench_d2l
from lenet.train import fast_path, reuse_freed_memory
if fast_path("cpu")["reuse_memory"]:
    reuse_freed_memory()
args = [int(a) for a in sys.argv[1:]]
print(json.dumps(bench_d2l(*args)))
"""

#: OpenMP's wait policies the d2l comparison runs under: libgomp's default (idle threads
#: spin a while, then sleep) and ACTIVE (they keep spinning). Read once, when torch loads.
WAIT_POLICIES = ("default", "ACTIVE")


def omp_wait_policy() -> str:
    """This process's ``OMP_WAIT_POLICY``, ``"default"`` when it is unset."""
    return os.environ.get("OMP_WAIT_POLICY") or "default"


def bench_wait_policies(images: int, test_images: int, epochs: int, repeats: int,
                        threads: int) -> dict:
    """:func:`bench_d2l` in a fresh process under each of :data:`WAIT_POLICIES`, d2l's loop
    and ``fit`` alike: the wait policy is a thread setting of the whole process, which a
    running process cannot change."""
    out: dict = {}
    for policy in WAIT_POLICIES:
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        if policy != "default":
            env["OMP_WAIT_POLICY"] = policy
        result = subprocess.run(
            [sys.executable, "-c", _FRESH_D2L, *map(str, (images, test_images, epochs,
                                                          repeats, threads))],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
        out[policy] = json.loads(result.strip().splitlines()[-1])
    fit_s = {p: out[p]["seconds"]["fit_fast_path"]["median"] for p in WAIT_POLICIES}
    d2l_s = {p: out[p]["seconds"]["d2l_train_ch6"]["median"] for p in WAIT_POLICIES}
    return {"runs": out, "speedup_vs_d2l": {p: out[p]["speedup"] for p in WAIT_POLICIES},
            "fit_active_vs_default": fit_s["default"] / fit_s["ACTIVE"],
            "d2l_active_vs_default": d2l_s["default"] / d2l_s["ACTIVE"]}


def _d2l_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("d2l")
    except PackageNotFoundError:
        return None


# ----------------------------------------------------------- FLOP/s: matmul and training


def train_flops_per_image(model: torch.nn.Module, input_size: tuple[int, int, int]) -> int:
    """FLOPs of one training image (forward + backward) under :data:`FLOP_CONVENTION`:
    6 x the connections :func:`lenet.summary.summary` counts per example."""
    from lenet.summary import summary

    return 6 * summary(model, (1, *input_size)).total_connections


def bench_matmul(size: int, repeats: int, threads: int) -> dict:
    """FLOP/s of a ``size`` x ``size`` ``torch.matmul`` in float32 and bfloat16 (median)."""
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    out: dict = {"size": size, "threads": threads}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(size, size, generator=gen).to(dtype)
        b = torch.randn(size, size, generator=gen).to(dtype)
        t = timed(lambda a=a, b=b: torch.matmul(a, b), repeats, warmup=2)
        out[f"{name}_s"] = spread(t)
        out[f"{name}_flop_per_s"] = 2 * size ** 3 / statistics.median(t)
    return out


def bench_lenet5(images: int, repeats: int, threads: int) -> dict:
    """Training images/s of :class:`lenet.models.LeNet5` (its own input transform and MAP
    loss) with the fast path, one epoch per run, evaluation excluded."""
    from lenet.data import load_mnist
    from lenet.models import LeNet5, default_recipe
    from lenet.train import fast_path, fit

    torch.set_num_threads(threads)
    digits = load_mnist("train").take(images)
    torch.manual_seed(0)
    model = LeNet5()
    transform, loss_fn = default_recipe(model)
    train_s: list[float] = []

    def run() -> None:
        timings: dict = {}
        fit(model, (digits.images, digits.labels), epochs=1, lr=0.01, batch_size=BATCH,
            transform=transform, loss_fn=loss_fn, progress=False, device="cpu",
            timings=timings, **fast_path("cpu"))
        train_s.append(timings["train_s"])

    timed(run, repeats)
    s = statistics.median(train_s[1:])  # the first run was the warm-up
    return {"images": images, "threads": threads, "train_s": spread(train_s[1:]),
            "train_images_per_s": images / s}


def flops_report(matmul: dict, per_s: dict[str, float]) -> dict:
    """Training FLOP/s of each model and its fraction of each matmul rate."""
    from lenet.models import LeNet, LeNet5

    flops = {"lenet": train_flops_per_image(LeNet(), LeNet.input_size),
             "lenet5": train_flops_per_image(LeNet5(), LeNet5.input_size)}
    out: dict = {"train_flop_per_image_6xconn": flops}
    for name, f in flops.items():
        rate = f * per_s[name]
        out[f"{name}_train_flop_per_s_6xconn"] = rate
        out[f"{name}_train_vs_fp32_matmul_6xconn"] = rate / matmul["fp32_flop_per_s"]
        out[f"{name}_train_vs_bf16_matmul_6xconn"] = rate / matmul["bf16_flop_per_s"]
    return out


# ---------------------------------------------------------------------------- levers

LEVERS = ("bf16", "compile", "threads", "fuse", "avgpool", "malloc", "wait")
#: Steps on batches of 1 that time a training step's fixed cost (:func:`bench_step_floor`).
FLOOR_STEPS = 512


def _reason(err: BaseException) -> str:
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first[:400]}"


class DepthwiseAvgPool2d(torch.nn.AvgPool2d):
    """``nn.AvgPool2d`` over non-overlapping ``k`` x ``k`` windows, computed as a depthwise
    convolution with weights ``1 / k**2`` (oneDNN's convolution instead of torch's
    channels_last pooling kernel, which vectorises across LeNet's few channels).
    ``(N, C, H, W) -> (N, C, H // k, W // k)``; the same averages up to float rounding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        weight = x.new_full((x.shape[1], 1, k, k), 1.0 / (k * k))
        return F.conv2d(x, weight.contiguous(memory_format=torch.channels_last), stride=k,
                        groups=x.shape[1])


def lenet_with_depthwise_avgpool() -> torch.nn.Module:
    """:class:`lenet.models.LeNet` with its two average pools as :class:`DepthwiseAvgPool2d`
    (the avgpool lever)."""
    from lenet.models import LeNet

    model = LeNet()
    for i, layer in enumerate(model.features):
        if isinstance(layer, torch.nn.AvgPool2d):
            model.features[i] = DepthwiseAvgPool2d(layer.kernel_size, layer.stride)
    return model


def bench_levers(images: int, repeats: int, threads: int, levers: tuple[str, ...],
                 thread_counts: tuple[int, ...]) -> dict:
    """One-epoch ``fit`` runs of LeNet with one setting changed, timed in turns with the
    default fast path; images/s ratios, first-epoch accuracy, and any lever's failure."""
    from lenet.data import load_mnist
    from lenet.models import LeNet
    from lenet.train import fast_path, fit

    torch.set_num_threads(threads)
    digits = load_mnist("train").take(images)
    train = (digits.images, digits.labels)
    fast = fast_path("cpu")
    settings: dict[str, tuple[dict, int, bool, Callable[[], torch.nn.Module]]] = {
        "fast_path": (fast, threads, False, LeNet)}
    if "bf16" in levers:
        settings["bf16_autocast"] = ({**fast, "amp": True}, threads, False, LeNet)
        settings["float32"] = ({**fast, "amp": False}, threads, False, LeNet)
    if "compile" in levers:
        settings["compile"] = (fast, threads, True, LeNet)
    if "threads" in levers:
        for n in thread_counts:
            if n != threads:
                settings[f"threads_{n}"] = (fast, n, False, LeNet)
    if "fuse" in levers or "avgpool" in levers:   # torch's own sigmoid and pooling kernels
        settings["unfused"] = ({**fast, "fuse": False}, threads, False, LeNet)
    if "avgpool" in levers:   # average pooling computed by a depthwise convolution
        settings["depthwise_avgpool"] = ({**fast, "fuse": False}, threads, False,
                                         lenet_with_depthwise_avgpool)
    errors: dict[str, str] = {}
    first_s: dict[str, float] = {}
    fns: dict[str, Callable[..., object]] = {}
    initial: dict[str, tuple[torch.nn.Module, dict]] = {}
    for name, (flags, n, compiled, make_model) in settings.items():
        torch.manual_seed(0)  # every setting starts from the same weights
        model = make_model()
        weights = {k: v.clone() for k, v in model.state_dict().items()}

        def run(step: torch.nn.Module, flags=flags, n=n, **recipe) -> object:
            torch.set_num_threads(n)
            try:
                return fit(step, train, **{"epochs": 1, "lr": LR, **recipe},
                           batch_size=BATCH, progress=False, device="cpu", **flags)
            finally:
                torch.set_num_threads(threads)

        start = time.perf_counter()
        try:
            # The same (compiled) module in every run: torch.compile caches per module.
            step = torch.compile(model) if compiled else model
            run(step)
        except Exception as err:  # noqa: BLE001 - e.g. no C++ compiler for inductor
            errors[name] = _reason(err)
            continue
        first_s[name] = time.perf_counter() - start
        fns[name] = functools.partial(run, step)
        initial[name] = (model, weights)
    times = timed_alternating(fns, repeats, warmup=0)
    per_s = {name: images / statistics.median(t) for name, t in times.items()}
    speedups = {name: v / per_s["fast_path"] for name, v in per_s.items() if name != "fast_path"}
    # Accuracy: each setting trains again from the same initial weights with a recipe that
    # leaves chance level within a few epochs (SGD at d2l's lr 0.9 does not).
    acc: dict[str, float] = {}
    for name, (model, weights) in initial.items():
        model.load_state_dict(weights)
        history = fns[name](**ACCURACY_RECIPE)
        acc[name] = history.train_acc[-1]
    fresh = None
    if "malloc" in levers and fast.get("reuse_memory"):
        try:
            fresh = bench_fresh_processes(images, repeats, threads)
        except (subprocess.CalledProcessError, ValueError, KeyError) as err:
            errors["malloc_defaults"] = _reason(err)
        else:
            speedups["malloc_defaults"] = fresh["speedup_vs_fast_path"]
    return {"images": images, "threads": threads, "fast_path": fast,
            "seconds": {name: spread(t) for name, t in times.items()},
            "first_run_s": first_s, "images_per_s": per_s,
            "speedups_vs_fast_path": speedups, "fresh_processes": fresh,
            "accuracy_recipe": ACCURACY_RECIPE, "train_acc_last_epoch": acc,
            "errors": errors}


#: One ``fit`` of LeNet in a process of its own: argv images, threads, reuse_memory (0/1);
#: prints the second epoch's training seconds (the first warms oneDNN's kernels up) and the
#: first epoch's training accuracy.
_FRESH_FIT = """
import json, sys, torch
from lenet.data import load_mnist
from lenet.models import LeNet
from lenet.train import fast_path, fit
images, threads, reuse = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
torch.set_num_threads(threads)
digits = load_mnist("train").take(images)
torch.manual_seed(0)
timings = {}
history = fit(LeNet(), (digits.images, digits.labels), epochs=2, lr=%r, batch_size=%d,
              progress=False, device="cpu", timings=timings,
              **{**fast_path("cpu"), "reuse_memory": reuse})
print(json.dumps({"epoch_s": timings["epoch_s"][-1], "train_acc": history.train_acc[0]}))
"""


def bench_fresh_processes(images: int, repeats: int, threads: int) -> dict:
    """The fast path with and without ``reuse_memory``, each run in a fresh process (the
    setting is process-wide and cannot be undone), taking turns; seconds of a warm epoch."""
    script = _FRESH_FIT % (LR, BATCH)
    times: dict[str, list[float]] = {"fast_path": [], "malloc_defaults": []}
    acc: dict[str, float] = {}
    for _ in range(repeats):
        for name in times:
            out = subprocess.run([sys.executable, "-c", script, str(images), str(threads),
                                  "1" if name == "fast_path" else "0"], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            times[name].append(result["epoch_s"])
            acc[name] = result["train_acc"]
    return {"seconds": {name: spread(t) for name, t in times.items()},
            "speedup_vs_fast_path": (statistics.median(times["fast_path"])
                                     / statistics.median(times["malloc_defaults"])),
            "train_acc_first_epoch": acc}


def bench_step_floor(images: int, repeats: int, threads: int) -> dict:
    """The fixed cost of one training step: the fast path's steps on batches of 1 (where
    LeNet's arithmetic is negligible, so what is left is Python, dispatch, the autograd
    engine and the optimizer) against its steps on batches of 256, timed in turns. That cost
    bounds what a whole-epoch step without per-batch Python could save."""
    from lenet.data import load_mnist
    from lenet.models import LeNet
    from lenet.train import fast_path, fit

    torch.set_num_threads(threads)
    digits = load_mnist("train").take(images)
    small = (digits.images[:FLOOR_STEPS], digits.labels[:FLOOR_STEPS])
    fast = fast_path("cpu")
    steps = {1: FLOOR_STEPS, BATCH: -(-images // BATCH)}
    train_s: dict[int, list[float]] = {1: [], BATCH: []}

    def run(batch: int) -> None:
        timings: dict = {}
        fit(LeNet(), small if batch == 1 else (digits.images, digits.labels), epochs=1,
            lr=LR, batch_size=batch, progress=False, device="cpu", timings=timings, **fast)
        train_s[batch].append(timings["train_s"])

    timed_alternating({"batch_1": lambda: run(1), f"batch_{BATCH}": lambda: run(BATCH)},
                      repeats)
    per_step = {b: statistics.median(t[1:] or t) / steps[b] for b, t in train_s.items()}
    return {"steps": steps, "threads": threads, "step_s": {str(b): v for b, v in
                                                           per_step.items()},
            "fixed_fraction": per_step[1] / per_step[BATCH]}


# ------------------------------------------------------------------- first set-up


def _clone_source() -> str:
    """The repository's ``origin`` if it has one, else this working copy's repository."""
    got = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"],
                         capture_output=True, text=True, check=False)
    return got.stdout.strip() if got.returncode == 0 and got.stdout.strip() else str(ROOT)


def bench_setup(source: str | None = None, keep: bool = False) -> dict:
    """Wall seconds of both README commands on a fresh clone: ``git clone``, then
    ``bash scripts/book.sh`` and ``bash scripts/test.sh`` in it (about 40 minutes).

    The commands run with this process's environment minus any activated virtual
    environment, so the clone builds its own ``.venv``; ``LENET_DATA`` is passed on. pip's
    download cache is whatever this machine has."""
    source = source or _clone_source()
    tmp = Path(tempfile.mkdtemp(prefix="lenet-setup-"))
    clone = tmp / "lenet"
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONHOME", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                        "MKL_NUM_THREADS")}
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if not p.startswith(venv))
    out: dict = {"source": source, "clone_dir": str(clone)}
    try:
        start = time.perf_counter()
        subprocess.run(["git", "clone", "--quiet", source, str(clone)], check=True, env=env)
        out["clone_s"] = time.perf_counter() - start
        for key, script in (("book_sh", "scripts/book.sh"), ("test_sh", "scripts/test.sh")):
            start = time.perf_counter()
            done = subprocess.run(["bash", script], cwd=clone, env=env, check=False,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            out[f"{key}_s"] = time.perf_counter() - start
            out[f"{key}_returncode"] = done.returncode
            if done.returncode:
                # pytest reports its failures on stdout, so keep the end of both.
                out[f"{key}_output_tail"] = done.stdout[-2000:]
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


SHAPES = {"C1": ((BATCH, 1, 32, 32), (6, 1, 5, 5)), "C3": ((BATCH, 6, 14, 14), (16, 6, 5, 5))}


def bench_conv(repeats: int, naive_batch: int) -> dict:
    from lenet.ops import conv2d, conv2d_naive

    rng = np.random.default_rng(0)
    out: dict = {}
    for name, (xs, ws) in SHAPES.items():
        x = rng.standard_normal(xs, dtype=np.float32)
        w = rng.standard_normal(ws, dtype=np.float32)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        np.testing.assert_allclose(conv2d(x, w), F.conv2d(xt, wt).numpy(), rtol=1e-3, atol=1e-3)
        im2col, torch_t = timed_pair(lambda x=x, w=w: conv2d(x, w),
                                     lambda xt=xt, wt=wt: F.conv2d(xt, wt), repeats)
        small = x[:naive_batch]
        naive = timed(lambda small=small, w=w: conv2d_naive(small, w),
                      max(1, min(repeats // 3, 10)), warmup=0)
        naive_per_batch = [t * BATCH / naive_batch for t in naive]
        out[name] = {"im2col_s": spread(im2col), "torch_s": spread(torch_t),
                     "naive_s_scaled": spread(naive_per_batch), "naive_batch": naive_batch,
                     "im2col_vs_torch": statistics.median(im2col) / statistics.median(torch_t),
                     "naive_vs_im2col": statistics.median(naive_per_batch)
                     / statistics.median(im2col)}
    total = {k: sum(out[s][k]["median"] for s in SHAPES)
             for k in ("im2col_s", "torch_s", "naive_s_scaled")}
    out["im2col_vs_torch"] = total["im2col_s"] / total["torch_s"]
    out["naive_vs_im2col"] = total["naive_s_scaled"] / total["im2col_s"]
    return out


def bench_sparse(repeats: int) -> dict:
    from lenet.layers import C3_TABLE, SparseConv2d

    torch.manual_seed(0)
    sparse = SparseConv2d(6, C3_TABLE, 5)
    dense = torch.nn.Conv2d(6, 16, 5)
    mask = sparse.connection_mask().float()[:, :, None, None]
    x = torch.randn(BATCH, 6, 14, 14)

    def step(forward) -> None:
        forward().square().mean().backward()

    s, d = timed_pair(lambda: step(lambda: sparse(x)),
                      lambda: step(lambda: F.conv2d(x, dense.weight * mask, dense.bias)),
                      repeats, warmup=2)
    torch.testing.assert_close(
        F.conv2d(x, sparse.dense_weight(), sparse.bias),
        F.conv2d(x, sparse.dense_weight() * mask, sparse.bias))
    return {"sparse_s": spread(s), "masked_dense_s": spread(d),
            "ratio": statistics.median(s) / statistics.median(d)}


def bench_kernel(repeats: int = 3) -> dict:
    """A notebook run's fixed cost: seconds from starting a kernel to its answer to
    ``kernel_info`` (``ready_s``), and from the shutdown request after ``import torch`` to
    the process's exit (``exit_s``), for the project's kernel (``scripts/kernel_spec.py``:
    no debugger, ``gc.freeze`` at exit) and the plain one ``ipykernel install`` writes,
    ``repeats`` of each in turns; medians."""
    import importlib.util

    from jupyter_client.manager import KernelManager

    spec = importlib.util.spec_from_file_location("kernel_spec",
                                                  ROOT / "scripts" / "kernel_spec.py")
    kernel_spec = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernel_spec)
    plain = kernel_spec.installed_argv(sys.executable)
    argvs = {"project": kernel_spec.project_argv(plain), "plain": plain}
    env = {k: v for k, v in os.environ.items() if k != kernel_spec.DEBUGGER_VARIABLE}
    times = {name: {"ready_s": [], "exit_s": []} for name in argvs}
    for _ in range(repeats):
        for name, argv in argvs.items():
            km = KernelManager(kernel_name="python3")
            km.kernel_spec.argv = argv
            start = time.perf_counter()
            km.start_kernel(env=env, cwd=str(ROOT / "notebooks"))
            kc = km.client()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=120)
                times[name]["ready_s"].append(time.perf_counter() - start)
                reply = kc.execute_interactive("import torch", timeout=120)
                if reply["content"]["status"] != "ok":
                    raise RuntimeError(f"kernel {name}: import torch failed: {reply}")
            finally:
                kc.stop_channels()
                start = time.perf_counter()
                km.shutdown_kernel(now=False)
                times[name]["exit_s"].append(time.perf_counter() - start)
    return {name: {k: statistics.median(v) for k, v in t.items()} | {"repeats": repeats}
            for name, t in times.items()}


def bench_notebooks() -> dict:
    import nbformat
    from nbclient import NotebookClient

    times = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        times[path.name] = time.perf_counter() - start
    return {"per_notebook_s": times, "total_s": sum(times.values()), "kernel": bench_kernel()}


def machine() -> str:
    """The CPU's model name, core count, vector extension and its bfloat16 hardware: AMX,
    AVX512-BF16 alone, or neither (whether bfloat16 pays is measured, not read from these:
    :func:`lenet.train.has_fast_bf16`)."""
    from lenet.train import cpu_supports

    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in
             (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    name = names[0] if names else (platform.processor() or platform.machine())
    bf16 = ("AMX bfloat16" if cpu_supports("_is_amx_tile_supported") else
            "AVX512-BF16 without AMX" if cpu_supports("_is_avx512_bf16_supported")
            else "no native bfloat16")
    return (f"{name}, {os.cpu_count()} cores, "
            f"{torch.backends.cpu.get_cpu_capability()}, {bf16}")


def row(name: str, s: dict, unit: str = "s") -> str:
    return f"| {name} | {s['median']:.4g} | {s['min']:.4g} | {s['max']:.4g} | {s['repeats']} |"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000, help="images per trainer run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4,
                        help="DataLoader workers of the baseline (d2l's default is 4); the "
                             "baseline is also timed with 0 workers")
    parser.add_argument("--naive-batch", type=int, default=2)
    parser.add_argument("--conv-repeats", type=int, default=200,
                        help="repeats of the im2col / F.conv2d comparison (a few ms each)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="epochs of the d2l train_ch6 comparison (evaluation after each)")
    parser.add_argument("--test-images", type=int, default=None,
                        help="test images the d2l comparison evaluates on (default: "
                             "--images / 6, MNIST's 60,000 : 10,000)")
    parser.add_argument("--matmul-size", type=int, default=2048,
                        help="side of the square matmul whose FLOP/s is the reference")
    parser.add_argument("--levers", default=",".join(LEVERS),
                        help=f"comma-separated levers to time against the fast path, of "
                             f"{', '.join(LEVERS)}; 'none' for none")
    parser.add_argument("--lever-threads", default=None,
                        help="comma-separated torch thread counts of the threads lever "
                             "(default: 1 and half the cores)")
    parser.add_argument("--notebooks", action="store_true", help="also execute every notebook")
    parser.add_argument("--setup", action="store_true",
                        help="also time both README commands on a fresh clone (~40 min)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    levers = tuple(x for x in args.levers.split(",") if x and x != "none")
    unknown = set(levers) - set(LEVERS)
    if unknown:
        parser.error(f"--levers: unknown {sorted(unknown)}; choose from {', '.join(LEVERS)}")
    if -(-args.images // BATCH) < 5:
        parser.error(f"--images must be > {4 * BATCH}: d2l's train_ch6 needs 5 batches or more "
                     f"(it plots every num_batches // 5 batches)")
    cores = os.cpu_count() or 1
    from lenet.train import fast_path, reuse_freed_memory

    # The fast path's malloc setting holds for the whole process once a fit sets it: set it
    # now, so that every loop of this run (d2l's included) runs under it alike.
    malloc_reused = bool(fast_path("cpu")["reuse_memory"]) and reuse_freed_memory()
    thread_counts = (tuple(int(x) for x in args.lever_threads.split(","))
                     if args.lever_threads else tuple(sorted({1, max(1, cores // 2)})))
    test_images = args.test_images or max(1, args.images // 6)
    d2l_run = bench_d2l(args.images, test_images, args.epochs, args.repeats, cores)
    waits = (bench_wait_policies(args.images, test_images, args.epochs, args.repeats, cores)
             if "wait" in levers else None)
    matmul = bench_matmul(args.matmul_size, args.repeats, cores)
    lenet5 = bench_lenet5(args.images, args.repeats, cores)
    flops = flops_report(matmul, {"lenet": d2l_run["fit_train_images_per_s"],
                                  "lenet5": lenet5["train_images_per_s"]})
    lever_run = (bench_levers(args.images, args.repeats, cores, levers, thread_counts)
                 if levers else None)
    floor = bench_step_floor(args.images, args.repeats, cores)
    trainer = bench_trainer(args.images, args.repeats, args.workers, cores)
    trainer1 = bench_trainer(args.images, args.repeats, args.workers, 1)
    torch.set_num_threads(1)  # the convolution comparisons are single-threaded
    conv = bench_conv(args.conv_repeats, args.naive_batch)
    sparse = bench_sparse(args.repeats * 4)
    notebooks = bench_notebooks() if args.notebooks else None
    setup = bench_setup() if args.setup else None
    lines = ["| measurement | median (s) | min (s) | max (s) | repeats |", "|---|---|---|---|---|"]
    lines += [row(f"{name}, {args.images:,} + {test_images:,} test images, {args.epochs} "
                  f"epoch(s), {cores} thread(s)", sec)
              for name, sec in d2l_run["seconds"].items()]
    lines += [row(f"{args.matmul_size}^2 matmul {dt}, {cores} thread(s)", matmul[f"{dt}_s"])
              for dt in ("fp32", "bf16")]
    lines += [row(f"LeNet5 fit fast path training steps, {args.images:,} images",
                  lenet5["train_s"])]
    lines += [f"| training step, batch {b} (fixed cost: batch 1) | {sec:.4g} | - | - | "
              f"{args.repeats} |" for b, sec in floor["step_s"].items()]
    if lever_run:
        lines += [row(f"lever {name}, {args.images:,} images", sec)
                  for name, sec in lever_run["seconds"].items()]
    for t in (trainer, trainer1):
        lines += [row(f"{name}, {args.images:,} images, {t['threads']} thread(s)", sec)
                  for name, sec in t["seconds"].items()]
    for name in SHAPES:
        lines += [row(f"{name} im2col (lenet.ops.conv2d)", conv[name]["im2col_s"]),
                  row(f"{name} torch F.conv2d", conv[name]["torch_s"]),
                  row(f"{name} naive loop (per 256, from batch {args.naive_batch})",
                      conv[name]["naive_s_scaled"])]
    lines += [row("C3 SparseConv2d fwd+bwd", sparse["sparse_s"]),
              row("C3 dense conv x mask fwd+bwd", sparse["masked_dense_s"])]
    if notebooks:
        lines += [f"| kernel {name}: {what} | {k[key]:.4g} | - | - | {k['repeats']} |"
                  for name, k in notebooks["kernel"].items()
                  for key, what in (("ready_s", "start until ready"),
                                    ("exit_s", "shutdown after import torch"))]
    print("\n".join(lines), file=sys.stderr)
    summary = {
        "trainer_speedup_vs_d2l": d2l_run["speedup"],
        "d2l_train_ch6_s": d2l_run["seconds"]["d2l_train_ch6"]["median"],
        "fit_fast_path_with_eval_s": d2l_run["seconds"]["fit_fast_path"]["median"],
        "d2l_comparison": {k: d2l_run[k] for k in ("images", "test_images", "epochs", "lr",
                                                   "batch_size", "workers", "threads")},
        "matmul_fp32_flop_per_s": matmul["fp32_flop_per_s"],
        "matmul_bf16_flop_per_s": matmul["bf16_flop_per_s"],
        "matmul_size": args.matmul_size,
        **flops,
        "flop_convention": FLOP_CONVENTION,
        "lever_speedups_vs_fast_path": lever_run["speedups_vs_fast_path"] if lever_run else None,
        "lever_train_acc": lever_run["train_acc_last_epoch"] if lever_run else None,
        "lever_errors": lever_run["errors"] if lever_run else None,
        "omp_wait_policy": omp_wait_policy(),
        "trainer_speedup_vs_d2l_by_wait_policy": waits["speedup_vs_d2l"] if waits else None,
        "fit_speedup_omp_active_vs_default": waits["fit_active_vs_default"] if waits else None,
        "d2l_speedup_omp_active_vs_default": waits["d2l_active_vs_default"] if waits else None,
        "step_fixed_s": floor["step_s"]["1"],
        "step_s": floor["step_s"][str(BATCH)],
        "step_fixed_fraction": floor["fixed_fraction"],
        "setup_s": ({k: setup[k] for k in ("clone_s", "book_sh_s", "test_sh_s") if k in setup}
                    if setup else None),
        "trainer_speedup_vs_baseline": trainer["speedup"],
        "trainer_speedup_vs_baseline_1_thread": trainer1["speedup"],
        "trainer_speedup_float32_vs_baseline": trainer["speedup_channels_last"],
        "trainer_fast_path": trainer["fast_path"],
        "trainer_images_per_s": trainer["images_per_s"]["fit_fast_path"],
        "baseline_images_per_s": trainer["images_per_s"][f"baseline_{args.workers}_workers"],
        "im2col_conv_vs_torch": conv["im2col_vs_torch"],
        "im2col_vs_naive_speedup": conv["naive_vs_im2col"],
        "sparse_c3_vs_masked_dense": sparse["ratio"],
        "notebooks_total_s": notebooks["total_s"] if notebooks else None,
        "machine": machine(),
        "torch": torch.__version__, "trainer_threads": cores, "conv_threads": 1,
        "malloc_reused": malloc_reused,
        "command": "python -m benchmarks.cpu " + " ".join(argv if argv is not None
                                                            else sys.argv[1:]),
        "details": {"trainer": trainer, "trainer_1_thread": trainer1, "conv": conv,
                    "sparse": sparse, "notebooks": notebooks, "d2l": d2l_run,
                    "matmul": matmul, "lenet5": lenet5, "levers": lever_run, "setup": setup,
                    "step_floor": floor, "wait_policies": waits},
    }
    if args.out is not None:
        atomic_save_json(summary, args.out)
    short = {k: v for k, v in summary.items() if k != "details"}
    print(json.dumps(short))
    return summary


if __name__ == "__main__":
    main()

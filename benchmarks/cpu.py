"""CPU benchmarks, side by side in one process; prints a table, then one JSON line.

    python -m benchmarks.cpu                    # trainer, im2col, naive loop, sparse C3
    python -m benchmarks.cpu --notebooks        # also time executing every notebook
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
forward + backward), ``notebooks_total_s`` (with ``--notebooks``, else null). Every time is
the median of repeats; the table gives min and max too.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")       # single-threaded NumPy BLAS and torch
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lenet.checkpoint import atomic_save_json

ROOT = Path(__file__).resolve().parent.parent
BATCH = 256


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
        naive = timed(lambda small=small, w=w: conv2d_naive(small, w), max(1, repeats // 3),
                      warmup=0)
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
    return {"per_notebook_s": times, "total_s": sum(times.values())}


def machine() -> str:
    """The CPU's model name, core count, vector extension and whether it has native bf16."""
    from lenet.train import has_fast_bf16

    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in
             (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    name = names[0] if names else (platform.processor() or platform.machine())
    bf16 = "native bfloat16" if has_fast_bf16("cpu") else "no native bfloat16"
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
    parser.add_argument("--notebooks", action="store_true", help="also execute every notebook")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    trainer = bench_trainer(args.images, args.repeats, args.workers, cores)
    trainer1 = bench_trainer(args.images, args.repeats, args.workers, 1)
    torch.set_num_threads(1)  # the convolution comparisons are single-threaded
    conv = bench_conv(args.repeats, args.naive_batch)
    sparse = bench_sparse(args.repeats * 4)
    notebooks = bench_notebooks() if args.notebooks else None
    lines = ["| measurement | median (s) | min (s) | max (s) | repeats |", "|---|---|---|---|---|"]
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
    print("\n".join(lines), file=sys.stderr)
    summary = {
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
        "command": "python -m benchmarks.cpu " + " ".join(argv if argv is not None
                                                            else sys.argv[1:]),
        "details": {"trainer": trainer, "trainer_1_thread": trainer1, "conv": conv,
                    "sparse": sparse, "notebooks": notebooks},
    }
    if args.out is not None:
        atomic_save_json(summary, args.out)
    short = {k: v for k, v in summary.items() if k != "details"}
    print(json.dumps(short))
    return summary


if __name__ == "__main__":
    main()

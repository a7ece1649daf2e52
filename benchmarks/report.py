"""Write ``book/performance.md`` (the "Performance" appendix) from the committed results.

    python -m benchmarks.report

Reads ``results/cpu_benchmarks.json`` (``python -m benchmarks.cpu --out ...``), the
package's ``lenet/results/paper_results.json`` and ``paper_validation.json``
(``python -m benchmarks.reproduce_paper``, read through :func:`lenet.paper.load_results`) and,
when present, ``results/gpu_benchmarks.json`` (``python -m benchmarks.gpu --out ...``).
Every number on the page comes from those files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lenet.models import LeNet
from lenet.paper import REPRODUCE, load_results, results_table
from lenet.train import BF16_MIN_SPEEDUP

ROOT = Path(__file__).resolve().parent.parent
BATCH = 256
RESULTS = ROOT / "results"
PAGE = ROOT / "book" / "performance.md"

#: Targets of the current round, checked against the results.
GOAL_VS_D2L = 6.0            # fit's fast path over d2l's train_ch6, whole wall times
GOAL_IM2COL = 1.5            # lenet.ops.conv2d time / F.conv2d time, C1 + C3
GOAL_NOTEBOOKS_S = 120.0     # every notebook executed, seconds
GOAL_FRACTION = {"fp32": 0.20, "bf16": 0.04}  # training FLOP/s over matmul FLOP/s, to beat
GOAL_GPU_SECONDS_TO_99 = 2.0
GOAL_GPU_IMAGES_PER_S = 1_000_000
#: A bfloat16 matmul under this fraction of float32's rate runs emulated (0.002x measured on
#: a CPU without bfloat16 instructions, 0.57x on one with AVX512-BF16 but no AMX, 2.3x on
#: another with AVX512-BF16).
EMULATED_BELOW = 0.1
#: A lever pays when it is this much faster than the default fast path ...
PAYS = 1.1
#: ... and costs accuracy when its first-epoch training accuracy is this much lower ...
ACC_TOLERANCE = 0.02
#: ... which a run can show only once its reference has left chance level (10% for ten
#: classes) by this much: a sigmoid LeNet trained with SGD sits at chance for a while.
LEARNT_ABOVE_CHANCE = 0.10
CHANCE = 0.10


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _ms(s: dict) -> str:
    return f"{s['median'] * 1e3:.1f} | {s['min'] * 1e3:.1f} | {s['max'] * 1e3:.1f}"


_LOOPS = {"fit": "`lenet.train.fit`", "fit_channels_last": "`fit(channels_last=True)`",
          "fit_fast_path": "`fit(**fast_path('cpu'))`"}


def _loop_name(key: str) -> str:
    if key.startswith("baseline_"):
        workers = key.split("_")[1]
        return f"d2l-style loop (torchvision `MNIST` + `DataLoader`, {workers} workers)"
    return _LOOPS[key]


def _flags(fast: dict[str, bool]) -> str:
    """``{"channels_last": True, "amp": True, ...}`` -> ``channels_last=True, amp=True``."""
    return ", ".join(f"{k}=True" for k, on in fast.items() if on)


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def _new_round(cpu: dict | None) -> bool:
    """Whether ``cpu`` holds the comparison with d2l's own trainer (and the current goals)."""
    return cpu is not None and cpu.get("trainer_speedup_vs_d2l") is not None


def cpu_section(cpu: dict) -> list[str]:
    d = cpu["details"]
    new = _new_round(cpu)
    conv, sp = d["conv"], d["sparse"]
    runs = (d["trainer"], d["trainer_1_thread"])
    lines = [
        "## CPU benchmarks", "",
        (f"Machine: {cpu['machine']}, PyTorch {cpu['torch']}. The training loops run with "
         f"torch on {cpu['trainer_threads']} thread(s) and again on 1; the convolutions on "
         f"{cpu['conv_threads']} thread. Command:"), "", "```bash", cpu["command"].strip(),
        "```", "",
        ("Times are medians over the repeats, with the fastest and slowest run; the loops "
         "being compared take turns, so a busy machine slows them alike. Every training loop "
         f"trains `LeNet` on the same {runs[0]['images']:,} MNIST digits in batches of 256."
         + (" The whole run, every loop in it, has malloc keep freed memory "
            "(`lenet.train.reuse_freed_memory`), as the fast path sets it for its process."
            if cpu.get("malloc_reused") else "")),
        "", "| measurement | median (ms) | min (ms) | max (ms) |", "|---|---|---|---|"]
    for tr in runs:
        lines += [f"| {_loop_name(key)}, {tr['threads']} thread(s) | {_ms(sec)} |"
                  for key, sec in tr["seconds"].items()]
    for name in ("C1", "C3"):
        c = conv[name]
        lines += [f"| {name} `lenet.ops.conv2d` (im2col), batch 256 | {_ms(c['im2col_s'])} |",
                  f"| {name} `torch.nn.functional.conv2d`, batch 256 | {_ms(c['torch_s'])} |",
                  (f"| {name} naive loop, timed on batch {c['naive_batch']}, scaled to 256 "
                  f"| {_ms(c['naive_s_scaled'])} |")]
    tr = runs[0]
    base = f"baseline_{tr['workers']}_workers"
    ips = tr["images_per_s"]
    lines += [f"| C3 `SparseConv2d`, forward + backward | {_ms(sp['sparse_s'])} |",
              f"| C3 dense conv times a mask, forward + backward | {_ms(sp['masked_dense_s'])} |",
              "", "| ratio | value | goal |", "|---|---|---|",
              (f"| `fit` on the CPU's fast path (`{_flags(tr['fast_path'])}`) over the "
               f"d2l-style loop ({tr['workers']} workers), {tr['threads']} threads | "
               f"{cpu['trainer_speedup_vs_baseline']:.2f}x | at least 3x |"),
              (f"| the same, 1 thread | {cpu['trainer_speedup_vs_baseline_1_thread']:.2f}x | |"),
              (f"| the same over the loop with 0 workers, {tr['threads']} threads "
               f"| {ips['fit_fast_path'] / ips['baseline_0_workers']:.2f}x | |"),
              (f"| `fit(channels_last=True)`, float32, over the d2l-style loop, "
               f"{tr['threads']} threads | {tr['speedup_channels_last']:.2f}x | |"),
              (f"| plain `fit` over the d2l-style loop, {tr['threads']} threads "
               f"| {tr['speedup_plain_fit']:.2f}x | |"),
              (f"| im2col time / PyTorch time (C1 + C3) | {cpu['im2col_conv_vs_torch']:.2f} "
              f"| at most {GOAL_IM2COL if new else 3} |"),
              (f"| naive loop time / im2col time | {cpu['im2col_vs_naive_speedup']:,.0f}x "
              "| at least 100x |"),
              (f"| `SparseConv2d` time / masked dense conv time | "
              f"{cpu['sparse_c3_vs_masked_dense']:.2f} | at most 1 (within noise) |")]
    if cpu.get("notebooks_total_s") is not None:
        lines += [(f"| executing every notebook (as nbval does) | "
                  f"{cpu['notebooks_total_s']:.0f} s | "
                  f"at most {GOAL_NOTEBOOKS_S if new else 600:.0f} s |")]
        lines += ["", "| notebook | seconds |", "|---|---|"]
        lines += [f"| `{name}` | {sec:.0f} |"
                  for name, sec in d["notebooks"]["per_notebook_s"].items()]
        lines += ["", _kernel_sentence(d["notebooks"].get("kernel"))]
    lines += ["", "### What made the difference", "", _trainer_sentence(tr, base),
              ("* **im2col** turns the convolution into one matrix product, so NumPy's BLAS "
              "does the work; the naive loop runs one small dot product per output value "
              "in Python. PyTorch's own kernels remain faster."),
              _sparse_sentence(cpu["sparse_c3_vs_masked_dense"])]
    return lines


def _trainer_sentence(tr: dict, base: str) -> str:
    ips = tr["images_per_s"]
    return (f"* **The trainer** keeps the whole data set as one tensor and slices each batch "
            "with a seeded permutation, where the d2l-style loop turns every image into a "
            "PIL image and back into a tensor and collates batches in Python, in worker "
            "processes that compete with the training threads for the cores. That alone "
            f"takes {ips[base]:,.0f} to {ips['fit']:,.0f} images/s. Storing the model in "
            "`channels_last` (NHWC) memory then lets oneDNN run its faster kernels for "
            f"LeNet's few-channel convolutions: {ips['fit_channels_last']:,.0f} images/s. "
            + _fuse_sentence(tr) + _bf16_sentence(tr) +
            "On one thread the network's own arithmetic dominates, so the gains shrink; "
            "larger batches (1,024) did not help on this CPU.")


def _fuse_sentence(tr: dict) -> str:
    if not tr["fast_path"].get("fuse"):
        return ""
    return ("Computing each sigmoid and the 2x2 average pool after it as one autograd step "
            "(`fuse`, `lenet.fuse`), with no pooling kernel and a single pass over the maps "
            "backward (for the first layer, whose single input channel starves oneDNN, "
            "together with the convolution, on the input's four phases: `lenet.polyphase`), "
            "and keeping freed memory for the next step (`reuse_memory`) "
            + ("are two more parts of the fast path. " if tr["fast_path"]["amp"] else
               f"make the fast path: {tr['images_per_s']['fit_fast_path']:,.0f} images/s. "))


def _bf16_sentence(tr: dict) -> str:
    if not tr["fast_path"]["amp"]:
        return ("On a CPU, bfloat16 autocast pays only where a bfloat16 matmul runs at least "
                f"{BF16_MIN_SPEEDUP:g}x as fast as a float32 one (`has_fast_bf16` measures it); "
                "on this CPU it does not, so the fast path stays in float32. ")
    return ("This CPU multiplies in bfloat16 at least "
            f"{BF16_MIN_SPEEDUP:g}x as fast as in float32 (`has_fast_bf16` measures it), so "
            "the fast path also runs the forward pass and the loss under bfloat16 autocast, "
            "with float32 "
            "weights and gradients (`amp=True`)"
            + (", and runs the convolution that feeds the second fused sigmoid and pool (C3) "
               "in NCHW, where oneDNN's bfloat16 kernels are faster for its shapes "
               "(`lenet.layout`)" if tr["fast_path"].get("fuse")
               and tr["fast_path"].get("channels_last") else "")
            + f": {tr['images_per_s']['fit_fast_path']:,.0f} images/s. The test suite checks "
            "that such a run really computes in bfloat16 and still reaches float32's losses "
            "within 2% (`tests/test_train.py`). ")


def _kernel_sentence(kernel: dict | None) -> str:
    """What a notebook's time covers, and what the project's kernel does about its fixed
    costs, with the measured starts and exits when the run has them."""
    if kernel:
        p, q = kernel["project"], kernel["plain"]
        start = (f": ready for its first cell {p['ready_s']:.2f} s after it is started, "
                 f"against {q['ready_s']:.2f} s for the kernel `ipykernel install` writes")
        exit_ = (f": {p['exit_s']:.2f} s from the shutdown request to the exit after "
                 f"`import torch`, against {q['exit_s']:.2f} s")
    else:
        start = exit_ = ""
    return ("Each time covers starting the notebook's kernel and shutting it down, and the "
            "project's kernel (`scripts/kernel_spec.py`) shortens both. It starts without "
            "ipykernel's debugger, whose import is most of a plain kernel's start and which "
            "executing a notebook never uses (`LENET_KERNEL_DEBUGGER=1` keeps it for "
            f"JupyterLab's visual debugger){start}. A Python process with torch loaded "
            "spends much of its exit collecting garbage; the project's kernel freezes the "
            f"collector's objects first, which leaves those passes nothing to walk{exit_}.")


def _sparse_sentence(ratio: float) -> str:
    head = ("* **The sparse C3** scatters its 60 connected 5x5 kernels into a dense, "
            "zero-filled 16x6x5x5 kernel and runs one ordinary convolution. ")
    if ratio <= 1.1:
        return head + (f"Measured at {ratio:.2f} times the masked dense convolution, it costs "
                       "the same: sparsity saves parameters here, not time.")
    return head + (f"Measured at {ratio:.2f} times the masked dense convolution: the scatter "
                   "and its backward pass (an index gather) cost more than the mask "
                   "multiply at this size. Sparsity saves parameters here, not time.")

# ------------------------------------------------------------- the current round's sections


def d2l_section(cpu: dict) -> list[str]:
    """d2l's own ``train_ch6`` against ``fit``'s fast path, whole wall times."""
    if not _new_round(cpu):
        return []
    c = cpu["d2l_comparison"]
    det = (cpu.get("details") or {}).get("d2l") or {}
    acc = det.get("final_accuracy") or {}
    version = f" {det['d2l_version']}" if det.get("d2l_version") else ""
    ratio = cpu["trainer_speedup_vs_d2l"]

    def accs(name: str) -> str:
        a = acc.get(name) or {}
        return " | ".join(f"{a[k]:.1%}" if a.get(k) is not None else "-"
                          for k in ("train_acc", "test_acc"))

    return ["", "## Against d2l's own trainer", "",
            (f"`d2l.train_ch6` from the d2l package{version} and `fit(**fast_path('cpu'))` "
             "train the same LeNet (d2l's `nn.Sequential` and `lenet.models.LeNet` have the "
             f"same layers) on the same {c['images']:,} MNIST digits for {c['epochs']} "
             f"epoch(s) in batches of {c['batch_size']}, learning rate {c['lr']:g}, each "
             f"evaluating on the same {c['test_images']:,} test digits after every epoch. "
             f"d2l's DataLoaders use its default of {c['workers']} workers; torch runs on "
             f"{c['threads']} threads. The two take turns, and each time is a whole run's "
             "wall time, evaluation included (median over the repeats)."), "",
            "| trainer | wall time (s) | final training accuracy | final test accuracy |",
            "|---|---|---|---|",
            f"| `d2l.train_ch6` | {cpu['d2l_train_ch6_s']:.2f} | {accs('d2l_train_ch6')} |",
            (f"| `fit(**fast_path('cpu'))` | {cpu['fit_fast_path_with_eval_s']:.2f} | "
             f"{accs('fit_fast_path')} |"), "",
            (f"d2l's wall time over `fit`'s: **{ratio:.2f}x**, against a goal of at least "
             f"{GOAL_VS_D2L:g}x: {_met(ratio >= GOAL_VS_D2L)}.")] + _at_chance(acc) \
        + wait_policy_paragraph(cpu)


def wait_policy_paragraph(cpu: dict) -> list[str]:
    """The d2l comparison again in fresh processes, under OpenMP's default wait policy and
    under ``OMP_WAIT_POLICY=ACTIVE``."""
    by = cpu.get("trainer_speedup_vs_d2l_by_wait_policy")
    if not by or "ACTIVE" not in by or "default" not in by:
        return []
    policy = cpu.get("omp_wait_policy", "default")
    here = ("OpenMP's default wait policy" if policy == "default"
            else f"`OMP_WAIT_POLICY={policy}`")
    return ["", (
        "How long torch's idle threads wait for the next kernel is a setting of the whole "
        "process, read once when torch loads (`OMP_WAIT_POLICY`). By default, libgomp's idle "
        "threads spin for a while and then sleep, and a sleeping thread has to be woken "
        "for the next kernel; with `ACTIVE` they keep spinning. The same comparison ran once "
        "more under each policy, each in a fresh process, d2l's trainer and `fit` alike: "
        f"{by['default']:.2f}x under the default and **{by['ACTIVE']:.2f}x** under `ACTIVE` "
        f"({_met(by['ACTIVE'] >= GOAL_VS_D2L)} there). Under `ACTIVE`, `fit` ran "
        f"{cpu['fit_speedup_omp_active_vs_default']:.2f}x as fast and d2l's trainer "
        f"{cpu['d2l_speedup_omp_active_vs_default']:.2f}x. The figure above ran under "
        f"{here}. Spinning threads hold their cores while they wait, so `ACTIVE` suits a "
        "machine the training has to itself: set it before Python starts. The book's "
        "scripts, which run several processes side by side, set `PASSIVE` instead.")]


def _near_chance(accuracy: float) -> bool:
    return accuracy < CHANCE + LEARNT_ABOVE_CHANCE


def _at_chance(acc: dict) -> list[str]:
    """A sentence for a comparison whose trainers all end near chance: it times equal work,
    and its accuracies say nothing about either trainer's learning."""
    trains = [a.get("train_acc") for a in acc.values()]
    if not trains or None in trains or not all(map(_near_chance, trains)):
        return []
    return ["", (f"Both runs end near chance ({CHANCE:.0%} for ten classes): under SGD with "
                 "this learning rate, d2l's sigmoid LeNet stays at chance on so short a "
                 "budget, in d2l's trainer as in `fit`, as "
                 "[chapter 2](../notebooks/02_lenet_in_pytorch.ipynb) shows and explains. The "
                 "comparison times the same work, not learning.")]


_FRACTION_KEYS = ("matmul_fp32_flop_per_s", "matmul_bf16_flop_per_s",
                  "lenet_train_vs_fp32_matmul_6xconn", "lenet_train_vs_bf16_matmul_6xconn",
                  "lenet5_train_vs_fp32_matmul_6xconn", "lenet5_train_vs_bf16_matmul_6xconn")


def _lenet_shapes() -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """LeNet's convolution output channels, multiply-adds per convolution output value, and
    the spatial sizes of its convolution and pooling outputs, in order."""
    model = LeNet()
    channels = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    macs = [m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    sizes: list[tuple[int, int]] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape[-2:])))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.AvgPool2d)]
    with torch.no_grad():
        model(torch.zeros(1, *LeNet.input_size))
    for h in hooks:
        h.remove()
    return channels, macs, sizes


def _gflops(x: float) -> str:
    return f"{x / 1e9:,.1f}"


def machine_section(cpu: dict) -> list[str]:
    """Training FLOP/s as fractions of a large matmul's, and what bounds them."""
    if any(cpu.get(k) is None for k in _FRACTION_KEYS):
        return []
    fp32, bf16 = cpu["matmul_fp32_flop_per_s"], cpu["matmul_bf16_flop_per_s"]
    n = cpu.get("matmul_size")
    shape = f"{n:,}x{n:,} " if n else ""
    per_image = cpu.get("train_flop_per_image_6xconn") or {}
    lines = ["", "## How close to the machine", "",
             ("FLOPs are counted by one convention: a connection of `lenet.summary` is one "
              "multiply-add, 2 FLOPs, so a forward pass costs 2 x connections; the backward "
              "pass costs about twice the forward, so training costs 3 x forward = 6 x "
              "connections per image"
              + (f" ({per_image['lenet']:,} FLOPs for LeNet, {per_image['lenet5']:,} for "
                 "LeNet-5)" if {"lenet", "lenet5"} <= set(per_image) else "")
              + f". A square {shape}matmul counts 2n^3 FLOPs. Training FLOP/s cover the fast "
              "path's training steps, evaluation excluded; both run on "
              f"{cpu['trainer_threads']} threads."), "",
             "| computation | GFLOP/s | share of the float32 matmul | "
             "share of the bfloat16 matmul |", "|---|---|---|---|",
             f"| {shape}matmul, float32 | {_gflops(fp32)} | 100% | - |",
             f"| {shape}matmul, bfloat16 | {_gflops(bf16)} | - | 100% |"]
    emulated = _emulated(cpu)   # its matmul is then no ceiling to compare with
    for model, key in (("LeNet", "lenet"), ("LeNet-5", "lenet5")):
        share = cpu[f"{key}_train_vs_fp32_matmul_6xconn"]
        bf16_share = ("- (emulated)" if emulated
                      else f"{cpu[f'{key}_train_vs_bf16_matmul_6xconn']:.1%}")
        lines.append(f"| {model} training, `fit(**fast_path('cpu'))` | {_gflops(share * fp32)} "
                     f"| {share:.1%} | {bf16_share} |")
    return lines + ["", "### What bounds them", "", *_bounds(cpu, per_image)]


def _bounds(cpu: dict, per_image: dict) -> list[str]:
    channels, macs, sizes = _lenet_shapes()
    n = cpu.get("matmul_size")
    share = cpu["lenet_train_vs_fp32_matmul_6xconn"]
    (h0, w0), (h1, w1) = sizes[0], sizes[-1]
    windows = " and ".join(f"{m:,}" for m in macs)
    lines = [(f"LeNet trains at {share:.1%} of the float32 matmul's rate and LeNet-5 at "
              f"{cpu['lenet5_train_vs_fp32_matmul_6xconn']:.1%}. Set against LeNet's shapes, "
              "these numbers point to what bounds them:"), "",
             (f"* **Little arithmetic per value moved.** Each output value of LeNet's "
              f"convolutions costs {windows} multiply-adds"
              + (f", against {n:,} for each output of the reference product" if n else "")
              + ". The sigmoids and average pools do about one operation per value they read "
              "and write, so they cost memory traffic, not arithmetic, as does unfolding a "
              "convolution's windows (im2col). A step spends much of its time moving data "
              "rather than multiplying it.")]
    step = ""
    if per_image.get("lenet"):
        per_s = share * cpu["matmul_fp32_flop_per_s"] / per_image["lenet"]
        step = f" A training step on a batch of {BATCH} takes {BATCH / per_s * 1e3:.1f} ms."
    fixed = ""
    if cpu.get("step_fixed_fraction") is not None:
        frac = cpu["step_fixed_fraction"]
        fixed = (f" A step on a batch of 1, where the arithmetic is negligible, still takes "
                 f"{cpu['step_fixed_s'] * 1e3:.1f} ms: {frac:.0%} of a step on {BATCH} "
                 f"({cpu['step_s'] * 1e3:.1f} ms, timed in turns with it). That fixed cost "
                 "(Python, dispatch, the autograd engine, the optimizer) is all that a "
                 "whole-epoch step without per-batch Python could remove: at most "
                 f"{1 / (1 - frac):.2f}x." if frac < 1 else "")
    lines.append(
        f"* **Per-operation overhead at small sizes.** With "
        f"{' and '.join(str(c) for c in channels)} channels on maps from {h0}x{w0} down to "
        f"{h1}x{w1}, every operation of a step (dispatch, memory allocation, splitting the "
        f"work between {cpu['trainer_threads']} threads) carries a fixed cost that is large "
        f"next to its arithmetic.{step}{fixed}")
    depthwise = _speedups(cpu).get("depthwise_avgpool")
    unfused = _speedups(cpu).get("unfused")
    if depthwise and unfused:   # both set against torch's own pooling kernel
        lines.append(
            f"* **Few channels.** torch's average-pooling kernel for the channels_last layout "
            f"vectorises across channels, and {channels[0]} or {channels[1]} channels leave most "
            f"of each vector register empty. Set against that kernel, a depthwise convolution "
            f"computing the same averages trains LeNet at {depthwise / unfused:.2f}x the speed, "
            f"and the fast path's fused sigmoid and pool at {1 / unfused:.2f}x (from the Levers "
            "below).")
    elif depthwise:
        lines.append(
            f"* **Few channels.** torch's average-pooling kernel for the channels_last layout "
            f"vectorises across channels, and {channels[0]} or {channels[1]} channels leave most "
            f"of each vector register empty. Computing the same averages with a depthwise "
            f"convolution trains LeNet at {depthwise:.2f}x the speed (Levers, below)"
            + (": the pools are a small part of a step." if depthwise < PAYS else "."))
    defaults = _speedups(cpu).get("malloc_defaults")
    if defaults and defaults >= 1 / PAYS:
        lines.append(
            "* **Fresh pages, not here.** With glibc malloc's default thresholds, the "
            "activations a step allocates and frees come back as fresh pages, which the kernel "
            f"must map and zero; on this machine LeNet then trains at {defaults:.2f}x the speed "
            "of the fast path, which keeps freed memory for reuse (`reuse_memory`; Levers, "
            "below): page faults do not bound it here.")
    elif defaults:
        lines.append(
            "* **Fresh pages every step.** With glibc malloc's default thresholds, the "
            "activations a step allocates and frees "
            f"({BATCH * channels[0] * h0 * w0 * 4 / 1e6:.1f} MB for the first layer's "
            "output alone) come back as fresh pages, which the kernel must map and zero on every "
            f"step: LeNet then trains at {defaults:.2f}x the speed of the fast path, which "
            "keeps freed memory for reuse (`reuse_memory`; Levers, below).")
    ratio = cpu["matmul_bf16_flop_per_s"] / cpu["matmul_fp32_flop_per_s"]
    if _emulated(cpu) and not cpu["trainer_fast_path"].get("amp"):
        lines.append(f"* **Emulated bfloat16.** The bfloat16 matmul runs at {ratio:.2g}x the "
                     "float32 rate: this CPU converts bfloat16 to float32 and back rather than "
                     "computing in it natively.")
    elif ratio < 1:
        lever = _speedups(cpu)
        autocast = (f", and bfloat16 autocast trains LeNet at "
                    f"{lever['bf16_autocast'] / lever['float32']:.2f}x the speed of float32 "
                    "(Levers, below)" if {"bf16_autocast", "float32"} <= set(lever) else "")
        lines.append(f"* **bfloat16 slower than float32.** The bfloat16 matmul runs at "
                     f"{ratio:.2f}x the float32 rate{autocast}: this CPU's bfloat16 "
                     "instructions do not outrun its float32 ones, so the fast path trains "
                     "in float32.")
    else:
        lever = _speedups(cpu)
        if {"bf16_autocast", "float32"} <= set(lever):
            gain = lever["bf16_autocast"] / lever["float32"]
            if gain < ratio:
                lines.append(
                    f"* **bfloat16.** The bfloat16 matmul runs at {ratio:.1f}x the float32 "
                    f"rate, but bfloat16 autocast speeds LeNet's training by {gain:.2f}x "
                    "(Levers, below): the narrow, data-bound layers above gain little from "
                    "faster arithmetic.")
    return lines


def _emulated(cpu: dict) -> bool:
    """Whether the bfloat16 matmul ran emulated (far below float32's rate, as on a CPU
    without bfloat16 instructions), so that it is no ceiling to measure training against."""
    return cpu["matmul_bf16_flop_per_s"] < EMULATED_BELOW * cpu["matmul_fp32_flop_per_s"]


def _speedups(cpu: dict) -> dict[str, float]:
    return cpu.get("lever_speedups_vs_fast_path") or {}


_OPTIMIZERS = {"adam": "Adam", "sgd": "SGD"}


AVGPOOL_LEVER = ("average pooling as a depthwise convolution instead of torch's channels_last "
                 "pooling kernel")


AVGPOOL_FUSED_LEVER = ("a separate sigmoid, then average pooling as a depthwise convolution, "
                       "instead of the fused sigmoid and pool")


def _lever_rows(cpu: dict) -> list[dict]:
    """Each lever: label, speed ratio, accuracy and its reference's, on by default, error."""
    speed, acc = _speedups(cpu), cpu.get("lever_train_acc") or {}
    errors = cpu.get("lever_errors") or {}
    fast = cpu["trainer_fast_path"]
    threads = cpu["trainer_threads"]
    rows: list[dict] = []

    def add(label: str, names: tuple[str, str | None], on: bool) -> None:
        name, ref = names
        failed = [errors[k] for k in (name, ref) if k in errors]
        if failed:
            rows.append({"label": label, "error": failed[0], "on": on})
            return
        if name not in speed or (ref and ref not in speed):
            return
        ratio = speed[name] / (speed[ref] if ref else 1.0)
        rows.append({"label": label, "ratio": ratio, "acc": acc.get(name),
                     "ref_acc": acc.get(ref or "fast_path"), "on": on})

    if {"bf16_autocast", "float32"} & (set(speed) | set(errors)):
        add("bfloat16 autocast (oneDNN's bfloat16 kernels) over float32",
            ("bf16_autocast", "float32"), bool(fast.get("amp")))
    if "compile" in set(speed) | set(errors):
        add("`torch.compile` (inductor) on the fast path", ("compile", None),
            bool(fast.get("compile")))
    if "unfused" in set(speed) | set(errors):
        add("torch's sigmoid and average-pooling kernels one after the other instead of "
            "fused (`fuse`)", ("unfused", None), not fast.get("fuse"))
    if "depthwise_avgpool" in set(speed) | set(errors):
        # measured against the default: with fuse on, that is the fused sigmoid and pool
        add(AVGPOOL_FUSED_LEVER if fast.get("fuse") else AVGPOOL_LEVER,
            ("depthwise_avgpool", None), False)
    if "malloc_defaults" in set(speed) | set(errors):
        add("glibc malloc's default thresholds instead of keeping freed memory "
            "(`reuse_memory`), each in fresh processes", ("malloc_defaults", None),
            not fast.get("reuse_memory"))
    for name in sorted(k for k in set(speed) | set(errors) if k.startswith("threads_")):
        n = int(name.split("_")[1])
        add(f"{n} torch thread(s) instead of {threads}", (name, None), n == threads)
    return rows


def _costs_accuracy(row: dict) -> bool | None:
    """Whether the lever costs accuracy; None when its run cannot tell (no accuracy, or a
    reference still near chance)."""
    if row.get("acc") is None or row.get("ref_acc") is None or _near_chance(row["ref_acc"]):
        return None
    return row["acc"] < row["ref_acc"] - ACC_TOLERANCE


def _verdict(row: dict) -> str:
    default = "on by default" if row["on"] else "off by default"
    if "error" in row:
        return f"failed ({row['error'].replace('|', '/')}); {default}"
    if row["ratio"] > PAYS:
        cost = _costs_accuracy(row)
        gain = {True: "pays, costs accuracy", False: "pays",
                None: "pays, accuracy cost not shown"}[cost]
    else:
        gain = "slower" if row["ratio"] < 1 / PAYS else "no gain"
    return f"{gain}; {default}"


def _inconsistent(rows: list[dict]) -> list[str]:
    """Levers whose default contradicts the numbers: one that pays without costing accuracy
    but is off, one that costs accuracy but is on, or one that pays and is on although its
    run could not show whether it costs accuracy."""
    bad = []
    for r in rows:
        if "error" in r:
            continue
        pays, cost = r["ratio"] > PAYS, _costs_accuracy(r)
        if pays and cost is False and not r["on"]:
            bad.append(f"{r['label']} pays but is off")
        elif cost and r["on"]:
            bad.append(f"{r['label']} costs accuracy but is on")
        elif pays and cost is None and r["on"]:
            bad.append(f"{r['label']} is on, but its run does not show its accuracy cost")
    return bad


def levers_section(cpu: dict) -> list[str]:
    if cpu.get("trainer_fast_path") is None:
        return []
    rows = _lever_rows(cpu)
    if not rows:
        return []
    det = (cpu.get("details") or {}).get("levers") or {}
    images = f"the same {det['images']:,} digits" if det.get("images") else "the same digits"
    pct = lambda x: "-" if x is None else f"{x:.1%}"  # noqa: E731
    recipe = det.get("accuracy_recipe")
    accuracy = (f"Each then trains again from the same weights, {recipe['epochs']} epochs with "
                f"{_OPTIMIZERS.get(recipe['optimizer'], recipe['optimizer'])} at learning "
                f"rate {recipe['lr']:g} (SGD at d2l's rate leaves the sigmoid network at "
                "chance level for longer), and its training accuracy in the last of them is "
                "set against its reference's." if recipe else
                "Its training accuracy in that epoch is set against its reference's.")
    lines = ["", "## Levers", "",
             (f"Each lever changes one setting of the default fast path "
              f"(`{_flags(cpu['trainer_fast_path'])}`, {cpu['trainer_threads']} threads) and "
              f"trains LeNet for one epoch on {images} from the same initial weights, timed "
              f"in turns with its reference. {accuracy} A lever pays when it runs more than "
              f"{PAYS:g}x as fast, and costs accuracy when its training accuracy falls more "
              f"than {ACC_TOLERANCE * 100:g} percentage points below its reference's."), "",
             "| lever | speed over reference | training accuracy (lever / reference) | "
             "verdict |", "|---|---|---|---|"]
    for r in rows:
        speed = "-" if "error" in r else f"{r['ratio']:.2f}x"
        accs = "-" if "error" in r else f"{pct(r['acc'])} / {pct(r['ref_acc'])}"
        lines.append(f"| {r['label']} | {speed} | {accs} | {_verdict(r)} |")
    unshown = [r for r in rows if "error" not in r and _costs_accuracy(r) is None]
    refs = sorted({r["ref_acc"] for r in unshown
                   if r.get("ref_acc") is not None and _near_chance(r["ref_acc"])})
    if refs:
        lines += ["", (f"The reference is still near chance "
                       f"({' and '.join(pct(a) for a in refs)}, where guessing among ten "
                       f"classes gives {CHANCE:.0%}), so these runs cannot show whether a "
                       "lever costs accuracy, only how fast it is: a lever that paid would "
                       "need a longer run before it could be turned on.")]
    speed = _speedups(cpu)
    same = "bf16_autocast" if cpu["trainer_fast_path"].get("amp") else "float32"
    if same in speed:
        lines += ["", (f"The default timed against itself (its own setting run as a lever) "
                       f"measured {speed[same]:.2f}x: the noise of these ratios.")]
    return lines


def setup_section(cpu: dict) -> list[str]:
    setup = cpu.get("setup_s")
    if not setup:
        return []
    det = (cpu.get("details") or {}).get("setup") or {}
    steps = (("clone_s", "`git clone`", None), ("book_sh_s", "`bash scripts/book.sh`", "book_sh"),
             ("test_sh_s", "`bash scripts/test.sh`", "test_sh"))
    lines = ["", "## First set-up", "",
             "Both README commands, run one after the other on a fresh clone:", "",
             "| step | minutes | exit status |", "|---|---|---|"]
    for key, label, rc in steps:
        if key in setup:
            status = det.get(f"{rc}_returncode", "-") if rc else "-"
            lines.append(f"| {label} | {setup[key] / 60:.1f} | {status} |")
    lines.append(f"| total | {sum(setup.values()) / 60:.1f} | |")
    return lines


def _setup_ok(cpu: dict) -> bool:
    det = (cpu.get("details") or {}).get("setup") or {}
    return all(det.get(f"{k}_returncode", 0) == 0 for k in ("book_sh", "test_sh"))


def goals_section(cpu: dict | None, gpu: dict | None) -> list[str]:
    """Every current goal with its measured figure and whether it is met."""
    rows: list[str] = []
    if _new_round(cpu):
        r = cpu["trainer_speedup_vs_d2l"]
        by = cpu.get("trainer_speedup_vs_d2l_by_wait_policy") or {}
        active = (f" ({by['ACTIVE']:.2f}x in fresh processes under `OMP_WAIT_POLICY=ACTIVE`)"
                  if "ACTIVE" in by else "")
        rows.append(f"| `fit`'s fast path over d2l's `train_ch6`, whole wall time | {r:.2f}x"
                    f"{active} | at least {GOAL_VS_D2L:g}x | {_met(r >= GOAL_VS_D2L)} |")
        if not any(cpu.get(k) is None for k in _FRACTION_KEYS):
            for dt, name in (("fp32", "float32"), ("bf16", "bfloat16")):
                f = cpu[f"lenet_train_vs_{dt}_matmul_6xconn"]
                if dt == "bf16" and _emulated(cpu):
                    # a bfloat16 matmul slower than float32 runs emulated: no ceiling to compare
                    gflops = cpu["matmul_bf16_flop_per_s"] / 1e9
                    rows.append(f"| LeNet's training FLOP/s over the {name} matmul's | "
                                f"no reference: the bfloat16 matmul runs emulated here "
                                f"({gflops:.2f} GFLOP/s) | above {GOAL_FRACTION[dt]:.0%} | "
                                f"not measurable on this CPU |")
                    continue
                rows.append(f"| LeNet's training FLOP/s over the {name} matmul's | {f:.1%} | "
                            f"above {GOAL_FRACTION[dt]:.0%} | {_met(f > GOAL_FRACTION[dt])} |")
        levers = _lever_rows(cpu) if cpu.get("trainer_fast_path") is not None else []
        if levers:
            bad = _inconsistent(levers)
            pay = sum(1 for x in levers if "error" not in x and x["ratio"] > PAYS)
            rows.append(f"| levers: what pays is on by default, what costs accuracy is off | "
                        f"{len(levers)} measured, {pay} pay{'s' if pay == 1 else ''}"
                        + (f"; {', '.join(bad)}" if bad else "")
                        + f" | all | {_met(not bad)} |")
        r = cpu["im2col_conv_vs_torch"]
        conv = (cpu.get("details") or {}).get("conv") or {}
        per = ", ".join(f"{k} {conv[k]['im2col_vs_torch']:.2f}" for k in ("C1", "C3")
                        if k in conv)
        rows.append(f"| `lenet.ops.conv2d` time over `F.conv2d`'s, C1 + C3 | {r:.2f}"
                    + (f" ({per})" if per else "")
                    + f" | at most {GOAL_IM2COL:g} | {_met(r <= GOAL_IM2COL)} |")
        if cpu.get("notebooks_total_s") is not None:
            s = cpu["notebooks_total_s"]
            rows.append(f"| executing every notebook | {s:.0f} s | at most {GOAL_NOTEBOOKS_S:.0f}"
                        f" s | {_met(s <= GOAL_NOTEBOOKS_S)} |")
        if cpu.get("setup_s"):
            total = sum(cpu["setup_s"].values()) / 60
            rows.append(f"| first set-up on a fresh clone, timed | {total:.1f} min | both "
                        f"commands succeed | {_met(_setup_ok(cpu))} |")
    if gpu is not None and not gpu["device"].startswith(("cpu", "mps")):
        s99 = gpu["seconds_to_99"]
        rows.append(f"| `LeNetModern` to 99% test accuracy, {gpu['device']} | "
                    + ("not reached" if s99 is None else f"{s99:.2f} s")
                    + f" | at most {GOAL_GPU_SECONDS_TO_99:g} s | "
                    f"{_met(s99 is not None and s99 <= GOAL_GPU_SECONDS_TO_99)} |")
        ips = gpu["train_images_per_s"]
        rows.append(f"| LeNet-5 training, {gpu['device']} | {ips:,.0f} images/s | at least "
                    f"{GOAL_GPU_IMAGES_PER_S:,} images/s | {_met(ips >= GOAL_GPU_IMAGES_PER_S)} |")
    if not rows:
        return []
    return ["## Goals", "", "Each target, with the figure measured below:", "",
            "| goal | measured | target | result |", "|---|---|---|---|", *rows, ""]



def paper_section(runs: dict, validation: dict) -> list[str]:
    return ["", "## Full-MNIST training runs (chapter 8)", "",
            f"Each run is retrained by `{REPRODUCE}` with the arguments in the last column. "
            "The validation error comes from the same recipe trained on the first 50,000 "
            "training digits and scored on the last 10,000 (`--validation 10000`). Test error "
            "is shown only for the variant each group chooses on validation, and for the "
            "modern baseline, which is no candidate.", "",
            results_table(runs, validation)]


def gpu_section(gpu: dict | None) -> list[str]:
    lines = ["", "## Accelerator benchmark", "",
             ("`python -m benchmarks.gpu` measures the seconds `LeNetModern` needs to reach "
             "99% test accuracy (compilation excluded and reported apart) and LeNet-5's "
             "training images per second on the device's fast path, "
             "`fit(**fast_path(device))`: on CUDA, bfloat16 autocast, channels-last memory "
             "and `torch.compile` (`fit(amp=True, channels_last=True, compile=True)`).")]
    if gpu is None or gpu["device"].startswith(("cpu", "mps")):
        # only accelerator runs belong in this table; the CPU figures are above
        lines += ["", ("A run on a CUDA machine, `python -m benchmarks.gpu --out "
                  "results/gpu_benchmarks.json`, is listed here by "
                  "`python -m benchmarks.report`.")]
        return lines
    s99 = gpu["seconds_to_99"]
    lines += ["", "| device | seconds to 99% | epochs | compile (s) | LeNet-5 images/s |",
              "|---|---|---|---|---|",
              (f"| {gpu['device']} | {'not reached' if s99 is None else f'{s99:.1f}'} | "
              f"{gpu['epochs_to_99'] or '-'} | {gpu['compile_s']:.1f} | "
              f"{gpu['train_images_per_s']:,.0f} |")]
    return lines


def render() -> str:
    """The Markdown of the Performance appendix, from the files in ``results/``."""
    cpu, gpu = _load("cpu_benchmarks.json"), _load("gpu_benchmarks.json")
    paper = load_results(), load_results(kind="paper_validation")
    lines = ["# Performance", "",
             ("How fast the `lenet` package trains and convolves, measured by the scripts in "
             "`benchmarks/` and written to `results/`; this page is generated from those "
             "files by `python -m benchmarks.report`."), ""]
    lines += goals_section(cpu, gpu)
    if cpu is not None:
        lines += cpu_section(cpu)
        lines += d2l_section(cpu) + machine_section(cpu) + levers_section(cpu)
        lines += setup_section(cpu)
    lines += paper_section(*paper)
    lines += gpu_section(gpu)
    return "\n".join(lines) + "\n"


def main() -> None:
    PAGE.write_text(render())
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

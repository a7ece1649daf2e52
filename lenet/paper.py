"""The 1998 paper's training recipe for LeNet-5: its learning-rate schedule and distortions.

LeCun et al. (1998) trained LeNet-5 for 20 passes over MNIST with *global* learning rates
``5e-4`` (2 passes), ``2e-4`` (3), ``1e-4`` (3), ``5e-5`` (4) and ``1e-5`` (the rest). Those
rates are the ``epsilon`` of stochastic diagonal Levenberg-Marquardt: every parameter's
per-sample step is ``epsilon / (mu + h_kk)`` with ``h_kk`` an estimate of the diagonal of the
Hessian, so the effective steps are far larger than ``epsilon``. Plain SGD with the same tiny
numbers barely moves; :data:`PAPER_RECIPE` keeps the *shape* of the schedule and scales it
by a constant, with mini-batches and momentum instead of SDLM. :data:`SDLM_RECIPE` trains
with SDLM itself (:mod:`lenet.sdlm`), with a larger ``mu`` than the paper's (see chapter 8).

The paper's distortions ("planar affine transformations: translation, scaling, squeezing,
shearing") are :class:`lenet.augment.RandomAffine`, a batch augment that runs on the batch's
device (importable from here too, where it used to live).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from ._checks import check_int, check_number, check_tensor
from .augment import RandomAffine  # noqa: F401 -- moved to lenet.augment; old import path
from .sdlm import SDLM
from .train import to_model

#: The paper's passes per global learning rate (the last value repeats to the end).
PAPER_PHASES: tuple[tuple[float, int], ...] = ((5e-4, 2), (2e-4, 3), (1e-4, 3), (5e-5, 4))
PAPER_FINAL_LR = 1e-5
PAPER_EPOCHS = 20


def paper_schedule(epochs: int = PAPER_EPOCHS, scale: float = 1.0) -> list[float]:
    """The paper's per-pass global learning rates, each multiplied by ``scale``.

    ``paper_schedule()`` is ``[5e-4]*2 + [2e-4]*3 + [1e-4]*3 + [5e-5]*4 + [1e-5]*8``; with
    fewer ``epochs`` the list is cut, with more the final rate repeats. The result is a
    list of ``epochs`` floats, the ``lr`` argument of :func:`lenet.train.fit`.
    """
    epochs = check_int("epochs", epochs)
    scale = check_number("scale", scale)
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    rates = [lr for lr, n in PAPER_PHASES for _ in range(n)]
    rates += [PAPER_FINAL_LR] * max(0, epochs - len(rates))
    return [lr * scale for lr in rates[:epochs]]


@dataclass(frozen=True)
class Recipe:
    """How to train LeNet-5 with the paper's schedule, as :func:`lenet.train.fit` arguments:
    mini-batch SGD with momentum, or with ``mu`` set, :class:`lenet.sdlm.SDLM`."""

    epochs: int = PAPER_EPOCHS
    scale: float = 3.0        # lr = scale * the paper's rate: 1.5e-3 for the first two passes
    batch_size: int = 32
    momentum: float = 0.9
    j: float = 1.0            # the MAP loss's constant "rubbish class" penalty
    mu: float | None = None   # SDLM's mu; None: SGD

    def lr(self) -> list[float]:
        """Per-epoch rates: :func:`paper_schedule` scaled by :attr:`scale`."""
        return paper_schedule(self.epochs, self.scale)

    def optimizer(self) -> str | Callable:
        """The ``optimizer`` argument of :func:`lenet.train.fit`."""
        return "sgd" if self.mu is None else functools.partial(SDLM, mu=self.mu)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


#: The recipe used for the book's faithful LeNet-5 results (``benchmarks/reproduce_paper.py``).
PAPER_RECIPE = Recipe()
#: SDLM on mini-batches of 32: the paper's epsilon schedule times 20 (0.01 for the first two
#: passes, the step of 20 per-example steps) and ``mu = 1`` instead of 0.02. With the
#: paper's own epsilon and mu, LeNet-5's F6 saturated within its first hundred steps
#: (chapter 8 shows it).
SDLM_RECIPE = Recipe(scale=20.0, momentum=0.0, mu=1.0)


#: The command that trains the recorded runs; each record holds its full command line.
REPRODUCE = "python -m benchmarks.reproduce_paper"
#: The recorded runs that ship inside the package, as ``lenet/results/<kind>.json``:
#: full-MNIST runs (test error), validation runs (``--validation``, no test numbers) and
#: the training-set-size sweep (``--train-size``).
RESULT_KINDS = ("paper_results", "paper_validation", "paper_sweep")


def load_results(path: str | Path | None = None,
                 kind: str = "paper_results") -> dict[str, dict]:
    """The recorded runs, by name (``lenet5``, ``lenet5_distorted``, ``lenet_modern``, ...).

    Without ``path``, the ``kind`` of run (one of :data:`RESULT_KINDS`) is read from the
    package's own data (``lenet/results/<kind>.json``, found with :mod:`importlib.resources`,
    so an installed package reads the copy it ships); with ``path``, that JSON file.
    """
    if path is None:
        if kind not in RESULT_KINDS:
            raise ValueError(f"kind must be one of {RESULT_KINDS}, got {kind!r}")
        resource = resources.files("lenet").joinpath("results").joinpath(f"{kind}.json")
        name, text = f"{kind}.json", resource.read_text() if resource.is_file() else None
    else:
        path = Path(path)
        name, text = path.name, path.read_text() if path.exists() else None
    if text is None:
        raise FileNotFoundError(f"no results at {name}: run "
                                "`python -m benchmarks.reproduce_paper` first")
    return json.loads(text)["runs"]


#: Chapter 8's variants: name -> (group, what it changes). Within a group the variant with
#: the lowest validation error is chosen (:func:`choose_on_validation`); only a chosen one
#: meets the test set. ``modern`` is a baseline, not a candidate.
VARIANTS: dict[str, tuple[str, str]] = {
    "lenet5": ("undistorted", "SGD + momentum, paper's schedule x 3"),
    "lenet5_sdlm": ("undistorted", "SDLM_RECIPE"),
    "lenet5_distorted": ("distorted", "SGD + momentum, every image distorted"),
    "lenet_modern": ("modern", "LeNetModern: ReLU, Adam, one-cycle"),
}
#: The paper's MNIST test errors for the two groups of candidates (LeCun et al. 1998).
PAPER_TEST_ERROR: dict[str, float] = {"undistorted": 0.0095, "distorted": 0.008}


def choose_on_validation(validation: dict[str, dict],
                         groups: tuple[str, ...] = tuple(PAPER_TEST_ERROR)) -> dict[str, str]:
    """For each group, the :data:`VARIANTS` name with the lowest ``val_error`` among the
    validation runs (``load_results(kind="paper_validation")``); a group with no run is
    left out. Ties go to the variant listed first."""
    chosen = {}
    for group in groups:
        names = [n for n, (g, _) in VARIANTS.items() if g == group and n in validation]
        if names:
            chosen[group] = min(names, key=lambda n: validation[n]["val_error"])
    return chosen


def results_table(runs: dict[str, dict], validation: dict[str, dict] | None = None) -> str:
    """A Markdown table of :func:`load_results` records: validation error, test error,
    passes, wall time, device, and the arguments that make :data:`REPRODUCE` retrain the
    run (only the arguments, so the table fits a page).

    With ``validation``, test error is shown only for the variants chosen on it
    (:func:`choose_on_validation`) and for the modern baseline: showing every recorded
    run's test error would invite choosing on the test set.
    """
    shown = set(runs) if validation is None else (
        set(choose_on_validation(validation).values())
        | {n for n in runs if VARIANTS.get(n, ("",))[0] == "modern"})
    lines = ["| run | validation error | test error | passes | wall time (min) | device "
             "| arguments |", "|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        args = r["command"].removeprefix(REPRODUCE).strip()
        val = (validation or {}).get(name)
        val_text = f"{val['val_error']:.2%}" if val else "-"
        test_text = f"{r['test_error']:.2%}" if name in shown else "not shown"
        lines.append(f"| {name} | {val_text} | {test_text} | {r['epochs']} | "
                     f"{r['wall_s'] / 60:.1f} | {r['device']} ({r['machine']}) | `{args}` |")
    return "\n".join(lines)


@torch.no_grad()
def saturation(model: nn.Module, images: torch.Tensor, threshold: float = 1.6) -> dict[str, float]:
    """Fraction of LeNet-5's C5 and F6 outputs with ``|f(a)| > threshold`` (``f`` saturates
    at 1.7159), for ``images (N, 1, 32, 32)`` already through :func:`lenet.models.lenet5_input`.
    The images are moved to the model's device and dtype first.

    A saturated ``1.7159 tanh`` has a derivative near zero, so its unit has stopped learning.
    """
    check_tensor("images", images)
    threshold = check_number("threshold", threshold)
    images = to_model(model, images)
    c5 = model.features(images).flatten(1)
    f6 = model.classifier.F6_act(model.classifier.F6(c5))
    return {"C5": float((c5.abs() > threshold).float().mean()),
            "F6": float((f6.abs() > threshold).float().mean())}

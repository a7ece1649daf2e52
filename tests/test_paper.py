"""lenet.paper: the 1998 learning-rate schedule and the random affine distortions."""

from __future__ import annotations

import itertools
import json
import sys
from importlib import resources
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import reproduce_paper
from lenet.augment import RandomAffine
from lenet.data import load_mnist
from lenet.models import LeNet5, lenet5_input
from lenet.paper import (
    PAPER_RECIPE,
    REPRODUCE,
    Recipe,
    load_results,
    paper_schedule,
    results_table,
    saturation,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent

# LeCun et al. (1998), section III.C: 0.0005 for the first two passes, 0.0002 for the next
# three, 0.0001 for the next three, 0.00005 for the next four and 0.00001 thereafter.
PAPER = [5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4 + [1e-5] * 8


def test_schedule_is_the_papers_twenty_passes():
    assert paper_schedule() == pytest.approx(PAPER, rel=0, abs=0)
    assert len(paper_schedule()) == 20


@given(epochs=st.integers(1, 40), scale=st.floats(0.1, 100))
def test_schedule_cuts_or_extends_and_scales(epochs, scale):
    rates = paper_schedule(epochs, scale)
    extended = PAPER + [1e-5] * 20
    assert rates == pytest.approx([r * scale for r in extended[:epochs]])
    assert all(a >= b for a, b in itertools.pairwise(rates))  # never increases


@pytest.mark.parametrize("kwargs, error", [
    ({"epochs": 0}, ValueError), ({"epochs": 2.5}, TypeError),
    ({"scale": 0.0}, ValueError), ({"scale": "x"}, TypeError)])
def test_schedule_refuses_bad_arguments(kwargs, error):
    with pytest.raises(error):
        paper_schedule(**kwargs)


def test_recipe_scales_the_schedule_and_keeps_its_shape():
    assert PAPER_RECIPE.lr() == pytest.approx([r * PAPER_RECIPE.scale for r in PAPER])
    assert Recipe(epochs=3, scale=10).lr() == pytest.approx([5e-3, 5e-3, 2e-3])


def _blob(n: int = 1, size: int = 28) -> torch.Tensor:
    """A smooth bump at the centre (bilinear resampling moves it without losing mass)."""
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    bump = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 8)
    return bump.expand(n, 1, size, size).clone()


def _centre(x: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W) -> (N, 2)``: the (x, y) centre of mass in pixels."""
    h, w = x.shape[-2:]
    mass = x.sum((1, 2, 3))
    cx = (x.sum((1, 2)) * torch.arange(w)).sum(1) / mass
    cy = (x.sum((1, 3)) * torch.arange(h)).sum(1) / mass
    return torch.stack([cx, cy], 1)


def test_distortions_are_deterministic_given_the_seed():
    x = torch.rand(16, 1, 28, 28)
    assert torch.equal(RandomAffine(seed=5)(x), RandomAffine(seed=5)(x))
    assert not torch.equal(RandomAffine(seed=5)(x), RandomAffine(seed=6)(x))


def test_state_restores_the_same_next_distortion():
    aug, x = RandomAffine(seed=0), torch.rand(4, 1, 28, 28)
    aug(x)
    state = aug.state()
    first = aug(x)
    aug.set_state(state)
    assert torch.equal(aug(x), first)


def test_no_distortion_is_the_identity():
    x = torch.rand(8, 1, 28, 28)
    out = RandomAffine(translate=0, scale=0, squeeze=0, shear=0)(x)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


@settings(deadline=None, max_examples=20)
@given(seed=st.integers(0, 2**31 - 1), translate=st.floats(0, 3))
def test_translation_moves_the_centre_of_mass_by_the_drawn_shift(seed, translate):
    aug = RandomAffine(translate=translate, scale=0, squeeze=0, shear=0, seed=seed)
    state = aug.state()
    theta = aug.matrices(4, 28, 28)
    aug.set_state(state)
    x = _blob(4)
    shift_px = theta[:, :, 2] * 28 / 2  # normalised -> pixels; the output samples x + shift
    moved = _centre(aug(x)) - _centre(x)
    torch.testing.assert_close(moved, -shift_px, atol=2e-3, rtol=0)
    assert shift_px.abs().max() <= translate + 1e-6


@settings(deadline=None, max_examples=20)
@given(seed=st.integers(0, 2**31 - 1))
def test_scale_squeeze_and_shear_stay_within_their_ranges(seed):
    aug = RandomAffine(translate=0, scale=0.1, squeeze=0.2, shear=0.3, seed=seed)
    theta = aug.matrices(64, 28, 28)
    sx, sy = 1 / theta[:, 0, 0], 1 / theta[:, 1, 1]
    scale = (sx * sy).sqrt()                     # s (the squeeze cancels)
    squeeze = (sx / sy).sqrt()                   # q
    assert ((scale - 1).abs() <= 0.1 + 1e-6).all()
    assert ((squeeze - 1).abs() <= 0.2 + 1e-6).all()
    assert (theta[:, 0, 1].abs() <= 0.3).all() and (theta[:, 1, 0] == 0).all()


def test_distortion_keeps_shape_dtype_and_device():
    x = torch.rand(3, 1, 28, 28)
    out = RandomAffine()(x)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device


@pytest.mark.parametrize("kwargs, error", [
    ({"translate": -1}, ValueError), ({"scale": 1.0}, ValueError), ({"squeeze": -0.1}, ValueError),
    ({"shear": "a"}, TypeError), ({"seed": 1.5}, TypeError), ({"p": 1.5}, ValueError),
    ({"p": -0.1}, ValueError), ({"p": "half"}, TypeError)])
def test_distortion_refuses_bad_arguments(kwargs, error):
    with pytest.raises(error):
        RandomAffine(**kwargs)


def test_distortion_probability_leaves_the_other_images_exactly_unchanged():
    x = torch.rand(2000, 1, 28, 28)
    out = RandomAffine(seed=3, p=0.25)(x)
    unchanged = (out == x).flatten(1).all(dim=1)
    assert 0.2 < 1 - unchanged.float().mean() < 0.3  # about a quarter distorted
    assert torch.equal(RandomAffine(seed=3, p=1.0)(x), RandomAffine(seed=3)(x))
    assert torch.equal(RandomAffine(seed=3, p=0.0)(x), x)


def test_distortion_refuses_a_non_batch():
    with pytest.raises(ValueError, match="images"):
        RandomAffine()(torch.rand(28, 28))


def test_saturation_counts_the_squashed_units_beyond_the_threshold():
    torch.manual_seed(0)
    model = LeNet5()
    with torch.no_grad():  # a large bias drives half of F6 into the flat tail of the tanh
        model.classifier.F6.bias[:42] = 5.0
    images = lenet5_input(torch.rand(16, 1, 28, 28))
    with torch.no_grad():
        c5 = model.features(images).flatten(1)
        f6 = 1.7159 * torch.tanh(2 / 3 * model.classifier.F6(c5))
    got = saturation(model, images, threshold=1.5)
    assert got == {"C5": pytest.approx(float((c5.abs() > 1.5).float().mean())),
                   "F6": pytest.approx(float((f6.abs() > 1.5).float().mean()))}
    assert got["F6"] == pytest.approx(0.5)
    assert saturation(model.double(), images) == pytest.approx(saturation(model, images.double()))


def test_recorded_runs_load_and_tabulate_with_their_commands():
    runs = load_results()
    assert {"lenet5", "lenet5_distorted", "lenet_modern"} <= set(runs)
    table = results_table(runs).splitlines()
    assert len(table) == 2 + len(runs) and table[0].endswith("| arguments |")
    for line, (name, run) in zip(table[2:], runs.items()):
        assert line.startswith(f"| {name} | - | {run['test_error']:.2%} | {run['epochs']} |")
        assert run["command"].startswith("python -m benchmarks.reproduce_paper --runs ")
        assert line.endswith(f"| `{run['command'].removeprefix(REPRODUCE).strip()}` |")
        assert len(run["history"]["test_acc"]) == run["epochs"]
        # count-based error (95 / 10,000) against the float32 accuracy of the last pass
        assert run["test_error"] == pytest.approx(1 - run["history"]["test_acc"][-1],
                                                  abs=1e-6)


def test_variants_are_chosen_on_validation_per_group():
    from lenet.paper import choose_on_validation

    val = {"lenet5": {"val_error": 0.02}, "lenet5_sdlm": {"val_error": 0.01},
           "lenet5_distorted": {"val_error": 0.03}, "lenet_modern": {"val_error": 0.001},
           "lenet5_scale2": {"val_error": 0.0}}
    # lowest validation error per group; modern and unlisted runs are no candidates
    assert choose_on_validation(val) == {"undistorted": "lenet5_sdlm",
                                         "distorted": "lenet5_distorted"}
    tie = {"lenet5": {"val_error": 0.01}, "lenet5_sdlm": {"val_error": 0.01}}
    assert choose_on_validation(tie) == {"undistorted": "lenet5"}  # first listed
    assert choose_on_validation({"lenet5": {"val_error": 0.5}}) == {"undistorted": "lenet5"}


def test_results_table_shows_test_error_only_for_the_chosen_and_the_baseline():
    runs = load_results()
    val = {name: {"val_error": 0.01 + 0.001 * i} for i, name in enumerate(runs)}
    from lenet.paper import choose_on_validation
    chosen = set(choose_on_validation(val).values()) | {"lenet_modern"}
    for line in results_table(runs, val).splitlines()[2:]:
        name = line.split("|")[1].strip()
        shown = f"{runs[name]['test_error']:.2%}" in line.split("|")[3]
        assert shown == (name in chosen), line


def test_recorded_test_predictions_are_ten_thousand_digits_matching_the_test_error():
    for kind in ("paper_results", "paper_sweep"):
        try:
            runs = load_results(kind=kind)
        except FileNotFoundError:
            continue
        for name, run in runs.items():
            preds = run.get("test_predictions")
            if preds is None:  # runs recorded before predictions were kept
                continue
            assert len(preds) == 10_000 and set(preds) <= set("0123456789"), name
            if "test_acc" in run["history"] and run["history"]["test_acc"]:
                # the saved predictions are those of the last pass's evaluation
                assert run["test_error"] == pytest.approx(
                    1 - run["history"]["test_acc"][-1], abs=1e-6), name


def test_validation_runs_record_no_test_numbers():
    try:
        runs = load_results(kind="paper_validation")
    except FileNotFoundError:
        pytest.skip("no validation runs recorded yet")
    for name, run in runs.items():
        text = json.dumps(run)
        assert "test_error" not in run and "test_acc" not in text, name
        assert "test_predictions" not in run, name
        assert run["command"].endswith(f"--validation {run['validation_digits']}"), name
        assert run["config"]["train_digits"] == 60_000 - run["validation_digits"], name
        assert len(run["history"]["val_acc"]) == run["epochs"], name
        assert run["val_error"] == pytest.approx(1 - run["history"]["val_acc"][-1]), name


def test_results_ship_inside_the_package_and_load_through_importlib_resources():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "results/*.json" in pyproject["tool"]["setuptools"]["package-data"]["lenet"]
    folder = resources.files("lenet").joinpath("results")
    assert folder.joinpath("paper_results.json").is_file()
    assert load_results() == json.loads(
        folder.joinpath("paper_results.json").read_text())["runs"]
    # no module of the package finds its data relative to the repository
    for module in (ROOT / "lenet").glob("*.py"):
        assert "__file__" not in module.read_text(), module.name


def test_unknown_result_kind_is_refused(refuses):
    refuses(lambda: load_results(kind="paper_resultz"), (), ValueError,
            ("kind", "paper_resultz", "paper_validation"))


def test_validation_split_holds_out_the_last_training_digits(mnist_root, monkeypatch):
    monkeypatch.setenv("LENET_DATA", str(mnist_root))
    (x, y), (_, vy) = reproduce_paper.split(validation=10_000)
    train = load_mnist("train")
    assert len(y) == 50_000 and len(vy) == 10_000
    assert torch.equal(x, train.images[:50_000]) and torch.equal(vy, train.labels[50_000:])
    (x, y), (_, ty) = reproduce_paper.split(train_size=2_000)
    assert torch.equal(x, train.images[:2_000]) and len(ty) == 10_000
    assert torch.equal(ty, load_mnist("test").labels)
    with pytest.raises(ValueError, match="train_size"):
        reproduce_paper.split(validation=10_000, train_size=50_001)


def test_missing_results_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m benchmarks.reproduce_paper"):
        load_results(tmp_path / "none.json")

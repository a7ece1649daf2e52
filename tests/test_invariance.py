import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lenet.augment import random_shift
from lenet.invariance import (
    equivariance_error,
    feature_similarity,
    invariance_error,
    shift_images,
    shift_robustness,
)


@settings(max_examples=40, deadline=None)
@given(dx=st.integers(-5, 5), dy=st.integers(-5, 5))
def test_shift_images_matches_roll_with_zeroed_strip(dx, dy):
    x = torch.arange(2 * 3 * 6 * 7, dtype=torch.float32).reshape(2, 3, 6, 7) + 1
    out = shift_images(x, dx, dy)
    ref = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    mask = torch.ones(6, 7, dtype=torch.bool)
    if dy > 0:
        mask[:dy] = False
    elif dy < 0:
        mask[dy:] = False
    if dx > 0:
        mask[:, :dx] = False
    elif dx < 0:
        mask[:, dx:] = False
    assert torch.equal(out[..., mask], ref[..., mask])
    assert torch.all(out[..., ~mask] == 0)


def test_shift_images_fills_with_fill_value():
    out = shift_images(torch.ones(1, 1, 4, 4), 2, 0, fill=-0.5)
    assert torch.all(out[..., :2] == -0.5) and torch.all(out[..., 2:] == 1)


@pytest.mark.parametrize("dx,dy", [(4, 0), (0, -4), (10, 0)])
def test_shift_images_rejects_shifts_as_large_as_the_image(dx, dy):
    with pytest.raises(ValueError, match="must be in"):
        shift_images(torch.zeros(1, 1, 4, 4), dx, dy)


def test_shift_images_rejects_non_batch():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        shift_images(torch.zeros(4, 4), 1, 0)
    with pytest.raises(TypeError, match="dx"):
        shift_images(torch.zeros(1, 1, 4, 4), 1.5, 0)


@settings(max_examples=15, deadline=None)
@given(k=st.integers(1, 5), dx=st.integers(-3, 3), dy=st.integers(-3, 3))
def test_convolution_is_equivariant_in_the_interior(k, dx, dy):
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, k, padding=k // 2)
    err = equivariance_error(conv, torch.randn(2, 2, 24, 24), (dx, dy), crop=k + 3)
    assert err.max < 1e-5


def test_max_pool_is_equivariant_only_for_shifts_by_the_stride():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 32, 32)
    pool = nn.MaxPool2d(2, 2)
    assert equivariance_error(pool, x, (2, 0), scale=2).max == 0
    with pytest.raises(ValueError, match="multiple of scale"):
        equivariance_error(pool, x, (1, 0), scale=2)


def test_invariance_error_is_zero_for_a_global_sum_and_zero_shift():
    x = torch.zeros(1, 1, 8, 8)
    x[..., 2:4, 2:4] = 1
    def total(t):
        return t.sum(dim=(2, 3))

    assert invariance_error(total, x, (3, 1)).max == 0
    assert invariance_error(lambda t: t, torch.rand(2, 1, 5, 5), (0, 0)).max == 0
    assert invariance_error(lambda t: t, x, (1, 0)).max == 1


def test_random_shift_is_deterministic_and_a_pure_translation():
    x = torch.rand(16, 1, 10, 10)
    a = random_shift(3, torch.Generator().manual_seed(1))(x)
    b = random_shift(3, torch.Generator().manual_seed(1))(x)
    assert torch.equal(a, b)
    # every output image equals some shift_images(x_i, dx, dy) with |dx|, |dy| <= 3
    for i in range(len(x)):
        assert any(torch.equal(a[i:i + 1], shift_images(x[i:i + 1], dx, dy))
                   for dx in range(-3, 4) for dy in range(-3, 4))


def test_random_shift_validates_max_shift():
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(-1)
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(5)(torch.zeros(2, 1, 4, 4))


def test_shift_robustness_matches_a_direct_computation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
    x, y = torch.rand(20, 1, 6, 6), torch.randint(0, 3, (20,))
    curve = shift_robustness(model, x, y, max_shift=2)
    assert curve.shifts == [0, 1, 2]
    probs = torch.softmax(model(shift_images(x, 2, 0)), 1).detach()
    assert curve.accuracy[2] == pytest.approx(float((probs.argmax(1) == y).float().mean()))
    assert curve.confidence_true[2] == pytest.approx(float(probs[torch.arange(20), y].mean()))
    assert curve.confidence_pred[2] == pytest.approx(float(probs.max(1).values.mean()))
    assert all(isinstance(v, float) for v in curve.accuracy)
    with pytest.raises(ValueError, match="direction"):
        shift_robustness(model, x, y, 1, direction="z")


def test_max_pool_odd_shift_matches_neither_neighbouring_output_shift():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 32, 32)
    pool = nn.MaxPool2d(2, 2)
    for t in (0, 1):
        assert equivariance_error(pool, x, (1, 0), scale=2, out_shift=(t, 0)).max > 0.1


def test_feature_similarity_is_torch_cosine_of_flattened_outputs():
    torch.manual_seed(0)
    x = torch.rand(5, 1, 8, 8)
    pool = nn.MaxPool2d(2, 2)
    ref = torch.nn.functional.cosine_similarity(
        pool(shift_images(x, 1, 2)).flatten(1), pool(x).flatten(1)).mean()
    assert feature_similarity(pool, x, (1, 2)) == pytest.approx(float(ref), abs=1e-6)
    assert feature_similarity(pool, x, (0, 0)) == pytest.approx(1.0, abs=1e-6)


def test_empty_input_is_refused_instead_of_nan():
    from lenet.invariance import shift_robustness
    from lenet.layers import map_loss
    from lenet.models import LeNet

    with pytest.raises(ValueError, match="images"):
        shift_robustness(LeNet(), torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="scores"):
        map_loss(torch.zeros(0, 10), torch.zeros(0, dtype=torch.long))

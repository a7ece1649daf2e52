import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet.shift_similarity import NEIGHBOUR_SHIFTS, shift_similarities


def _shift_np(x: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Reference shift: numpy slicing into a zero array."""
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def test_neighbour_shifts_are_the_eight_distinct_unit_moves():
    assert len(set(NEIGHBOUR_SHIFTS)) == 8
    assert set(NEIGHBOUR_SHIFTS) == {(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                                     if (dx, dy) != (0, 0)}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), dx=st.integers(-3, 3), dy=st.integers(-3, 3))
def test_shift_similarities_match_a_dot_product_over_norms(seed, dx, dy):
    x = torch.rand(3, 2, 8, 9, generator=torch.Generator().manual_seed(seed),
                   dtype=torch.float64)
    got = shift_similarities(lambda t: F.max_pool2d(t, 2), x, [(dx, dy), (0, 0)])
    assert got.shape == (2, 3)
    xn = x.numpy()
    def pool(m):
        return m[:, :8, :8].reshape(2, 4, 2, 4, 2).max(axis=(2, 4))

    for n in range(3):
        a = pool(_shift_np(xn[n], dx, dy)).ravel()
        b = pool(xn[n]).ravel()
        want = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        assert got[0, n].item() == pytest.approx(want, abs=1e-12)
    assert torch.allclose(got[1], torch.ones(3, dtype=torch.float64))


def test_shift_similarities_of_an_invariant_map_are_one():
    x = torch.zeros(4, 1, 10, 10)
    x[:, :, 3:7, 3:7] = torch.rand(4, 1, 4, 4) + 0.1      # a blob away from the border
    def total(t):
        return t.sum(dim=(2, 3))

    got = shift_similarities(total, x)
    assert got.shape == (8, 4)
    assert torch.allclose(got, torch.ones(8, 4))


def test_shift_similarities_of_zero_features_are_zero():
    got = shift_similarities(lambda t: t, torch.zeros(2, 1, 5, 5), [(1, 0)])
    assert torch.equal(got, torch.zeros(1, 2))


@pytest.mark.parametrize("shifts", [[], "ab", [(1,)], [(1, 2, 3)], 5])
def test_shift_similarities_reject_bad_shifts(shifts):
    with pytest.raises(ValueError, match="shifts"):
        shift_similarities(lambda t: t, torch.zeros(1, 1, 4, 4), shifts)


def test_shift_similarities_reject_bad_images_and_offsets():
    with pytest.raises(TypeError, match="images"):
        shift_similarities(lambda t: t, np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="images"):
        shift_similarities(lambda t: t, torch.zeros(4, 4))
    with pytest.raises(TypeError, match="dx"):
        shift_similarities(lambda t: t, torch.zeros(1, 1, 4, 4), [(0.5, 0)])

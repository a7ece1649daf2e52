"""Locality and translation invariance turn a dense 4-index weight into F.conv2d."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet.fc_to_conv import (
    from_kernel,
    locality_mask,
    plot_weight_stages,
    share_offsets,
    to_offsets,
)


def _dense(weight, x):
    return np.einsum("ijkl,kl->ij", weight, x)


def _conv(x, kernel):
    r = kernel.shape[0] // 2
    return F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(kernel)[None, None],
                    padding=r)[0, 0].numpy()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_local_shared_dense_layer_is_torch_conv2d(h, w, r, seed):
    rng = np.random.default_rng(seed)
    dense = rng.standard_normal((h, w, h, w))
    kernel = share_offsets(to_offsets(dense * locality_mask(h, w, r), r))
    assert kernel.shape == (2 * r + 1, 2 * r + 1)
    x = rng.standard_normal((h, w))
    np.testing.assert_allclose(_dense(from_kernel(kernel, h, w), x), _conv(x, kernel),
                               atol=1e-12)


def test_shared_kernel_is_the_mean_weight_of_each_offset():
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((5, 5, 5, 5)) * locality_mask(5, 5, 1)
    kernel = share_offsets(to_offsets(dense, 1))
    # offset (0, +1): output (i, j) reads (i, j+1), for the 5*4 outputs with j < 4
    by_hand = np.mean([dense[i, j, i, j + 1] for i in range(5) for j in range(4)])
    assert kernel[1, 2] == pytest.approx(by_hand)


def test_from_kernel_round_trips_and_counts_weights():
    kernel = np.arange(9.0).reshape(3, 3) + 1
    weight = from_kernel(kernel, 8, 8)
    assert np.count_nonzero(weight) == locality_mask(8, 8, 1).sum() == 22 ** 2
    np.testing.assert_array_equal(share_offsets(to_offsets(weight, 1)), kernel)
    assert np.isnan(to_offsets(weight, 1)[0, 0, 0, 0])      # reads padding


def test_bad_arguments_raise_naming_the_argument():
    with pytest.raises(ValueError, match="radius=-1"):
        locality_mask(3, 3, -1)
    with pytest.raises(TypeError, match="height"):
        locality_mask(3.0, 3, 1)
    with pytest.raises(ValueError, match="not local|locality_mask"):
        to_offsets(np.ones((4, 4, 4, 4)), 1)
    with pytest.raises(ValueError, match="weight must have shape"):
        to_offsets(np.ones((4, 4, 3, 3)), 1)
    with pytest.raises(ValueError, match="odd"):
        from_kernel(np.ones((2, 2)), 4, 4)
    with pytest.raises(ValueError, match="offsets"):
        share_offsets(np.ones((3, 3, 2, 2)))


def test_plot_weight_stages_draws_one_panel_per_stage_and_pixel():
    w = from_kernel(np.ones((3, 3)), 6, 6)
    fig = plot_weight_stages([w, w], ["a", "b"], [(0, 0), (3, 2)])
    assert len(fig.axes) == 4 + 2                             # panels and colour bars
    plt.close(fig)
    with pytest.raises(ValueError, match="titles"):
        plot_weight_stages([w], ["a", "b"], [(0, 0)])

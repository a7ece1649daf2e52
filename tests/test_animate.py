"""Conv-arithmetic frames and receptive-field masks against torch; the GIF on disk."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet.animate import (
    conv_frames,
    conv_geometry,
    plot_conv_arithmetic,
    save_conv_animation,
)
from lenet.arithmetic import conv_output_size, conv_transpose_output_size
from lenet.plot import plot_receptive_field
from lenet.receptive_field import (
    centre_input_gradient,
    receptive_field_mask,
    receptive_field_masks,
)


@st.composite
def conv_args(draw):
    k = draw(st.integers(1, 4))
    d = draw(st.integers(1, 3))
    p = draw(st.integers(0, 2))
    k_eff = d * (k - 1) + 1
    low = max(1, k_eff - 2 * p)
    size = draw(st.integers(low, low + 6))
    return {"size": size, "kernel_size": k, "stride": draw(st.integers(1, 3)), "padding": p,
                "dilation": d}


@st.composite
def transposed_args(draw):
    k = draw(st.integers(1, 4))
    d = draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    k_eff = d * (k - 1) + 1
    p = draw(st.integers(0, k_eff - 1))
    op = draw(st.integers(0, max(s, d) - 1))
    size = draw(st.integers(1, 5))
    if (size - 1) * s + k_eff + op - 2 * p < 1:
        p = 0
    return {"size": size, "kernel_size": k, "stride": s, "padding": p, "dilation": d,
                "output_padding": op, "transposed": True}


@settings(max_examples=60, deadline=None)
@given(conv_args())
def test_conv_frames_are_the_windows_of_torch_unfold(args):
    frames = conv_frames(**args)
    out = conv_output_size(args["size"], args["kernel_size"], args["stride"], args["padding"],
                           args["dilation"])
    assert len(frames) == out ** 2
    # Label every input pixel 1..size**2 (padding is 0) and let unfold gather the windows.
    size = args["size"]
    labels = torch.arange(1, size * size + 1, dtype=torch.float64).reshape(1, 1, size, size)
    cols = F.unfold(labels, args["kernel_size"], dilation=args["dilation"],
                    padding=args["padding"], stride=args["stride"])[0]
    g = conv_geometry(**args)
    for index, frame in enumerate(frames):
        assert frame.output_cell == divmod(index, out)
        got = [0 if (ij := g.input_index(*cell)) is None else ij[0] * size + ij[1] + 1
               for cell in frame.footprint]
        assert got == cols[:, index].long().tolist()


@settings(max_examples=60, deadline=None)
@given(transposed_args(), st.integers(0, 2**31 - 1))
def test_transposed_frames_compute_conv_transpose2d(args, seed):
    # Output pixel (oh, ow) = the flipped kernel dotted with the frame's footprint on the
    # zero-inserted, padded grid -- the guide's equivalent convolution.
    rng = np.random.default_rng(seed)
    k = args["kernel_size"]
    x = rng.standard_normal((args["size"], args["size"]))
    w = rng.standard_normal((k, k))
    ref = F.conv_transpose2d(torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None],
                             stride=args["stride"], padding=args["padding"],
                             output_padding=args["output_padding"],
                             dilation=args["dilation"])[0, 0].numpy()
    out = conv_transpose_output_size(args["size"], k, args["stride"], args["padding"],
                                     args["output_padding"], args["dilation"])
    assert ref.shape == (out, out)
    frames = conv_frames(**args)
    assert len(frames) == out ** 2
    grid = conv_geometry(**args).embed(x)
    flipped = w[::-1, ::-1].ravel()
    for frame in frames:
        value = sum(grid[cell] * tap for cell, tap in zip(frame.footprint, flipped))
        assert value == pytest.approx(ref[frame.output_cell], abs=1e-9)


def test_transposed_geometry_marks_inserted_zeros_and_padding():
    g = conv_geometry(3, 3, stride=2, transposed=True)  # guide's i'=3, k=3, s=2 -> o'=7
    assert (g.grid_size, g.output_size, g.offset) == (9, 7, 2)
    assert g.cell_kind(2, 2) == "input" and g.input_index(4, 6) == (1, 2)
    assert g.cell_kind(3, 2) == "inserted" and g.cell_kind(0, 5) == "padding"


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 4, "kernel_size": 3, "output_padding": 1}, "output_padding"),
    ({"size": 4, "kernel_size": 3, "padding": 3, "transposed": True}, "padding=3"),
    ({"size": 2, "kernel_size": 5}, "kernel_size=5"),
    ({"size": 0, "kernel_size": 1}, "size=0"),
])
def test_bad_geometry_raises_value_error_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv_frames(**kwargs)


def test_gif_is_written_atomically_and_deterministically(tmp_path):
    first = save_conv_animation(tmp_path / "a.gif", 3, 2, padding=1, stride=2)
    data = first.read_bytes()
    assert data[:6] in (b"GIF87a", b"GIF89a")
    assert len(data) < 300_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]  # no temp file left
    second = save_conv_animation(tmp_path / "b.gif", 3, 2, padding=1, stride=2)
    assert second.read_bytes() == data
    from PIL import Image

    with Image.open(first) as im:
        assert im.n_frames == conv_output_size(3, 2, 2, 1) ** 2


def test_gif_is_large_enough_to_read_in_a_book_column(tmp_path):
    # A 5x5 input with padding 1 draws 7 + 5 cells: about 700 px, the width of a page's
    # text column, with 14-16 pt labels at 100 dpi (about 20 px tall).
    from PIL import Image

    from lenet.animate import GIF_DPI, LABEL_PT

    path = save_conv_animation(tmp_path / "same.gif", 5, 3, padding=1)
    with Image.open(path) as im:
        width, height = im.size
    assert 650 <= width <= 800 and height >= 400
    assert LABEL_PT * GIF_DPI / 72 >= 18
    assert path.stat().st_size < 1_000_000


def test_failed_render_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="fps"):
        save_conv_animation(tmp_path / "a.gif", 3, 2, fps=0)
    with pytest.raises(ValueError, match=".gif"):
        save_conv_animation(tmp_path / "a.png", 3, 2)
    assert list(tmp_path.iterdir()) == []


def test_static_frame_is_a_figure():
    fig = plot_conv_arithmetic(4, 3, stride=2, transposed=True, frame=1)
    assert fig.get_suptitle() == "transposed conv: i=4, k=3, s=2 -> o=9"
    plt.close(fig)
    with pytest.raises(ValueError, match="frame"):
        plot_conv_arithmetic(4, 3, frame=4)
    with pytest.raises(TypeError, match="frame"):
        plot_conv_arithmetic(4, 3, frame=1.0)


def _ones_stack(layers):
    stack = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, k, dilation=d, bias=False)
                                  for k, d in layers])
    for conv in stack:
        torch.nn.init.ones_(conv.weight)
    return stack


def _gradient_support(layers, size):
    """Input pixels with a nonzero gradient for the centre unit of a stack of all-ones convs."""
    grad = centre_input_gradient(_ones_stack(layers), size)
    rows, cols = np.nonzero(grad)
    return grad[rows.min():rows.max() + 1, cols.min():cols.max() + 1] != 0


def test_centre_input_gradient_counts_paths_through_the_stack():
    # Two all-ones 3x3 layers: the centre unit sees the 5x5 patch; the middle pixel is
    # reached by 9 paths, a corner by 1 (the 1-D counts 1,2,3,2,1, squared).
    grad = centre_input_gradient(_ones_stack([(3, 1), (3, 1)]), 7)
    line = np.array([0, 1, 2, 3, 2, 1, 0])
    assert np.array_equal(grad, np.outer(line, line))
    with pytest.raises(ValueError, match="size=0"):
        centre_input_gradient(_ones_stack([(3, 1)]), 0)


@pytest.mark.parametrize("layers", [
    [(3, 1), (3, 2), (3, 4)],          # Yu & Koltun: 3, 7, 15, no holes
    [(3, 2), (3, 2), (3, 2)],          # gridding: holes
    [(3, 1), (3, 1), (3, 1)],
    [(2, 3), (3, 2)],
])
def test_receptive_field_mask_is_the_gradient_support(layers):
    mask = receptive_field_mask([(k, 1, d) for k, d in layers])
    assert np.array_equal(mask, _gradient_support(layers, 2 * mask.shape[0] + 1))


def test_dilations_1_2_4_give_3_7_15_and_equal_dilations_leave_holes():
    assert [m.shape[0] for m in receptive_field_masks([(3, 1, 1), (3, 1, 2), (3, 1, 4)])] \
        == [3, 7, 15]
    assert receptive_field_mask([(3, 1, 1), (3, 1, 2), (3, 1, 4)]).all()
    assert not receptive_field_mask([(3, 1, 2)] * 3).all()
    fig = plot_receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)])
    assert len(fig.axes) == 3
    plt.close(fig)


def test_sizes_beyond_the_stated_limits_are_refused_at_once(tmp_path):
    import time

    from lenet.animate import conv_frames, save_conv_animation
    from lenet.ops import conv2d
    from lenet.plot import plot_receptive_field
    from lenet.receptive_field import centre_input_gradient

    start = time.perf_counter()
    with pytest.raises(ValueError, match="size"):
        save_conv_animation(tmp_path / "a.gif", 40, 3)  # 1,444 frames: used to run > 2 min
    with pytest.raises(ValueError, match="size"):
        conv_frames(10**6, 3)
    with pytest.raises(ValueError, match="size"):
        centre_input_gradient(torch.nn.Identity(), 10**6)
    with pytest.raises(ValueError, match="layers"):
        plot_receptive_field([("conv", 3, 1, 1000)])
    with pytest.raises(ValueError, match="padding"):
        conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), padding=10**6)
    assert time.perf_counter() - start < 5
    assert not list(tmp_path.iterdir())

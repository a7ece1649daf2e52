"""LeNet-5's own layers against torch references and the paper's formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet.layers import C3_TABLE, RBFOutput, ScaledTanh, SparseConv2d, Subsampling, map_loss
from lenet.prototypes import digit_bitmaps, rbf_prototypes

pytestmark = pytest.mark.usefixtures("one_thread")  # fast and exact on a busy CPU

#: Table I of LeCun et al. (1998) as printed: rows are the S2 maps 0-5, columns the C3 maps
#: 0-15, "X" where the C3 map reads the S2 map.
PAPER_TABLE_I = [
    "X...XXX..XXXX.XX",
    "XX...XXX..XXXX.X",
    "XXX...XXX..X.XXX",
    ".XXX..XXXX..X.XX",
    "..XXX..XXXX.XX.X",
    "...XXX..XXXX.XXX",
]


def test_sparse_conv_mask_is_the_papers_table_one():
    mask = SparseConv2d(6, C3_TABLE, 5).connection_mask()
    paper = torch.tensor([[ch == "X" for ch in row] for row in PAPER_TABLE_I]).T
    assert torch.equal(mask, paper)
    assert int(mask.sum()) == 60  # 60 connected kernels: 60 * 25 + 16 = 1,516 parameters


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 3), size=st.integers(5, 12))
def test_sparse_conv_equals_conv2d_with_the_masked_dense_weight(seed, n, size):
    torch.manual_seed(seed)
    layer = SparseConv2d(6, C3_TABLE, 5)
    x = torch.randn(n, 6, size, size)
    dense = torch.randn(16, 6, 5, 5) * layer.connection_mask()[:, :, None, None]
    with torch.no_grad():
        layer.weight.copy_(dense[layer._rows, layer._cols])
    torch.testing.assert_close(layer(x), F.conv2d(x, dense, layer.bias))


def test_sparse_conv_gradient_reaches_only_connected_kernels():
    layer = SparseConv2d(6, C3_TABLE, 5)
    dense = layer.dense_weight()
    dense.retain_grad()
    F.conv2d(torch.randn(2, 6, 9, 9), dense, layer.bias).square().sum().backward()
    connected = layer.connection_mask()
    per_kernel = layer.weight.grad.abs().sum(dim=(1, 2))
    assert (per_kernel > 0).all() and len(per_kernel) == int(connected.sum())
    # the dense kernel's gradient is nonzero everywhere, but only connected entries are
    # parameters: the unconnected ones stay exactly zero in the forward weight
    assert (dense.detach()[~connected] == 0).all()
    x = torch.randn(2, 6, 9, 9, requires_grad=True)
    layer(x)[:, 0].sum().backward()  # C3 map 0 reads S2 maps 0, 1, 2 only
    touched = x.grad.abs().sum(dim=(0, 2, 3)) > 0
    assert touched.tolist() == [True, True, True, False, False, False]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), channels=st.integers(1, 4), k=st.integers(1, 3))
def test_subsampling_is_k_squared_coef_times_avg_pool_plus_bias(seed, channels, k):
    torch.manual_seed(seed)
    layer = Subsampling(channels, k)
    with torch.no_grad():
        layer.weight.normal_()
        layer.bias.normal_()
    x = torch.randn(2, channels, 4 * k, 4 * k)
    expected = (k * k) * layer.weight.view(1, -1, 1, 1) * F.avg_pool2d(x, k) \
        + layer.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(layer(x), expected)
    assert sum(p.numel() for p in layer.parameters()) == 2 * channels


def test_scaled_tanh_maps_plus_minus_one_to_itself():
    f = ScaledTanh()
    torch.testing.assert_close(f(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([-1.0, 0.0, 1.0]),
                               atol=1e-4, rtol=0)
    x = torch.linspace(-5, 5, 101)
    torch.testing.assert_close(f(x), 1.7159 * torch.tanh(2 * x / 3))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 5))
def test_rbf_output_is_minus_squared_euclidean_distance(seed, n):
    torch.manual_seed(seed)
    protos = torch.randn(10, 84)
    x = torch.randn(n, 84)
    torch.testing.assert_close(RBFOutput(protos)(x), -torch.cdist(x, protos).square(),
                               rtol=1e-4, atol=1e-3)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 6), j=st.floats(0.0, 5.0))
def test_map_loss_is_the_papers_equation(seed, n, j):
    torch.manual_seed(seed)
    penalties = torch.rand(n, 10) * 20  # y_i >= 0, the RBF outputs
    target = torch.randint(0, 10, (n,))
    y_target = penalties[torch.arange(n), target]
    with_rubbish = torch.cat([-penalties, torch.full((n, 1), -j)], dim=1)
    expected = (y_target + torch.logsumexp(with_rubbish, dim=1)).mean()
    torch.testing.assert_close(map_loss(-penalties, target, j), expected)


def test_prototypes_are_ten_distinct_plus_minus_one_bitmaps():
    maps = digit_bitmaps()
    assert maps.shape == (10, 12, 7)
    assert set(maps.unique().tolist()) == {-1.0, 1.0}
    flat = rbf_prototypes()
    assert flat.shape == (10, 84)
    assert len({tuple(row.tolist()) for row in flat}) == 10
    assert torch.equal(flat, maps.reshape(10, 84))


# ------------------------------------------------------------------------------ bad input
def _forward(module_factory, x):
    return module_factory()(x)


NAN = float("nan")
C3 = C3_TABLE
#: (callable, args, exception, substrings the message must contain)
BAD_INPUT = [
    pytest.param(Subsampling, (0,), ValueError, ("channels", ">= 1", "got 0"), id="sub-channels-0"),
    pytest.param(Subsampling, (-3,), ValueError, ("channels", "-3"), id="sub-channels-neg"),
    pytest.param(Subsampling, (2.5,), TypeError, ("channels", "float", "2.5"),
                 id="sub-channels-float"),
    pytest.param(Subsampling, ("6",), TypeError, ("channels", "str", "'6'"), id="sub-channels-str"),
    pytest.param(Subsampling, (True,), TypeError, ("channels", "bool"), id="sub-channels-bool"),
    pytest.param(Subsampling, (6, 0), ValueError, ("kernel_size", "got 0"), id="sub-kernel-0"),
    pytest.param(Subsampling, (6, None), TypeError, ("kernel_size", "NoneType"),
                 id="sub-kernel-none"),
    pytest.param(SparseConv2d, (0, C3, 5), ValueError, ("in_channels", "got 0"), id="sparse-in-0"),
    pytest.param(SparseConv2d, (6.0, C3, 5), TypeError, ("in_channels", "float"),
                 id="sparse-in-float"),
    pytest.param(SparseConv2d, (6, C3, 0), ValueError, ("kernel_size", "got 0"),
                 id="sparse-kernel-0"),
    pytest.param(SparseConv2d, (6, C3, (5, 5)), TypeError, ("kernel_size", "tuple"),
                 id="sparse-kernel-tuple"),
    pytest.param(SparseConv2d, (6, [], 5), ValueError, ("table", "empty"), id="table-empty"),
    pytest.param(SparseConv2d, (6, [[0, 6]], 5), ValueError, ("table[0]", "(0, 6)", "0..5"),
                 id="table-out-of-range"),
    pytest.param(SparseConv2d, (6, [[1], [-1]], 5), ValueError, ("table[1]", "(-1,)", "0..5"),
                 id="table-negative"),
    pytest.param(SparseConv2d, (6, [[0, 0]], 5), ValueError, ("table[0]", "distinct"),
                 id="table-repeat"),
    pytest.param(SparseConv2d, (6, [[0], []], 5), ValueError, ("table[1]", "at least one"),
                 id="table-empty-row"),
    pytest.param(SparseConv2d, (6, "012", 5), TypeError, ("table", "str", "'012'"), id="table-str"),
    pytest.param(SparseConv2d, (6, 5, 5), TypeError, ("table", "int"), id="table-int"),
    pytest.param(SparseConv2d, (6, [[0.5]], 5), TypeError, ("table[0]", "ints", "0.5"),
                 id="table-float"),
    pytest.param(SparseConv2d, (6, [3], 5), TypeError, ("table[0]", "sequence of ints", "3"),
                 id="table-flat"),
    pytest.param(ScaledTanh, ("big",), TypeError, ("amplitude", "str", "'big'"),
                 id="tanh-amplitude-str"),
    pytest.param(ScaledTanh, (1.0, NAN), ValueError, ("slope", "finite", "nan"),
                 id="tanh-slope-nan"),
    pytest.param(RBFOutput, ([[1.0]],), TypeError, ("prototypes", "torch.Tensor", "list"),
                 id="rbf-list"),
    pytest.param(RBFOutput, (torch.zeros(84),), ValueError, ("prototypes", "2-D", "(84,)"),
                 id="rbf-1d"),
    pytest.param(RBFOutput, (torch.zeros(0, 84),), ValueError, ("prototypes", "(0, 84)"),
                 id="rbf-empty"),
    pytest.param(RBFOutput, (torch.full((2, 3), NAN),), ValueError, ("prototypes", "finite"),
                 id="rbf-nan"),
    pytest.param(_forward, (lambda: RBFOutput(torch.zeros(10, 84)), torch.zeros(2, 83)),
                 AssertionError, ("(2, 83)",), id="rbf-forward-width"),
    pytest.param(_forward, (lambda: Subsampling(6), torch.zeros(1, 3, 8, 8)), AssertionError,
                 ("(1, 3, 8, 8)",), id="sub-forward-channels"),
    pytest.param(_forward, (lambda: Subsampling(6), torch.zeros(6, 8, 8)), AssertionError,
                 ("(6, 8, 8)",), id="sub-forward-3d"),
    pytest.param(_forward, (lambda: SparseConv2d(6, C3, 5), torch.zeros(1, 5, 14, 14)),
                 AssertionError, ("(1, 5, 14, 14)",), id="sparse-forward-channels"),
    pytest.param(map_loss, (torch.zeros(2, 10), torch.tensor([0, 10])), ValueError,
                 ("target", "0..9", "0..10"), id="loss-target-range"),
    pytest.param(map_loss, (torch.zeros(2, 10), torch.tensor([0, 1, 2])), ValueError,
                 ("target", "(2,)", "(3,)"), id="loss-target-length"),
    pytest.param(map_loss, (torch.zeros(10), torch.tensor([0])), ValueError,
                 ("scores", "(N, C)", "(10,)"), id="loss-scores-1d"),
    pytest.param(map_loss, (torch.zeros(2, 10), torch.tensor([0.0, 1.0])), TypeError,
                 ("target", "integer", "float32"), id="loss-target-float"),
    pytest.param(map_loss, (torch.zeros(2, 10), torch.tensor([0, 1]), "1"), TypeError,
                 ("j", "str", "'1'"), id="loss-j-str"),
    pytest.param(map_loss, ([[0.0]], torch.tensor([0])), TypeError, ("scores", "list"),
                 id="loss-scores-list"),
]


@pytest.mark.parametrize(("fn", "args", "error", "says"), BAD_INPUT)
def test_bad_input_is_refused_with_a_clear_message(refuses, fn, args, error, says):
    refuses(fn, args, error, says)


@settings(max_examples=40, deadline=None)
@given(channels=st.integers(-50, 50), k=st.integers(-5, 5))
def test_subsampling_accepts_exactly_positive_sizes(channels, k):
    if channels >= 1 and k >= 1:
        assert Subsampling(channels, k).weight.shape == (channels,)
    else:
        with pytest.raises(ValueError, match="channels|kernel_size"):
            Subsampling(channels, k)


@settings(max_examples=40, deadline=None)
@given(in_channels=st.integers(1, 8),
       table=st.lists(st.lists(st.integers(-2, 10), max_size=4), min_size=1, max_size=5))
def test_sparse_conv_table_valid_iff_rows_are_distinct_maps_in_range(in_channels, table):
    valid = all(row and len(set(row)) == len(row) and 0 <= min(row) and max(row) < in_channels
                for row in table)
    if valid:
        layer = SparseConv2d(in_channels, table, 3)
        assert int(layer.connection_mask().sum()) == sum(len(r) for r in table)
    else:
        with pytest.raises(ValueError, match=r"table\[\d+\]"):
            SparseConv2d(in_channels, table, 3)


@pytest.mark.parametrize(("value", "error"), [
    pytest.param([[0.0]], TypeError, id="list"),
    pytest.param(torch.zeros(28, 28), ValueError, id="2d"),
    pytest.param(torch.zeros(1, 1, 1, 2, 2), ValueError, id="5d"),
])
def test_check_images_names_the_argument_and_the_shape(value, error):
    from lenet.layers import check_images

    with pytest.raises(error, match=r"^images="):
        check_images("images", value)
    batch = torch.zeros(2, 1, 3, 3)
    assert check_images("images", batch) is batch

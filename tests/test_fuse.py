"""The fused sigmoid + 2x2 average pool against torch's two ops, and the model rewrite."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lenet.fuse import SigmoidAvgPool2d, fuse_sigmoid_pool, sigmoid_avg_pool2d
from lenet.models import LeNet, LeNet5, LeNetModern
from lenet.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")

LAYOUTS = [torch.contiguous_format, torch.channels_last]


def reference(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(torch.sigmoid(x), 2)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 5), h=st.integers(1, 7), w=st.integers(1, 7),
       channels_last=st.booleans(), seed=st.integers(0, 2**16))
def test_forward_and_backward_match_torchs_two_ops(n, c, h, w, channels_last, seed):
    """Even sizes take the fused path, odd ones the fallback; both match torch in float64,
    values and gradients, in either memory layout."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64) * 3
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    if h < 2 or w < 2:   # torch refuses an empty output; so does the fallback
        with pytest.raises(RuntimeError):
            reference(x)
        with pytest.raises(RuntimeError):
            sigmoid_avg_pool2d(x)
        return
    x.requires_grad_()
    ours, ref = sigmoid_avg_pool2d(x), reference(x)
    assert ours.shape == ref.shape == (n, c, h // 2, w // 2)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-14)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    (gx,) = torch.autograd.grad(ours, x, g)
    (gref,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(gx, gref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradcheck_of_the_fused_step(layout):
    x = torch.randn(2, 3, 4, 6, dtype=torch.float64).contiguous(memory_format=layout)
    assert torch.autograd.gradcheck(sigmoid_avg_pool2d, (x.requires_grad_(),))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("c", [1, 6, 16])
def test_bfloat16_matches_torchs_ops_computed_in_float32(layout, c):
    # bfloat16 takes its own route in either layout (pixel pairs averaged by a matmul):
    # compare with torch's two ops on the same bfloat16 values, in float32
    gen = torch.Generator().manual_seed(c)
    x = (3 * torch.randn(4, c, 10, 12, generator=gen)).bfloat16()
    x = x.contiguous(memory_format=layout)
    g = torch.randn(4, c, 5, 6, generator=gen).bfloat16()
    ours = x.clone().requires_grad_()
    out = sigmoid_avg_pool2d(ours)
    out.backward(g)
    exact = x.float().requires_grad_()
    expected = reference(exact)
    expected.backward(g.float())
    assert out.dtype == ours.grad.dtype == torch.bfloat16
    assert out.is_contiguous(memory_format=layout)
    torch.testing.assert_close(out.float(), expected, rtol=0.01, atol=4e-3)
    # the saved sigmoid is bfloat16 too: near 0 or 1 its s (1 - s) keeps few bits
    torch.testing.assert_close(ours.grad.float(), exact.grad, rtol=0.02, atol=4e-3)


def test_a_non_contiguous_input_falls_back_to_torchs_ops():
    x = torch.randn(2, 3, 8, 8)[:, :, ::2]   # (2, 3, 4, 8), strided
    torch.testing.assert_close(sigmoid_avg_pool2d(x), reference(x))


def test_lenet_is_fused_and_shares_its_parameters():
    model = LeNet()
    fused = fuse_sigmoid_pool(model)
    kinds = [type(m) for m in fused.features]
    assert kinds == [nn.Conv2d, SigmoidAvgPool2d, nn.Conv2d, SigmoidAvgPool2d]
    assert [type(m) for m in model.features].count(nn.AvgPool2d) == 2  # model untouched
    assert fused.features[0] is model.features[0]
    assert fused.classifier is model.classifier  # nothing to fuse there: the same module
    assert list(fused.state_dict()) == list(model.state_dict())
    assert all(a is b for a, b in zip(fused.parameters(), model.parameters()))
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    # float32: the fused op sums the four values in another order, so the last bits differ
    torch.testing.assert_close(fused(x), model(x))
    model.double()  # the fused copy shares these parameters, so it is float64 too
    torch.testing.assert_close(fused(x.double()), model(x.double()), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make", [LeNet5, LeNetModern])
def test_models_without_the_pair_come_back_unchanged(make):
    model = make()
    assert fuse_sigmoid_pool(model) is model


def test_a_compiled_model_is_left_to_inductor():
    """torch.compile fuses on its own; rewriting the compiled wrapper's copy would break it."""
    model = LeNet()
    compiled = torch.compile(model)
    assert fuse_sigmoid_pool(compiled) is compiled
    assert fuse_sigmoid_pool(model) is not model


def test_only_plain_2x2_average_pools_are_fused():
    class MyPool(nn.AvgPool2d):
        pass

    kept = [nn.Sequential(nn.Sigmoid(), nn.AvgPool2d(3)),
            nn.Sequential(nn.Sigmoid(), nn.AvgPool2d(2, stride=1)),
            nn.Sequential(nn.Sigmoid(), nn.AvgPool2d(2, padding=1)),
            nn.Sequential(nn.Sigmoid(), nn.AvgPool2d(2, ceil_mode=True)),
            nn.Sequential(nn.Sigmoid(), MyPool(2)),
            nn.Sequential(nn.Tanh(), nn.AvgPool2d(2)),
            nn.Sequential(nn.AvgPool2d(2), nn.Sigmoid())]
    for model in kept:
        assert fuse_sigmoid_pool(model) is model
    nested = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.Sigmoid(), nn.AvgPool2d((2, 2))))
    fused = fuse_sigmoid_pool(nested)
    assert type(fused[1][0]) is SigmoidAvgPool2d and len(fused[1]) == 1
    assert type(nested[1][1]) is nn.AvgPool2d


def test_fuse_refuses_what_is_not_a_module():
    with pytest.raises(TypeError, match="model"):
        fuse_sigmoid_pool("lenet")


@pytest.mark.parametrize("layout", [False, True])
def test_fit_with_fuse_trains_the_same_run(layout):
    """In float64 the fused and unfused runs agree to rounding: the same history, the same
    weights, in the model that was passed in."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(96, 1, 28, 28, generator=gen), torch.randint(0, 10, (96,), generator=gen)
    runs = []
    for fuse in (False, True):
        torch.manual_seed(0)
        model = LeNet()
        h = fit(model, (x, y), (x[:32], y[:32]), epochs=2, lr=0.9, batch_size=32,
                progress=False, device="cpu", dtype=torch.float64, fuse=fuse,
                channels_last=layout)
        runs.append((h, model))
    (h0, m0), (h1, m1) = runs
    assert h0.train_acc == h1.train_acc and h0.test_acc == h1.test_acc
    assert h0.train_loss == pytest.approx(h1.train_loss, rel=1e-12)
    assert [type(m) for m in m1.features].count(nn.AvgPool2d) == 2
    for a, b in zip(m0.parameters(), m1.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)

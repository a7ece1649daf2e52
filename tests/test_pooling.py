"""lenet.pooling.AvgPool2d: nn.AvgPool2d's results, through a depthwise convolution where
that computes exactly the same averages (channels_last float32 on the CPU)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lenet.models import LeNet
from lenet.pooling import AvgPool2d


def _pair(x: torch.Tensor, pool: nn.Module, ref: nn.Module):
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, expected = pool(a), ref(b)
    grad = torch.randn_like(expected)
    out.backward(grad)
    expected.backward(grad)
    return out, expected, a.grad, b.grad


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(2, 16), h=st.integers(2, 30), w=st.integers(2, 30),
       k=st.sampled_from([2, 3]), seed=st.integers(0, 2**16))
def test_depthwise_path_matches_torch_pooling_forward_and_backward(n, c, h, w, k, seed):
    if h < k or w < k:
        return
    x = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))
    x = x.contiguous(memory_format=torch.channels_last)
    out, expected, grad, expected_grad = _pair(x, AvgPool2d(k), nn.AvgPool2d(k))
    assert out.shape == expected.shape == (n, c, h // k, w // k)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-6)


def test_the_channels_last_case_really_takes_the_convolution(monkeypatch):
    calls = []
    real = F.conv2d
    monkeypatch.setattr(F, "conv2d", lambda *a, **k: calls.append(k) or real(*a, **k))
    x = torch.randn(2, 6, 8, 8).contiguous(memory_format=torch.channels_last)
    AvgPool2d(2)(x)
    assert calls == [{"stride": 2, "groups": 6}]


@pytest.mark.parametrize(("make", "layout", "dtype"), [
    (lambda: AvgPool2d(2), "contiguous", torch.float32),
    (lambda: AvgPool2d(2), "channels_last", torch.float64),
    (lambda: AvgPool2d(3, stride=1), "channels_last", torch.float32),
    (lambda: AvgPool2d(2, padding=1), "channels_last", torch.float32),
    (lambda: AvgPool2d(3, ceil_mode=True), "channels_last", torch.float32),
    (lambda: AvgPool2d(2, divisor_override=3), "channels_last", torch.float32),
    (lambda: AvgPool2d((2, 3)), "channels_last", torch.float32),
], ids=["contiguous", "float64", "overlapping", "padding", "ceil-mode", "divisor", "not-square"])
def test_every_other_case_runs_torchs_own_kernel(make, layout, dtype, monkeypatch):
    pool = make()
    ref = nn.AvgPool2d(pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode,
                       pool.count_include_pad, pool.divisor_override)
    x = torch.randn(2, 6, 11, 11, dtype=dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(F, "conv2d", lambda *a, **k: pytest.fail("took the convolution"))
    assert torch.equal(pool(x), ref(x))


def test_lenet_pools_with_it_and_prints_like_torch():
    pools = [m for m in LeNet().features if isinstance(m, nn.AvgPool2d)]
    assert len(pools) == 2 and all(isinstance(m, AvgPool2d) for m in pools)
    assert repr(pools[0]) == repr(nn.AvgPool2d(kernel_size=2, stride=2))

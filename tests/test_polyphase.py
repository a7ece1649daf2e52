"""A convolution, its sigmoid and a 2x2 average pool computed on the input's four phases:
the same values and gradients as the three torch ops, the same parameters, and what fit
trains through on the CPU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from lenet.fuse import SigmoidAvgPool2d, fuse_sigmoid_pool
from lenet.models import LeNet, LeNet5
from lenet.polyphase import PolyphaseConvSigmoidPool2d, polyphase_convs, space_to_depth
from lenet.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")

CL = torch.channels_last
F64 = torch.float64


def _as_polyphase(conv: nn.Conv2d) -> nn.Module:
    return polyphase_convs(nn.Sequential(conv, SigmoidAvgPool2d()),
                           max_in_channels=conv.in_channels)[0]


def _check_against_torch(conv: nn.Conv2d, x: torch.Tensor) -> None:
    """Values and gradients (input, weight, bias) of the polyphase module against
    ``avg_pool2d(sigmoid(conv(x)), 2)`` in float64."""
    phased = _as_polyphase(conv)
    assert type(phased) is PolyphaseConvSigmoidPool2d
    x = x.detach().requires_grad_()
    want = F.avg_pool2d(torch.sigmoid(conv(x)), 2)
    got = phased(x)
    assert got.shape == want.shape
    grad = torch.randn(want.shape, dtype=want.dtype, generator=torch.Generator().manual_seed(1))
    leaves = [x, *conv.parameters()]
    wants = torch.autograd.grad(want, leaves, grad)
    gots = torch.autograd.grad(got, leaves, grad)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    for a, b in zip(gots, wants):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(cin=st.integers(1, 3), cout=st.integers(1, 4), kh=st.integers(1, 6),
       kw=st.integers(1, 6), ph=st.integers(0, 3), pw=st.integers(0, 3),
       h=st.integers(2, 12), w=st.integers(2, 12), bias=st.booleans())
def test_any_stride_1_convolution_matches_torch(cin, cout, kh, kw, ph, pw, h, w, bias):
    """Even sizes take the phase path, odd ones the three ops; both match torch."""
    assume(h + 2 * ph - kh + 1 >= 2 and w + 2 * pw - kw + 1 >= 2)   # something to pool
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, (kh, kw), padding=(ph, pw), bias=bias, dtype=F64)
    _check_against_torch(conv, torch.randn(2, cin, h, w, dtype=F64))


@pytest.mark.parametrize("layout", [torch.contiguous_format, CL])
def test_lenets_c1_matches_torch_in_either_layout(layout):
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 6, 5, padding=2, dtype=F64).to(memory_format=layout)
    _check_against_torch(conv, torch.rand(4, 1, 28, 28, dtype=F64))


def test_the_output_layout_is_the_plain_convolutions():
    x = torch.rand(2, 1, 8, 8)
    for layout in (torch.contiguous_format, CL):
        conv = nn.Conv2d(1, 3, 3, padding=1).to(memory_format=layout)
        out, plain = _as_polyphase(conv)(x), conv(x)
        assert out.is_contiguous() is plain.is_contiguous() is (layout is torch.contiguous_format)
        assert out.is_contiguous(memory_format=CL) is plain.is_contiguous(memory_format=CL)
    x3 = torch.rand(2, 3, 8, 8).contiguous(memory_format=CL)   # a channels_last input
    assert not _as_polyphase(nn.Conv2d(3, 2, 3, padding=1))(x3).is_contiguous()


def test_bfloat16_autocast_stays_close_to_float32():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 6, 5, padding=2).to(memory_format=CL)
    x = torch.rand(8, 1, 28, 28)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = _as_polyphase(conv)(x)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), F.avg_pool2d(torch.sigmoid(conv(x)), 2),
                               rtol=0, atol=2e-2)


def test_space_to_depth_refuses_odd_sizes_by_name():
    for bad in (torch.rand(1, 1, 5, 4), torch.rand(1, 4, 4)):
        with pytest.raises(ValueError, match="x="):
            space_to_depth(bad)


def test_space_to_depth_is_pixel_unshuffle_in_channels_last_memory():
    gen = torch.Generator().manual_seed(0)
    for shape in ((3, 1, 6, 8), (2, 3, 4, 6)):
        x = torch.randn(shape, generator=gen)
        got = space_to_depth(x)
        assert torch.equal(got, F.pixel_unshuffle(x, 2))
        assert got.is_contiguous(memory_format=CL)


def test_lenets_c1_is_rewritten_and_shares_its_parameters():
    model = LeNet()
    fused = fuse_sigmoid_pool(model)
    copy = polyphase_convs(fused)
    kinds = [type(m) for m in copy.features]
    assert kinds == [PolyphaseConvSigmoidPool2d, nn.Identity, nn.Conv2d, SigmoidAvgPool2d]
    assert type(model.features[0]) is nn.Conv2d and type(fused.features[0]) is nn.Conv2d
    assert list(copy.state_dict()) == list(model.state_dict())
    assert all(a is b for a, b in zip(copy.parameters(), model.parameters()))
    assert copy.classifier is model.classifier
    x = torch.rand(3, 1, 28, 28, dtype=F64)
    model.double()
    torch.testing.assert_close(copy(x), model(x), rtol=1e-12, atol=1e-14)


def test_what_has_nothing_to_rewrite_comes_back_unchanged():
    class MyConv(nn.Conv2d):
        pass

    unfused = LeNet()   # its C1 feeds an nn.Sigmoid, not a fused pair
    strided = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), SigmoidAvgPool2d())
    subclass = nn.Sequential(MyConv(1, 2, 3), SigmoidAvgPool2d())
    same = nn.Sequential(nn.Conv2d(1, 2, 3, padding="same"), SigmoidAvgPool2d())
    for model in (unfused, strided, subclass, same, LeNet5()):
        assert polyphase_convs(model) is model
    c3 = fuse_sigmoid_pool(LeNet())
    assert polyphase_convs(c3, max_in_channels=6).features[2].__class__ \
        is PolyphaseConvSigmoidPool2d   # C3 too, when asked
    compiled = torch.compile(LeNet())
    assert polyphase_convs(compiled) is compiled


@pytest.mark.parametrize(("arg", "value", "error"), [("model", "lenet", TypeError),
                                                      ("max_in_channels", 0, ValueError),
                                                      ("max_in_channels", 1.0, TypeError)])
def test_bad_arguments_are_refused_by_name(arg, value, error):
    kwargs = {"model": LeNet(), "max_in_channels": 1, arg: value}
    with pytest.raises(error, match=arg):
        polyphase_convs(**kwargs)


@pytest.mark.parametrize(("fuse", "phased"), [(True, True), (False, False)])
def test_fit_trains_c1_on_its_phases_with_fuse_on_the_cpu(fuse, phased):
    model = LeNet()
    shapes = []
    model.features[0].register_forward_hook(lambda m, a, out: shapes.append(tuple(out.shape)))
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 1, 28, 28, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    fit(model, (x, y), (x, y), epochs=1, batch_size=16, progress=False, device="cpu",
        fuse=fuse)
    # C1's hooks see what its module returns: the pooled map on the phase path
    assert {shape[1:] for shape in shapes} == {(6, 14, 14) if phased else (6, 28, 28)}
    assert type(model.features[0]) is nn.Conv2d   # the model passed in is not rewritten

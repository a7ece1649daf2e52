"""Convolutions run channels-first inside a channels_last model: the same function, the
same parameters, and what fit trains through under bfloat16 autocast on the CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lenet.fuse import SigmoidAvgPool2d, fuse_sigmoid_pool
from lenet.layout import ChannelsFirstConv2d, channels_first_convs
from lenet.models import LeNet, LeNet5
from lenet.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")

CL = torch.channels_last


def test_lenets_c3_runs_channels_first_and_shares_its_parameters():
    model = LeNet().to(memory_format=CL)
    copy = channels_first_convs(model)
    assert [type(m) for m in copy.features][::3] == [nn.Conv2d, ChannelsFirstConv2d]
    assert type(model.features[3]) is nn.Conv2d   # model untouched
    assert copy.features[0] is model.features[0]   # one input channel: left as it is
    assert copy.classifier is model.classifier
    assert list(copy.state_dict()) == list(model.state_dict())
    assert all(a is b for a, b in zip(copy.parameters(), model.parameters()))
    assert copy.features[3].weight.is_contiguous(memory_format=CL)   # stored as it was


@pytest.mark.parametrize("fused", [False, True])
def test_the_copy_computes_the_same_values_and_gradients(fused):
    torch.manual_seed(0)
    model = LeNet().double().to(memory_format=CL)
    model = fuse_sigmoid_pool(model) if fused else model
    copy = channels_first_convs(model)
    x = torch.rand(6, 1, 28, 28, dtype=torch.float64).contiguous(memory_format=CL)
    seen = []
    hook = copy.features[3].register_forward_hook(lambda m, a, out: seen.append(out))
    grads = []
    for net in (model, copy):
        net.zero_grad()
        net(x).square().sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    hook.remove()
    torch.testing.assert_close(copy(x), model(x), rtol=1e-12, atol=1e-14)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    # the copy shares C3's hooks: the model's C3 ran in NHWC, the copy's in NCHW
    assert [out.is_contiguous() for out in seen[:2]] == [False, True]


def test_min_in_channels_and_before_pick_the_convolutions():
    model = LeNet()
    assert type(channels_first_convs(model, min_in_channels=1).features[0]) is ChannelsFirstConv2d
    assert channels_first_convs(model, min_in_channels=7) is model   # C3 has 6
    assert channels_first_convs(model, before=SigmoidAvgPool2d) is model   # not fused yet
    fused = fuse_sigmoid_pool(model)
    kinds = [type(m) for m in channels_first_convs(fused, before=SigmoidAvgPool2d).features]
    assert kinds == [nn.Conv2d, SigmoidAvgPool2d, ChannelsFirstConv2d, SigmoidAvgPool2d]
    lenet5 = LeNet5()   # its C5 feeds a tanh: left in the model's layout
    assert channels_first_convs(lenet5, before=SigmoidAvgPool2d) is lenet5
    assert type(channels_first_convs(nn.Conv2d(2, 3, 1))) is ChannelsFirstConv2d   # bare


def test_what_has_nothing_to_rewrite_comes_back_unchanged():
    class MyConv(nn.Conv2d):
        pass

    for model in (nn.Sequential(nn.Linear(3, 2)), nn.Sequential(MyConv(4, 4, 3))):
        assert channels_first_convs(model) is model
    compiled = torch.compile(LeNet())
    assert channels_first_convs(compiled) is compiled


@pytest.mark.parametrize(("arg", "value", "error"), [("model", "lenet", TypeError),
                                                      ("before", "pool", TypeError),
                                                      ("min_in_channels", 0, ValueError),
                                                      ("min_in_channels", 2.0, TypeError)])
def test_bad_arguments_are_refused_by_name(arg, value, error):
    kwargs = {"model": LeNet(), "min_in_channels": 2, "before": None, arg: value}
    with pytest.raises(error, match=arg):
        channels_first_convs(**kwargs)


def test_lenet5s_plain_c5_is_rewritten_and_its_sparse_c3_is_not():
    kinds = {name: type(m) for name, m in channels_first_convs(LeNet5()).features.named_children()}
    assert kinds["C5"] is ChannelsFirstConv2d   # 16 input channels
    assert kinds["C1"] is nn.Conv2d   # one input channel
    assert kinds["C3"] is type(LeNet5().features.C3)   # its own class, not nn.Conv2d


@pytest.mark.parametrize(("amp", "nchw"), [(False, False), (True, True)])
def test_fit_runs_c3_channels_first_only_under_bfloat16_autocast(amp, nchw):
    """channels_last puts C3 in NHWC; under bfloat16 autocast on the CPU, with fuse, fit
    runs it in NCHW, where oneDNN's bfloat16 kernels are faster (see lenet.layout)."""
    model = LeNet()
    layouts = []
    model.features[3].register_forward_hook(
        lambda m, a, out: layouts.append(out.is_contiguous()))
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 1, 28, 28, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    fit(model, (x, y), (x, y), epochs=1, batch_size=16, progress=False, device="cpu",
        channels_last=True, fuse=True, amp=amp)
    assert layouts and set(layouts) == {nchw}   # training steps and evaluation alike
    assert type(model.features[3]) is nn.Conv2d   # the model passed in is not rewritten

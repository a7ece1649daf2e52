import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lenet import LeNet5
from lenet.convert import conv_to_linear, linear_to_conv


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 4), h=st.integers(1, 6), w=st.integers(1, 6), out=st.integers(1, 5),
       bias=st.booleans())
def test_linear_to_conv_gives_identical_outputs(c, h, w, out, bias):
    torch.manual_seed(0)
    linear = nn.Linear(c * h * w, out, bias=bias)
    x = torch.randn(3, c, h, w)
    conv = linear_to_conv(linear, (c, h, w))
    y = conv(x)
    assert y.shape == (3, out, 1, 1)
    assert torch.allclose(y.flatten(1), linear(x.flatten(1)), atol=1e-6)


def test_linear_to_conv_slides_the_classifier_over_a_larger_input():
    torch.manual_seed(0)
    linear = nn.Linear(2 * 3 * 3, 4)
    conv = linear_to_conv(linear, (2, 3, 3))
    x = torch.randn(1, 2, 5, 6)
    y = conv(x)
    assert y.shape == (1, 4, 3, 4)
    window = x[:, :, 1:4, 2:5].flatten(1)
    assert torch.allclose(y[:, :, 1, 2], linear(window), atol=1e-6)


def test_linear_to_conv_validates_shape():
    with pytest.raises(ValueError, match="in_features"):
        linear_to_conv(nn.Linear(10, 2), (1, 3, 3))
    with pytest.raises(ValueError, match="input_shape"):
        linear_to_conv(nn.Linear(9, 2), (3, 3))
    with pytest.raises(TypeError, match="linear"):
        linear_to_conv(nn.Conv2d(1, 1, 1), (1, 1, 1))


@settings(max_examples=30, deadline=None)
@given(c=st.integers(1, 3), o=st.integers(1, 3), k=st.integers(1, 3), s=st.integers(1, 2),
       p=st.integers(0, 2), d=st.integers(1, 2), size=st.integers(5, 8), bias=st.booleans())
def test_conv_to_linear_gives_identical_outputs(c, o, k, s, p, d, size, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(c, o, k, stride=s, padding=p, dilation=d, bias=bias)
    x = torch.randn(2, c, size, size + 1)
    linear = conv_to_linear(conv, (c, size, size + 1))
    with torch.no_grad():
        assert torch.allclose(linear(x.flatten(1)), conv(x).flatten(1), atol=1e-6)


def test_conv_to_linear_weight_is_sparse_and_shared():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 1, 3, bias=False)
    weight = conv_to_linear(conv, (1, 5, 5)).weight
    assert weight.shape == (9, 25)
    assert int((weight != 0).sum()) == 9 * 9          # each output reads 9 pixels
    assert set(weight[weight != 0].tolist()) == set(conv.weight.flatten().tolist())


def test_conv_to_linear_handles_groups():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 4, 3, groups=2, padding=1)
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        assert torch.allclose(conv_to_linear(conv, (4, 6, 6))(x.flatten(1)),
                              conv(x).flatten(1), atol=1e-6)


def test_conv_to_linear_validates_input():
    with pytest.raises(ValueError, match="channels"):
        conv_to_linear(nn.Conv2d(2, 1, 3), (1, 5, 5))
    with pytest.raises(ValueError, match="padding_mode"):
        conv_to_linear(nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"), (1, 5, 5))
    with pytest.raises(TypeError, match="conv"):
        conv_to_linear(nn.Linear(2, 2), (1, 5, 5))


def test_lenet5_c5_on_32x32_is_a_linear_over_400_values():
    torch.manual_seed(0)
    c5 = LeNet5().features.C5
    x = torch.randn(2, 16, 5, 5)
    linear = conv_to_linear(c5, (16, 5, 5))
    assert linear.weight.shape == (120, 400)
    with torch.no_grad():
        assert torch.allclose(linear(x.flatten(1)), c5(x).flatten(1), atol=1e-6)

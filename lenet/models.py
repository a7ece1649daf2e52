"""The networks of the book, each split into ``features`` (conv/pool) and ``classifier``.

============== ======================================== ===================
model          what it is                               input
============== ======================================== ===================
LeNet5         the faithful 1998 network (LeCun et al.)  ``(N, 1, 32, 32)``
LeNet          d2l's LeNet: sigmoid + average pooling    ``(N, 1, 28, 28)``
LeNetModern    LeNet with ReLU + max pooling             ``(N, 1, 28, 28)``
CifarNet       the PyTorch tutorial's 3-channel ``Net``  ``(N, 3, 32, 32)``
CifarNetDeep   a 3-block, 32-32-64 CIFAR-10 network      ``(N, 3, 32, 32)``
============== ======================================== ===================

Every model returns class scores ``(N, 10)``: the largest score is the prediction.
LeNet-5's input preprocessing (:func:`lenet5_input`) and its training recipe
(:func:`default_recipe`) sit next to it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_tensor, fail
from .layers import (
    C3_TABLE,
    RBFOutput,
    ScaledTanh,
    SparseConv2d,
    Subsampling,
    check_int,
    map_loss,
)
from .prototypes import rbf_prototypes

Transform = Callable[[torch.Tensor], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class _Classifier(nn.Module):
    """Shared body: ``features`` then ``classifier``, with a checked input size."""

    input_size: tuple[int, int, int]
    features: nn.Sequential
    classifier: nn.Sequential

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError naming the expected shape if ``x`` is not ``(N, *input_size)``."""
        c, h, w = self.input_size
        wanted = f"{type(self).__name__} expects input of shape (N, {c}, {h}, {w})"
        if not isinstance(x, torch.Tensor):
            fail("x", x, wanted, TypeError)
        if x.dim() != 4 or tuple(x.shape[1:]) != tuple(self.input_size):
            fail("x", x, wanted)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.classifier(self.features(x))


class LeNet5(_Classifier):
    """LeNet-5 as in LeCun, Bottou, Bengio and Haffner (1998), "Gradient-based learning
    applied to document recognition".

    C1 conv 6@5x5 -> S2 trainable subsampling -> C3 sparse conv 16@5x5 (Table I) ->
    S4 subsampling -> C5 conv 120@5x5 -> F6 linear 84 -> RBF output against fixed 7x12
    digit bitmaps. Every layer up to F6 is squashed by ``1.7159 tanh(2a/3)``.
    Weights start uniform in ``(-2.4/F, 2.4/F)`` with F the fan-in, as in the paper.

    Shape: ``(N, 1, 32, 32) -> (N, 10)`` scores, the negated RBF penalties.
    """

    input_size = (1, 32, 32)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("C1", nn.Conv2d(1, 6, kernel_size=5)), ("C1_act", ScaledTanh()),
            ("S2", Subsampling(6)), ("S2_act", ScaledTanh()),
            ("C3", SparseConv2d(6, C3_TABLE, kernel_size=5)), ("C3_act", ScaledTanh()),
            ("S4", Subsampling(16)), ("S4_act", ScaledTanh()),
            ("C5", nn.Conv2d(16, 120, kernel_size=5)), ("C5_act", ScaledTanh()),
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),
            ("F6", nn.Linear(120, 84)), ("F6_act", ScaledTanh()),
            ("OUTPUT", RBFOutput(rbf_prototypes())),
        ]))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The paper's initialisation: every weight and bias ~ U(-2.4/F, 2.4/F), F = fan-in."""
        for module in self.modules():
            if isinstance(module, SparseConv2d):
                module.reset_parameters(gain=2.4, scale_by_sqrt=False)
            elif isinstance(module, (nn.Conv2d, nn.Linear, Subsampling)):
                fan_in = module.kernel_size**2 if isinstance(module, Subsampling) \
                    else module.weight[0].numel()
                for p in (module.weight, module.bias):
                    p.uniform_(-2.4 / fan_in, 2.4 / fan_in)


def lenet5_input(images: torch.Tensor) -> torch.Tensor:
    """LeNet-5's input: pad 28x28 to 32x32 and map background to -0.1, ink to 1.175.

    The paper picks these levels so the inputs have mean about 0 and variance about 1.
    Shape: ``(N, 1, 28, 28)`` in ``[0, 1]`` -> ``(N, 1, 32, 32)``.
    """
    check_tensor("images", images)
    if images.dim() != 4 or images.shape[1:] != (1, 28, 28):
        fail("images", images, "must have shape (N, 1, 28, 28)")
    if not images.is_floating_point():
        fail("images", images, "must be floating point in [0, 1] (divide 0-255 images by 255)",
             TypeError)
    # The range check reads values back, so only on the CPU (on an accelerator it would stall
    # every training step where this runs as fit's transform).
    if images.device.type == "cpu" and len(images) and (
            float(images.min()) < 0 or float(images.max()) > 1):
        fail("images", images, f"must hold values in [0, 1] (divide 0-255 images by 255), "
                               f"got {float(images.min()):g}..{float(images.max()):g}")
    return F.pad(images, (2, 2, 2, 2)) * 1.275 - 0.1


def default_recipe(model: nn.Module) -> tuple[Transform | None, LossFn]:
    """How a model expects to be fed and trained: ``(transform, loss_fn)``.

    LeNet-5 gets the paper's input (:func:`lenet5_input`, 28 -> 32 pixels,
    background -0.1, ink 1.175) and the MAP loss; every other model takes ``[0, 1]``
    images and cross-entropy.
    """
    if isinstance(model, LeNet5):
        return lenet5_input, map_loss
    return None, F.cross_entropy


class LeNet(_Classifier):
    """LeNet as in d2l ("Dive into Deep Learning", section 7.6): sigmoid activations,
    average pooling, and ``padding=2`` on C1 so 28x28 MNIST images need no resizing.

    Shape: ``(N, 1, 28, 28) -> (N, 10)`` logits.
    """

    input_size = (1, 28, 28)
    activation: Callable[[], nn.Module] = nn.Sigmoid
    pool: Callable[[], nn.Module] = staticmethod(lambda: nn.AvgPool2d(kernel_size=2, stride=2))

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        check_int("num_classes", num_classes)
        act, pool = type(self).activation, type(self).pool
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), act(), pool(),
            nn.Conv2d(6, 16, kernel_size=5), act(), pool(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )
        for m in self.modules():  # d2l initialises with Xavier-uniform
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)


class LeNetModern(LeNet):
    """LeNet with today's defaults: ReLU and 2x2 max pooling (same shapes as :class:`LeNet`).

    Shape: ``(N, 1, 28, 28) -> (N, 10)`` logits.
    """

    activation = nn.ReLU
    pool = staticmethod(lambda: nn.MaxPool2d(kernel_size=2, stride=2))

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(num_classes)
        for m in self.modules():  # Kaiming init suits ReLU
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)


class CifarNet(_Classifier):
    """The 3-channel ``Net`` of PyTorch's CIFAR-10 tutorial: LeNet's shape on colour images.

    Shape: ``(N, 3, 32, 32) -> (N, 10)`` logits.
    """

    input_size = (3, 32, 32)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        check_int("num_classes", num_classes)
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )


class CifarNetDeep(_Classifier):
    """Three 5x5 'same' convolutions (32, 32, 64 maps), each followed by ReLU and halved by
    max pooling, then ``Linear(1024, 64) -> ReLU -> Linear(64, 10)``: a deeper CIFAR-10
    network in the style of the PyTorch tutorial's.

    The ReLUs matter: without them the whole network is one affine map, and the two
    ``Linear`` layers collapse into a single ``Linear(1024, 10)`` (chapter 7 shows it).

    Shape: ``(N, 3, 32, 32) -> (N, 10)`` logits.
    """

    input_size = (3, 32, 32)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        check_int("num_classes", num_classes)
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, num_classes),
        )


MODELS: dict[str, type[_Classifier]] = {
    "lenet5": LeNet5,
    "lenet": LeNet,
    "lenet-modern": LeNetModern,
    "cifar-net": CifarNet,
    "cifar-net-deep": CifarNetDeep,
}


def get_model(name: str, **kwargs) -> nn.Module:
    """Build a model by its registry name (one of :data:`MODELS`)."""
    return MODELS[check_choice("name", name, sorted(MODELS))](**kwargs)


class LeNetGAP(_Classifier):
    """LeNetModern's features, a 3x3 conv to 120 maps and a 1x1 conv to one map per class,
    then global average pooling as the whole head (Network in Network, Lin et al. 2014):
    no fully connected layer at all.

    Shapes: ``(N, 1, 28, 28) -> features (N, 10, 5, 5) -> GAP (N, 10, 1, 1) -> (N, 10)``
    logits.
    """

    input_size = (1, 28, 28)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        check_int("num_classes", num_classes)
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 120, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(120, num_classes, kernel_size=1),
        )
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)


MODELS["lenet-gap"] = LeNetGAP

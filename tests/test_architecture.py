"""``lenet.architecture``: the drawn LeNet-5 carries every layer name and every map size,
each taken from an independent forward pass (the shapes torch itself produces)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from lenet import LeNet, LeNet5
from lenet.architecture import architecture_layers, plot_architecture

#: LeCun et al. (1998), Figure 2: each layer and its feature maps.
PAPER_FIGURE = {"INPUT": "1@32x32", "C1": "6@28x28", "S2": "6@14x14", "C3": "16@10x10",
                "S4": "16@5x5", "C5": "120@1x1", "F6": "84 units", "OUTPUT": "10 units"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _forward_shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    """Shapes after every child of ``features`` and ``classifier``, by running them."""
    shapes = [tuple(x.shape)]
    with torch.no_grad():
        for name, layer in [*model.features.named_children(),
                            *model.classifier.named_children()]:
            x = layer(x)
            if not name.endswith("_act") and name != "flatten":
                shapes.append(tuple(x.shape))
    return shapes


def test_lenet5_layers_match_the_papers_figure_and_torch_shapes():
    layers = architecture_layers(LeNet5(), (1, 1, 32, 32))
    assert {layer.name: layer.label for layer in layers} == PAPER_FIGURE
    assert list(PAPER_FIGURE) == [layer.name for layer in layers]
    shapes = _forward_shapes(LeNet5(), torch.zeros(1, 1, 32, 32))
    assert [(layer.maps, layer.size) for layer in layers] == [
        (s[1], s[2:] if len(s) == 4 else None) for s in shapes]
    assert [layer.op for layer in layers] == ["", "5x5 conv", "2x2 subsample", "5x5 conv",
                                              "2x2 subsample", "5x5 conv", "full", "RBF"]


def test_plot_shows_every_layer_name_and_size():
    fig = plot_architecture(LeNet5(), (1, 1, 32, 32))
    assert isinstance(fig, Figure)
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    for name, label in PAPER_FIGURE.items():
        assert name in texts and label in texts
    # at most max_maps rectangles per stack: 1 + 6 + 6 + 8 + 8 + 1 + 1 + 1
    boxes = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(boxes) == 32
    assert fig.get_size_inches()[0] == pytest.approx(11.0)


def test_plot_draws_other_networks_from_their_own_shapes():
    fig = plot_architecture(LeNet(), (1, 28, 28), max_maps=3, width=8)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"1@28x28", "6@28x28", "6@14x14", "16@10x10", "16@5x5", "120 units",
            "10 units"} <= texts
    assert "2x2\navg pool" in texts


@pytest.mark.parametrize(("kwargs", "error", "says"), [
    ({"model": "lenet5"}, TypeError, "model"),
    ({"max_maps": 0}, ValueError, "max_maps"),
    ({"width": -1}, ValueError, "width"),
    ({"input_size": (1, 1, 28, 28)}, ValueError, r"\(N, 1, 32, 32\)"),
])
def test_bad_arguments_are_refused_by_name(kwargs, error, says):
    args = {"model": LeNet5(), "input_size": (1, 1, 32, 32), **kwargs}
    with pytest.raises(error, match=says):
        plot_architecture(**args)

"""lenet.plot: the figures the chapters share show what their data says."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from lenet.layers import C3_TABLE
from lenet.plot import (
    confusion_matrix,
    plot_confusion,
    plot_connection_table,
    plot_history,
    show_images,
)
from lenet.train import History


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_confusion_matrix_counts_each_true_predicted_pair():
    rng = np.random.default_rng(0)
    labels, preds = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    expected = np.zeros((10, 10), dtype=int)
    for t, p in zip(labels, preds):
        expected[t, p] += 1
    got = confusion_matrix(torch.from_numpy(preds), torch.from_numpy(labels))
    assert np.array_equal(got, expected) and got.sum() == 500


def test_confusion_plot_writes_every_count_in_its_cell():
    m = np.arange(9).reshape(3, 3)
    ax = plot_confusion(m, classes=["a", "b", "c"]).axes[0]
    texts = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert texts == {((j, i), str(m[i, j])) for i in range(3) for j in range(3)}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]


def test_history_plot_has_a_line_per_curve_and_whole_epoch_ticks():
    h = History(train_loss=[2.0, 1.0, 0.5], train_acc=[0.3, 0.6, 0.9],
                test_acc=[0.2, 0.5, 0.8], lr=[0.1] * 3)
    ax_loss, ax_acc = plot_history({"a": h, "b": History(**h.as_dict())}).axes
    assert len(ax_loss.lines) == 2 and len(ax_acc.lines) == 4
    assert list(ax_acc.lines[1].get_ydata()) == h.test_acc
    ticks = [t for t in ax_loss.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_connection_table_marks_exactly_the_connected_pairs():
    ax = plot_connection_table(C3_TABLE, 6).axes[0]
    marked = {(round(t.get_position()[1]), round(t.get_position()[0])) for t in ax.texts}
    assert marked == {(i, j) for j, row in enumerate(C3_TABLE) for i in row}
    assert len(marked) == 60


def test_show_images_draws_one_panel_per_image_in_colour_or_grey():
    grey = show_images(torch.rand(5, 1, 8, 8), titles=list("abcde"), ncols=3)
    drawn = [ax for ax in grey.axes if ax.images]
    assert len(drawn) == 5 and len(grey.axes) == 6
    assert [ax.get_title() for ax in drawn] == list("abcde")
    colour = show_images(torch.rand(2, 3, 8, 8))
    assert colour.axes[0].images[0].get_array().shape == (8, 8, 3)


@pytest.mark.parametrize(("predictions", "labels", "error", "name"), [
    pytest.param([0, 10], [0, 1], ValueError, "predictions", id="prediction-out-of-range"),
    pytest.param([0, 1], [-1, 1], ValueError, "labels", id="negative-label"),
    pytest.param([0, 1, 2], [0, 1], ValueError, "predictions", id="lengths-differ"),
    pytest.param([0], [0, 1], ValueError, "predictions", id="would-broadcast"),
    pytest.param([0.7, 1.2], [0, 1], TypeError, "predictions", id="float-predictions"),
    pytest.param([[0, 1]], [0, 1], ValueError, "predictions", id="2d"),
])
def test_confusion_matrix_refuses_what_it_would_miscount(predictions, labels, error, name):
    from lenet.plot import confusion_matrix

    with pytest.raises(error, match=name):
        confusion_matrix(predictions, labels, num_classes=10)


def test_confusion_matrix_counts_against_a_loop():
    from lenet.plot import confusion_matrix

    p, t = torch.tensor([0, 2, 2, 1]), torch.tensor([0, 1, 2, 1])
    expected = np.zeros((3, 3), dtype=int)
    for a, b in zip(t.tolist(), p.tolist()):
        expected[a, b] += 1
    assert (confusion_matrix(p, t, 3) == expected).all()

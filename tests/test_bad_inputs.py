"""A table-driven sweep of bad inputs across the public API.

Each case either raises the given exception type with a message that names the argument
(or the file), or returns the correct result. Only the type and the name are pinned, never
the wording, so messages can improve without touching this table.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lenet import arithmetic, convert, data, invariance, layers, models, ops, paper, plot, sdlm
from lenet import train as train_mod
from lenet.checkpoint import load_checkpoint, save_checkpoint
from lenet.summary import summary

pytestmark = pytest.mark.usefixtures("one_thread")

NAN, INF = math.nan, math.inf
X = torch.rand(4, 1, 28, 28)
Y = torch.tensor([0, 1, 2, 3])


def _fit(**kw):
    return train_mod.fit(models.LeNet(), kw.pop("train", (X, Y)),
                         **{"epochs": 1, "progress": False, "device": "cpu", **kw})


#: (id, callable, exception, name the message must hold)
CASES = [
    # training
    ("fit-epochs-0", lambda: _fit(epochs=0), ValueError, "epochs"),
    ("fit-epochs-float", lambda: _fit(epochs=1.0), TypeError, "epochs"),
    ("fit-lr-nan", lambda: _fit(lr=NAN), ValueError, "lr"),
    ("fit-lr-inf", lambda: _fit(lr=INF), ValueError, "lr"),
    ("fit-lr-neg", lambda: _fit(lr=-0.1), ValueError, "lr"),
    ("fit-lr-str", lambda: _fit(lr="0.1"), TypeError, "lr"),
    ("fit-batch-0", lambda: _fit(batch_size=0), ValueError, "batch_size"),
    ("fit-momentum-neg", lambda: _fit(momentum=-1.0), ValueError, "momentum"),
    ("fit-wd-nan", lambda: _fit(weight_decay=NAN), ValueError, "weight_decay"),
    ("fit-schedule", lambda: _fit(schedule="cos"), ValueError, "schedule"),
    ("fit-optimizer", lambda: _fit(optimizer="rmsprop"), ValueError, "optimizer"),
    ("fit-not-a-pair", lambda: _fit(train=X), TypeError, "train"),
    ("fit-lengths", lambda: _fit(train=(X, Y[:3])), ValueError, "train[1]"),
    ("fit-empty", lambda: _fit(train=(X[:0], Y[:0])), ValueError, "train[0]"),
    ("fit-numpy", lambda: _fit(train=(X.numpy(), Y)), TypeError, "train[0]"),
    ("fit-uint8", lambda: _fit(train=(X.to(torch.uint8), Y)), TypeError, "train[0]"),
    ("fit-3d-images", lambda: _fit(train=(X[:, 0], Y)), ValueError, "train[0]"),
    ("fit-model", lambda: train_mod.fit("LeNet", (X, Y)), TypeError, "model"),
    ("fit-transform", lambda: _fit(transform="pad"), TypeError, "transform"),
    ("fit-progress", lambda: _fit(progress="yes"), TypeError, "progress"),
    ("fit-seed", lambda: _fit(seed=0.5), TypeError, "seed"),
    ("fit-settings", lambda: _fit(checkpoint="/tmp/wt12/x.pt", overwrite=True,
                                  settings={"a": [1]}), TypeError, "settings"),
    ("evaluate-batch-0", lambda: train_mod.evaluate(models.LeNet(), X, Y, batch_size=0),
     ValueError, "batch_size"),
    ("evaluate-empty", lambda: train_mod.evaluate(models.LeNet(), X[:0], Y[:0]), ValueError,
     "images"),
    ("evaluate-lengths", lambda: train_mod.evaluate(models.LeNet(), X, Y[:2]), ValueError,
     "labels"),
    ("predict-numpy", lambda: train_mod.predict(models.LeNet(), X.numpy()), TypeError, "images"),
    ("predict-uint8", lambda: train_mod.predict(models.LeNet(), X.to(torch.uint8)), TypeError,
     "images"),
    ("pin-threads-0", lambda: train_mod.pin_threads(0), ValueError, "threads"),
    # data
    ("load-name", lambda: data.load_dataset("svhn"), ValueError, "name"),
    ("load-split", lambda: data.load_dataset("mnist", "val"), ValueError, "split"),
    ("load-download", lambda: data.load_dataset("mnist", download="no"), TypeError, "download"),
    ("load-root", lambda: data.load_dataset("mnist", root=3), TypeError, "root"),
    ("load-root-empty", lambda: data.data_root(""), ValueError, "root"),
    ("lenet5-input-255", lambda: models.lenet5_input(X * 255), ValueError, "images"),
    ("lenet5-input-shape", lambda: models.lenet5_input(torch.rand(1, 1, 32, 32)), ValueError,
     "images"),
    # analysis
    ("summary-size", lambda: summary(models.LeNet(), (1, 0, 28)), ValueError,
     "input_size"),
    ("summary-model", lambda: summary("LeNet", (1, 28, 28)), TypeError, "model"),
    ("rf-whole-model", lambda: arithmetic.receptive_field(models.LeNetModern()), TypeError,
     "LeNetModern"),
    ("rf-linear", lambda: arithmetic.receptive_field([nn.Linear(2, 2)]), TypeError, "Linear"),
    ("confusion-range", lambda: plot.confusion_matrix([0, 12], [0, 1]), ValueError,
     "predictions"),
    ("confusion-float", lambda: plot.confusion_matrix([0.5, 1.0], [0, 1]), TypeError,
     "predictions"),
    ("confusion-lengths", lambda: plot.confusion_matrix([0], [0, 1]), ValueError, "predictions"),
    ("confusion-classes", lambda: plot.confusion_matrix([0], [0], num_classes=0), ValueError,
     "num_classes"),
    ("shift-empty", lambda: invariance.shift_robustness(models.LeNet(), X[:0], Y[:0], 1),
     ValueError, "images"),
    ("shift-labels", lambda: invariance.shift_robustness(models.LeNet(), X, Y[:1], 1),
     ValueError, "labels"),
    ("shift-neg", lambda: invariance.shift_robustness(models.LeNet(), X, Y, -1), ValueError,
     "max_shift"),
    ("map-loss-empty", lambda: layers.map_loss(torch.zeros(0, 10), torch.zeros(0).long()),
     ValueError, "scores"),
    ("map-loss-target", lambda: layers.map_loss(torch.zeros(2, 10), torch.tensor([0, 10])),
     ValueError, "target"),
    # building blocks and models
    ("subsampling-0", lambda: layers.Subsampling(0), ValueError, "channels"),
    ("rbf-nan", lambda: layers.RBFOutput(torch.full((2, 2), NAN)), ValueError, "prototypes"),
    ("get-model", lambda: models.get_model("lenet6"), ValueError, "name"),
    ("model-shape", lambda: models.LeNet5()(X), ValueError, "(N, 1, 32, 32)"),
    ("sdlm-lr", lambda: sdlm.SDLM([nn.Parameter(torch.zeros(1))], lr=0.0), ValueError, "lr"),
    ("sdlm-mu-nan", lambda: sdlm.SDLM([nn.Parameter(torch.zeros(1))], 0.1, mu=NAN), ValueError,
     "mu"),
    ("paper-schedule", lambda: paper.paper_schedule(0), ValueError, "epochs"),
    ("affine-p", lambda: paper.RandomAffine(p=NAN), ValueError, "p"),
    ("convert-shape", lambda: convert.linear_to_conv(nn.Linear(4, 2), (1, 0, 2)), ValueError,
     "input_shape"),
    ("convert-linear", lambda: convert.linear_to_conv(nn.Conv2d(1, 1, 1), (1, 2, 2)),
     TypeError, "linear"),
    ("convert-too-small", lambda: convert.conv_output_shape(nn.Conv2d(1, 1, 5), (1, 2, 2)),
     ValueError, "input_shape"),
    ("convert-huge", lambda: convert.conv_to_linear(nn.Conv2d(1, 1, 3), (1, 1000, 1000)),
     ValueError, "input_shape"),
    ("convert-not-conv", lambda: convert.conv_output_shape(nn.Linear(1, 1), (1, 2, 2)),
     TypeError, "conv"),
    # reference ops and arithmetic
    ("ops-stride-0", lambda: ops.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)),
                                        stride=0), ValueError, "stride"),
    ("ops-padding-huge", lambda: ops.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)),
                                            padding=10**9), ValueError, "padding"),
    ("ops-3d", lambda: ops.max_pool2d(np.zeros((1, 4, 4)), 2), ValueError, "x"),
    ("arith-kernel", lambda: arithmetic.conv_output_size(4, 5), ValueError, "kernel_size"),
    ("arith-bool", lambda: arithmetic.conv_output_size(4, True), TypeError, "kernel_size"),
]


@pytest.mark.parametrize(("fn", "error", "name"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_input_raises_the_type_and_names_the_argument(fn, error, name):
    with pytest.raises(error) as info:
        fn()
    assert name in str(info.value), str(info.value)


# ------------------------------------------------------------- correct results, not errors
def test_empty_batches_give_empty_results_not_errors():
    assert ops.max_pool2d(np.zeros((0, 1, 4, 4)), 2).shape == (0, 1, 2, 2)
    assert invariance.shift_images(X[:0], 1, 1).shape == (0, 1, 28, 28)
    assert plot.confusion_matrix([], [], 3).sum() == 0


def test_float64_images_are_cast_to_the_model(tmp_path):
    model = models.LeNet()
    assert torch.equal(train_mod.predict(model, X.double()), train_mod.predict(model, X))


def test_a_checkpoint_of_another_model_is_named(tmp_path):
    from lenet.checkpoint import CheckpointError

    save_checkpoint(tmp_path / "m.pt", models.LeNet())
    with pytest.raises(CheckpointError, match="LeNet5"):
        load_checkpoint(tmp_path / "m.pt", models.LeNet5())
    (tmp_path / "d.pt").mkdir()
    with pytest.raises(IsADirectoryError, match="d.pt"):
        load_checkpoint(tmp_path / "d.pt", models.LeNet())

"""lenet: LeNet-5 and friends from first principles.

The package behind the book "LeNet from First Principles". The modules, one concept each:

* :mod:`lenet.models` -- LeNet5 (1998) with its input and recipe, LeNet (d2l), LeNetModern,
  CIFAR networks
* :mod:`lenet.layers` -- scaled tanh, trainable subsampling, sparse C3 conv, RBF output
* :mod:`lenet.summary` -- per-layer shapes, parameters and connections
* :mod:`lenet.data` -- MNIST / Fashion-MNIST / CIFAR-10 tensors, the data root
* :mod:`lenet.augment` -- random distortions with one ``state()``/``set_state()`` protocol
* :mod:`lenet.receptive_field` -- receptive fields as exact pixel sets
* :mod:`lenet.train` -- device-resident training, evaluation, history
* :mod:`lenet.fuse` -- a sigmoid and the average pool after it as one autograd step
* :mod:`lenet.layout` -- convolutions run channels-first inside a channels_last model
* :mod:`lenet.polyphase` -- a convolution, sigmoid and 2x2 pool on the input's four phases
* :mod:`lenet.sdlm` -- the paper's optimiser, stochastic diagonal Levenberg-Marquardt
* :mod:`lenet.checkpoint` -- atomic checkpoints, safe loading
* :mod:`lenet.plot` -- figures shared by the chapters
* :mod:`lenet.figure_text` -- the language of figure text (``LENET_LANG``)
"""

import os as _os

from .models import LeNet, LeNet5, LeNetModern, get_model
from .summary import summary

if _os.environ.get("LENET_LANG", "en").strip() not in ("", "en"):
    from .figure_text import install as _install_figure_language

    _install_figure_language()

__all__ = ["LeNet", "LeNet5", "LeNetModern", "get_model", "summary"]
__version__ = "0.1.0"

"""Why a network does or does not learn: the gradient each layer receives, and the step each
layer actually takes.

* :func:`swap_layers` builds a variant of a network with the same weights and one kind of
  layer replaced (d2l's sigmoid LeNet with ReLU in place of every sigmoid, say), so that two
  runs differ in that one factor.
* :func:`layer_grad_norms` is the L2 norm of the loss gradient for every layer's weights on
  one batch.
* :func:`trace_steps` takes the first steps of training exactly as
  :func:`lenet.train.fit` would (same shuffle, same optimiser) and records, per step, the
  loss, each layer's gradient norm and the norm of the change the optimiser applied to each
  layer's weights.

A "layer" is every submodule with a ``weight`` parameter (``Conv2d``, ``Linear``), named as
in ``model.named_modules()`` (``"features.0"``, ``"classifier.5"``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .layers import check_int

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def swap_layers(model: nn.Module, old: type[nn.Module],
                new: Callable[[], nn.Module]) -> nn.Module:
    """Replace, in place, every submodule of type ``old`` by a fresh ``new()``; return
    ``model``. Weights of all other layers are untouched, so ``swap_layers(LeNet(),
    nn.Sigmoid, nn.ReLU)`` starts from exactly the weights of the sigmoid network built with
    the same seed. Shapes are unchanged when ``new()`` keeps them (activations do).

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``old`` is not a module class, or
            ``new`` is not callable.
        ValueError: ``model`` holds no ``old`` layer (nothing would change).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not (isinstance(old, type) and issubclass(old, nn.Module)):
        raise TypeError(f"old must be an nn.Module class such as nn.Sigmoid, got {old!r}")
    if not callable(new):
        raise TypeError(f"new must be a callable returning an nn.Module, got {new!r}")
    targets = [(parent, name) for parent in model.modules()
               for name, child in parent.named_children() if isinstance(child, old)]
    if not targets:
        raise ValueError(f"model has no {old.__name__} layer to replace")
    for parent, name in targets:
        replacement = new()
        if not isinstance(replacement, nn.Module):
            raise TypeError(f"new() must return an nn.Module, got {type(replacement).__name__}")
        setattr(parent, name, replacement)
    return model


def weighted_layers(model: nn.Module) -> dict[str, nn.Parameter]:
    """``{layer name: weight}`` for every submodule with a ``weight`` parameter, in order."""
    return {name: m.weight for name, m in model.named_modules()
            if isinstance(getattr(m, "weight", None), nn.Parameter)}


def _check_batch(images: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"images must be a tensor (N, C, H, W), got "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    if not isinstance(labels, torch.Tensor) or tuple(labels.shape) != (len(images),):
        raise ValueError(f"labels must be a tensor ({len(images)},) matching images, got "
                         f"{getattr(labels, 'shape', type(labels).__name__)}")


def layer_grad_norms(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     loss_fn: LossFn = F.cross_entropy) -> dict[str, float]:
    """The L2 norm of ``d loss / d weight`` for every layer, on one batch.

    Args:
        model: a classifier ``(N, C, H, W) -> (N, classes)``.
        images: ``(N, C, H, W)``, cast to the model's device and dtype.
        labels: ``(N,)`` class indices.
        loss_fn: ``(scores, labels) -> loss`` (mean cross-entropy by default).

    Returns ``{layer name: norm}`` in the model's order. The parameters' ``.grad`` fields are
    left as they were (the gradient comes from ``torch.autograd.grad``).
    """
    _check_batch(images, labels)
    weights = weighted_layers(model)
    if not weights:
        raise ValueError(f"{type(model).__name__} has no layer with a weight parameter")
    param = next(iter(weights.values()))
    x = images.to(param.device, param.dtype)
    loss = loss_fn(model(x), labels.to(param.device))
    grads = torch.autograd.grad(loss, list(weights.values()))
    return {name: float(g.norm()) for name, g in zip(weights, grads)}


@dataclass
class GradTrace:
    """What :func:`trace_steps` records, one entry per step (plain Python floats).

    ``loss[t]`` is the mini-batch loss at step ``t``, ``grad[layer][t]`` the norm of that
    layer's weight gradient on the batch, ``update[layer][t]`` the norm of the change the
    optimiser then made to that layer's weights.
    """

    loss: list[float] = field(default_factory=list)
    grad: dict[str, list[float]] = field(default_factory=dict)
    update: dict[str, list[float]] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.loss)


def trace_steps(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor], *, steps: int,
                lr: float, optimizer: str = "sgd", batch_size: int = 256, seed: int = 0,
                loss_fn: LossFn = F.cross_entropy,
                dtype: torch.dtype | None = None) -> GradTrace:
    """Train ``model`` in place for ``steps`` steps and record its :class:`GradTrace`.

    The steps are those of ``lenet.train.fit(model, train, lr=lr, optimizer=optimizer,
    batch_size=batch_size, seed=seed, dtype=dtype)`` on the CPU: the same seeded
    permutation per pass over ``train`` (passes repeat when ``steps`` needs more), the same
    plain SGD (no momentum) or Adam (default betas), so the weights after ``steps`` steps
    are the ones ``fit`` reaches after as many steps.

    Args:
        model: a classifier ``(N, C, H, W) -> (N, classes)``; trained in place.
        train: ``(images (N, C, H, W), labels (N,))``.
        steps: optimiser steps to take (>= 1).
        lr: learning rate (> 0).
        optimizer: ``"sgd"`` or ``"adam"``.
        dtype: cast the model and images to this floating dtype first.
    """
    images, labels = train
    _check_batch(images, labels)
    steps, batch_size = check_int("steps", steps), check_int("batch_size", batch_size)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    model.to(dtype=dtype)
    weights = weighted_layers(model)
    param = next(iter(weights.values()))
    x_all = images.to(param.device, param.dtype)
    y_all = labels.to(param.device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.SGD(params, lr=lr) if optimizer == "sgd"
           else torch.optim.Adam(params, lr=lr))
    gen = torch.Generator().manual_seed(seed)
    per_pass = math.ceil(len(y_all) / batch_size)
    trace = GradTrace(grad={n: [] for n in weights}, update={n: [] for n in weights})
    model.train()
    for step in range(steps):
        i = step % per_pass
        if i == 0:
            order = torch.randperm(len(y_all), generator=gen).to(param.device)
        idx = order[i * batch_size:(i + 1) * batch_size]
        loss = loss_fn(model(x_all[idx]), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        before = {n: w.detach().clone() for n, w in weights.items()}
        opt.step()
        trace.loss.append(float(loss.detach()))
        for n, w in weights.items():
            trace.grad[n].append(float(w.grad.norm()))
            trace.update[n].append(float((w.detach() - before[n]).norm()))
    return trace

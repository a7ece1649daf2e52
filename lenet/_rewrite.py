"""Shallow rewrites of a module tree: a copy whose replaced submodules are new and whose
every other module, parameter and buffer is the original's own object, so that training
the copy trains the original."""

from __future__ import annotations

import copy
import sys

from torch import nn


def with_children(module: nn.Module, replaced: dict[str, nn.Module]) -> nn.Module:
    """A shallow copy of ``module`` (the same attributes and parameter objects) whose
    children named in ``replaced`` are swapped for the given modules."""
    shell = copy.copy(module)
    shell._parameters, shell._buffers = dict(module._parameters), dict(module._buffers)
    shell._modules = {**module._modules, **replaced}
    return shell


def retyped(module: nn.Module, cls: type[nn.Module]) -> nn.Module:
    """A shallow copy of ``module`` (its attributes, parameters and hooks) as an instance of
    ``cls``, a subclass of its class that adds only methods."""
    new = with_children(module, {})
    new.__class__ = cls
    return new


def is_compiled(model: nn.Module) -> bool:
    """Whether ``model`` is ``torch.compile``'s wrapper (dynamo is imported only if it is in
    use already: importing it costs a second)."""
    dynamo = sys.modules.get("torch._dynamo.eval_frame")
    return dynamo is not None and isinstance(model, dynamo.OptimizedModule)

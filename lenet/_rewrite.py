"""Shallow rewrites of a module tree: a copy whose replaced submodules are new and whose
every other module, parameter and buffer is the original's own object, so that training
the copy trains the original."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable

from torch import nn

#: ``swap(child, next_sibling)``: ``None`` to look inside ``child``, else the modules that
#: take the places of ``child`` and of the siblings after it (one or two). ``next_sibling``
#: is the child that follows inside an ``nn.Sequential``, else ``None``.
Swap = Callable[[nn.Module, "nn.Module | None"], "list[nn.Module] | None"]


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


def rewrite(module: nn.Module, swap: Swap) -> tuple[nn.Module, int]:
    """``module``'s tree with every child that ``swap`` replaces swapped, at any depth, as
    shallow copies of the modules above it (:func:`with_children`); and how many children
    ``swap`` replaced. With none, ``module`` itself."""
    children = list(module.named_children())
    in_sequence = type(module) is nn.Sequential
    replaced: dict[str, nn.Module] = {}
    count, i = 0, 0
    while i < len(children):
        name, child = children[i]
        after = children[i + 1][1] if in_sequence and i + 1 < len(children) else None
        new = swap(child, after)
        if new is None:
            inner, n = rewrite(child, swap)
            if n:
                replaced[name], count = inner, count + n
            i += 1
            continue
        for (slot, _), module_in_slot in zip(children[i:], new):
            replaced[slot] = module_in_slot
        count, i = count + 1, i + len(new)
    if not count:
        return module, 0
    return with_children(module, replaced), count


def is_compiled(model: nn.Module) -> bool:
    """Whether ``model`` is ``torch.compile``'s wrapper (dynamo is imported only if it is in
    use already: importing it costs a second)."""
    dynamo = sys.modules.get("torch._dynamo.eval_frame")
    return dynamo is not None and isinstance(model, dynamo.OptimizedModule)

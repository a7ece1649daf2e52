"""Stochastic diagonal Levenberg-Marquardt (SDLM), the optimiser LeNet-5 was trained with.

LeCun et al. (1998, appendix C) give every parameter ``w_k`` its own step size,
``w_k <- w_k - epsilon / (mu + h_kk) * dE/dw_k``, where ``h_kk`` estimates the diagonal of
the Gauss-Newton approximation of the loss's Hessian. It is averaged over a few hundred
training patterns (500 in the paper) and re-estimated before every pass; ``mu`` (0.02)
bounds the steps where the curvature is nearly zero. Parameters the loss barely bends
along take large steps, sharply curved ones small steps.

The paper back-propagates second derivatives with squared weights, one rule per layer type,
and drops the cross terms between units on the way. :func:`gauss_newton_diagonal` computes
the Gauss-Newton diagonal itself, for any model and any loss that is a mean of per-example
terms of the model's outputs: ``diag(J^T H J)``, with ``J`` the Jacobian of one example's
outputs and ``H`` the loss's Hessian in those outputs. It draws ``r`` with covariance
``H`` and squares ``J^T r`` (one backward pass per example: ``E[(J^T r)^2]`` is the
diagonal), or with ``exact=True`` sums the squares over the columns of a square root of
``H`` (one backward pass per output).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from ._checks import check_number, check_tensor, fail
from .layers import RBFOutput

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: The paper's ``mu``: the step of a parameter with no curvature is ``lr / MU``.
MU = 0.02
#: Examples per curvature estimate, re-estimated before every pass (the paper's 500).
CURVATURE_SAMPLES = 500


def loss_hessians(scores: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn) -> torch.Tensor:
    """Each example's Hessian of ``loss_fn`` in its scores: ``(N, C) -> (N, C, C)``.

    ``loss_fn(scores, labels)`` must be the mean of per-example losses (as cross-entropy
    and :func:`lenet.layers.map_loss` are), so the Hessian of ``N`` times it is block
    diagonal and one double-backward pass per column gives every block.
    """
    check_tensor("scores", scores)
    if scores.dim() != 2:
        fail("scores", scores, "must have shape (N, C)")
    s = scores.detach().requires_grad_(True)
    with torch.enable_grad():
        grad = torch.autograd.grad(loss_fn(s, labels) * len(s), s, create_graph=True)[0]
        if not grad.requires_grad:  # a loss linear in the scores has no curvature
            return s.new_zeros(*s.shape, s.shape[1])
        cols = [torch.autograd.grad(grad[:, i].sum(), s, retain_graph=True,
                                    allow_unused=True)[0] for i in range(s.shape[1])]
    return torch.stack([torch.zeros_like(s) if c is None else c for c in cols], dim=1)


def psd_root(hessians: torch.Tensor) -> torch.Tensor:
    """The principal square root ``R = V sqrt(L) V^T`` of each ``(C, C)`` matrix with its
    negative eigenvalues set to zero (the Gauss-Newton approximation is positive
    semi-definite), so ``R @ R.T`` is that matrix. ``(N, C, C)`` in and out, computed in
    float64.

    Any ``R`` with ``R @ R.T`` right would do for the exact diagonal, but the sampled one
    draws ``R @ s`` for random signs ``s``, and ``V sqrt(L)`` alone is not unique: where
    eigenvalues repeat (the MAP loss's Hessian has many equal ones) ``eigh`` may return any
    basis of their eigenspace, and which one depends on the last bits of the input. The
    symmetric root is unique and changes as little as the matrix does.
    """
    h = hessians.double()
    vals, vecs = torch.linalg.eigh((h + h.transpose(1, 2)) / 2)
    root = (vecs * vals.clamp_min(0).sqrt()[:, None, :]) @ vecs.transpose(1, 2)
    return root.to(hessians.dtype)


Split = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def output_split(model: nn.Module) -> Split:
    """Where the Gauss-Newton split falls in ``model``: ``(body, head)`` with
    ``model(x) == head(body(x))``; the curvature is taken through ``body`` exactly and
    ``head``'s second derivatives are kept whole (it counts as part of the loss).

    For a model ending in an :class:`lenet.layers.RBFOutput` (LeNet-5), ``head`` is that
    layer: it has no trainable weights, and its penalties are squared distances of F6's
    outputs, whose curvature (2 per unit) is where the paper's second-derivative pass
    begins. Splitting at the scores instead would see almost none: at initialisation every
    penalty is large, the MAP loss's "rubbish" class takes nearly all the probability, and
    the loss is nearly linear in the scores. Any other model: ``(model, identity)``.
    """
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], RBFOutput) \
            and isinstance(getattr(model, "features", None), nn.Module):
        return nn.Sequential(model.features, classifier[:-1]), classifier[-1]
    return model, nn.Identity()


def gauss_newton_diagonal(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                          loss_fn: LossFn, *, exact: bool = False,
                          generator: torch.Generator | None = None,
                          split: Split | None = None) -> list[torch.Tensor]:
    """The Gauss-Newton diagonal of ``loss_fn`` over ``images``, one tensor per trainable
    parameter of ``model`` (same shapes, same order as ``model.parameters()``).

    ``images (N, ...)`` and ``labels (N,)`` must already be on the model's device, in its
    dtype and input format. The network is split into ``(body, head)`` by ``split``
    (default :func:`output_split`); with ``z = body(x)`` of ``C`` values per example, the
    result is the mean over the ``N`` examples of ``diag(J_n^T H_n J_n)``, ``J_n`` the
    Jacobian of ``z_n`` in the parameters and ``H_n`` the Hessian of
    ``loss_fn(head(z_n), label_n)`` in ``z_n``. Sampled: one backward pass per example
    (Rademacher draws from ``generator``); ``exact=True``: ``C`` passes per example. The
    model runs in eval mode (batch-norm statistics and dropout would otherwise differ per
    example) and is put back in the mode it was in.
    """
    check_tensor("images", images)
    if len(images) == 0:
        fail("images", images, "must hold at least one example")
    if len(images) != len(labels):
        fail("labels", labels, f"must hold one label per image ({len(images)})")
    params = [p for p in model.parameters() if p.requires_grad]
    body, head = split if split is not None else output_split(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            z = body(images)  # (N, C)
        roots = psd_root(loss_hessians(z, labels, lambda z, y: loss_fn(head(z), y)))
        if exact:
            directions = roots.transpose(1, 2)  # (N, C, C): row c is column c of the root
        else:
            device = generator.device if generator is not None else z.device
            signs = torch.randint(0, 2, z.shape, generator=generator, device=device)
            directions = (roots @ (2 * signs - 1).to(roots)[..., None]).transpose(1, 2)
        total = [torch.zeros_like(p) for p in params]
        for n in range(len(images)):
            with torch.enable_grad():
                out = body(images[n:n + 1])
                for k, v in enumerate(directions[n]):
                    grads = torch.autograd.grad(out, params, grad_outputs=v[None],
                                                retain_graph=k + 1 < len(directions[n]),
                                                allow_unused=True)
                    for acc, g in zip(total, grads):
                        if g is not None:
                            acc += g.square()
    finally:
        model.train(was_training)
    return [acc / len(images) for acc in total]


class SDLM(torch.optim.Optimizer):
    """``p <- p - lr / (mu + h) * grad``, with ``h`` the curvature set by
    :meth:`set_curvature` (from :func:`gauss_newton_diagonal`).

    With per-example steps ``lr`` is the paper's ``epsilon``; with the mean gradient of a
    batch of ``B`` examples, ``lr = B * epsilon`` takes the step of ``B`` per-example steps
    taken from the same point. ``lenet.train.fit(optimizer="sdlm")`` re-estimates ``h`` on
    :data:`CURVATURE_SAMPLES` training examples before every pass, as the paper did.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float, mu: float = MU) -> None:
        for name, value in (("lr", lr), ("mu", mu)):
            check_number(name, value, positive=True)
        super().__init__(params, {"lr": float(lr), "mu": float(mu)})

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def set_curvature(self, diagonals: Sequence[torch.Tensor]) -> None:
        """Use ``diagonals`` (one tensor per parameter, in order) as ``h`` from now on."""
        params = self._params()
        if len(diagonals) != len(params):
            fail("diagonals", diagonals, f"must hold one tensor per parameter ({len(params)}), "
                                         f"got {len(diagonals)}")
        for i, (p, h) in enumerate(zip(params, diagonals)):
            if tuple(h.shape) != tuple(p.shape):
                fail(f"diagonals[{i}]", h, f"must have the shape of its parameter "
                                           f"{tuple(p.shape)}")
            if not torch.all(h >= 0):
                fail(f"diagonals[{i}]", h, "must be >= 0 (a Gauss-Newton diagonal)")
            self.state[p]["h"] = h.detach().to(p.device, p.dtype).clone()

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if "h" not in self.state[p]:
                    raise RuntimeError("SDLM has no curvature yet: call set_curvature("
                                       "gauss_newton_diagonal(...)) before step()")
                p.addcdiv_(p.grad, self.state[p]["h"] + group["mu"], value=-group["lr"])
        return loss

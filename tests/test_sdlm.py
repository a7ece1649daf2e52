"""lenet.sdlm: the loss Hessians against closed forms, the Gauss-Newton diagonal against
one built from autograd's full Jacobian, the sampled estimate against the exact one, the
optimiser's update rule, and its use inside fit (one estimate per pass, exact resume)."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lenet.train
from lenet.data import lenet5_input
from lenet.layers import map_loss
from lenet.models import LeNet, LeNet5
from lenet.sdlm import SDLM, gauss_newton_diagonal, loss_hessians, output_split, psd_root
from lenet.train import fit, seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
                         ).double()


def _tiny_data(n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 6, 6, generator=g, dtype=torch.float64), \
        torch.randint(0, 3, (n,), generator=g)


def test_cross_entropy_hessian_is_diag_p_minus_p_p_transpose():
    scores = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    p = scores.softmax(1)
    expected = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    got = loss_hessians(scores, torch.tensor([0, 1, 2, 3]), F.cross_entropy)
    torch.testing.assert_close(got, expected)


def test_map_loss_hessian_is_the_ten_by_ten_block_of_an_eleven_way_softmax():
    gen = torch.Generator().manual_seed(0)
    scores = -10 * torch.rand(3, 10, dtype=torch.float64, generator=gen)
    p = torch.cat([scores, scores.new_full((3, 1), -1.0)], 1).softmax(1)[:, :10]
    expected = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    got = loss_hessians(scores, torch.tensor([1, 5, 9]), functools.partial(map_loss, j=1.0))
    torch.testing.assert_close(got, expected)


def test_psd_root_squares_back_and_clamps_negative_eigenvalues():
    a = torch.randn(2, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    psd = a @ a.transpose(1, 2)
    root = psd_root(psd)
    torch.testing.assert_close(root @ root.transpose(1, 2), psd)
    indefinite = torch.diag(torch.tensor([2.0, -3.0], dtype=torch.float64))[None]
    root = psd_root(indefinite)
    torch.testing.assert_close(root @ root.transpose(1, 2),
                               torch.diag(torch.tensor([2.0, 0.0], dtype=torch.float64))[None])


def test_psd_root_is_the_principal_square_root():
    import scipy.linalg
    a = torch.randn(3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    psd = a @ a.transpose(1, 2)
    root = psd_root(psd)
    torch.testing.assert_close(root, root.transpose(1, 2))  # symmetric
    expected = torch.stack([torch.from_numpy(scipy.linalg.sqrtm(m.numpy()).real) for m in psd])
    torch.testing.assert_close(root, expected)


def test_psd_root_does_not_depend_on_the_basis_of_a_repeated_eigenvalue():
    # q diag(4, 1, 1) q^T written with two bases of the repeated eigenvalue's plane (the
    # second turned by 0.7 rad within it): the same matrix up to rounding, and eigh may pick
    # either basis, but the root must be the one symmetric root, q diag(2, 1, 1) q^T.
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(2)))
    c, s = torch.cos(torch.tensor(0.7, dtype=torch.float64)), torch.sin(
        torch.tensor(0.7, dtype=torch.float64))
    turn = torch.eye(3, dtype=torch.float64)
    turn[1:, 1:] = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    d = torch.diag(torch.tensor([4.0, 1.0, 1.0], dtype=torch.float64))
    expected = q @ torch.diag(torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64)) @ q.T
    for basis in (q, q @ turn):
        torch.testing.assert_close(psd_root((basis @ d @ basis.T)[None])[0], expected)


def _reference_diagonal(model, x, y, loss_fn):
    """mean_n diag(J_n^T H_n J_n) from autograd's full Jacobian of each example's scores."""
    names, params = zip(*[(n, p.detach()) for n, p in model.named_parameters()])
    total = [torch.zeros_like(p) for p in params]
    for n in range(len(x)):
        def scores(*ps, n=n):
            return torch.func.functional_call(model, dict(zip(names, ps)), (x[n:n + 1],))[0]
        jac = torch.autograd.functional.jacobian(scores, params)  # per param: (C, *shape)
        s = scores(*params)
        hess = torch.autograd.functional.hessian(lambda s, n=n: loss_fn(s[None], y[n:n + 1]), s)
        for acc, j in zip(total, jac):
            flat = j.reshape(len(s), -1)
            acc += torch.einsum("ci,cd,di->i", flat, hess, flat).reshape(acc.shape)
    return [t / len(x) for t in total]


def test_exact_diagonal_matches_one_built_from_the_full_jacobian():
    model, (x, y) = _tiny_net(), _tiny_data()
    got = gauss_newton_diagonal(model, x, y, F.cross_entropy, exact=True)
    for g, want in zip(got, _reference_diagonal(model, x, y, F.cross_entropy)):
        torch.testing.assert_close(g, want)
    assert all(bool((g >= 0).all()) for g in got)


def test_sampled_diagonal_averages_to_the_exact_one():
    model, (x, y) = _tiny_net(), _tiny_data(n=3)
    exact = gauss_newton_diagonal(model, x, y, F.cross_entropy, exact=True)
    gen = torch.Generator().manual_seed(0)
    draws = 300
    mean = [torch.zeros_like(e) for e in exact]
    for _ in range(draws):
        for m, d in zip(mean, gauss_newton_diagonal(model, x, y, F.cross_entropy,
                                                    generator=gen)):
            m += d / draws
    for m, e in zip(mean, exact):
        # one draw is off by about 50%; 300 by about 1% (measured), the bound is 5%
        assert float((m - e).abs().sum() / e.abs().sum()) < 0.05


def test_lenet5_is_split_at_its_rbf_layer_where_the_curvature_is():
    seed_everything(0)
    model = LeNet5()
    x = lenet5_input(torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    y = torch.tensor([0, 1, 2, 3])
    body, head = output_split(model)
    torch.testing.assert_close(head(body(x)), model(x))
    assert output_split(LeNet())[0] is not None
    loss = functools.partial(map_loss, j=1.0)
    at_rbf = gauss_newton_diagonal(model, x, y, loss, exact=True)
    at_scores = gauss_newton_diagonal(model, x, y, loss, exact=True,
                                      split=(model, nn.Identity()))
    f6_bias = [n for n, _ in model.named_parameters()].index("classifier.F6.bias")
    assert float(at_rbf[f6_bias].min()) > 0.5        # 2 * tanh'(a)^2 per F6 unit
    assert float(at_scores[f6_bias].max()) < 1e-12   # the MAP loss is ~linear in the scores


def test_step_is_lr_over_mu_plus_h_times_the_gradient():
    w = nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    opt = SDLM([w], lr=0.1, mu=0.5)
    h = torch.tensor([0.0, 1.5, 9.5])
    opt.set_curvature([h])
    (w * torch.tensor([1.0, 2.0, 4.0])).sum().backward()
    opt.step()
    expected = torch.tensor([1.0, -2.0, 3.0]) - 0.1 / (0.5 + h) * torch.tensor([1.0, 2.0, 4.0])
    torch.testing.assert_close(w.detach(), expected)


@pytest.mark.parametrize(("call", "error", "says"), [
    pytest.param(lambda w: SDLM([w], lr=0.0), ValueError, ("lr", "> 0", "0.0"), id="lr-zero"),
    pytest.param(lambda w: SDLM([w], lr=0.1, mu=-1), ValueError, ("mu", "> 0"), id="mu-neg"),
    pytest.param(lambda w: SDLM([w], lr="big"), TypeError, ("lr", "str"), id="lr-str"),
    pytest.param(lambda w: SDLM([w], lr=0.1).set_curvature([]), ValueError,
                 ("one tensor per parameter (1)", "got 0"), id="count"),
    pytest.param(lambda w: SDLM([w], lr=0.1).set_curvature([torch.ones(2)]), ValueError,
                 ("diagonals[0]", "(3,)", "(2,)"), id="shape"),
    pytest.param(lambda w: SDLM([w], lr=0.1).set_curvature([-torch.ones(3)]), ValueError,
                 ("diagonals[0]", ">= 0"), id="negative"),
])
def test_bad_arguments_are_named(call, error, says):
    with pytest.raises(error) as info:
        call(nn.Parameter(torch.zeros(3)))
    assert all(s in str(info.value) for s in says), str(info.value)


def test_step_before_any_curvature_says_what_to_call():
    w = nn.Parameter(torch.zeros(3))
    w.sum().backward()
    with pytest.raises(RuntimeError, match="set_curvature"):
        SDLM([w], lr=0.1).step()


def test_diagonal_refuses_mismatched_examples():
    with pytest.raises(ValueError, match="labels"):
        gauss_newton_diagonal(_tiny_net(), *_tiny_data()[:1], torch.tensor([0]), F.cross_entropy)


def _data(n: int = 96):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_fit_with_sdlm_estimates_once_per_pass_and_learns(monkeypatch):
    calls = []
    real = lenet.train.gauss_newton_diagonal
    monkeypatch.setattr(lenet.train, "gauss_newton_diagonal",
                        lambda *a, **kw: calls.append(len(a[1])) or real(*a, **kw))
    x, y = _data()
    seed_everything(0)
    # lr 0.01: the step is lr / (mu + h) per parameter, up to 50x the plain gradient step
    # (mu = 0.02). Far larger rates diverge on these random labels for most seeds.
    history = fit(LeNet(), (x, y), epochs=3, lr=0.01, batch_size=16, optimizer="sdlm",
                  progress=False, device="cpu")
    assert calls == [96, 96, 96]  # min(500, N) examples, before each of the 3 passes
    loss = history.train_loss
    assert loss[0] > loss[1] > loss[2]


def test_fit_with_sdlm_resumes_exactly(tmp_path):
    x, y = _data()
    runs = []
    for stops in ((3,), (1, 3)):
        seed_everything(0)
        model = LeNet()
        for epochs in stops:
            history = fit(model, (x, y), epochs=epochs, lr=0.5, batch_size=16,
                          optimizer="sdlm", progress=False, device="cpu",
                          checkpoint=tmp_path / f"{len(stops)}.pt", resume=True)
        runs.append((history, model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for key, value in runs[0][1].items():
        assert torch.equal(value, runs[1][1][key])


def test_fit_refuses_momentum_with_sdlm():
    with pytest.raises(ValueError, match="momentum"):
        fit(LeNet(), _data(), epochs=1, lr=0.1, optimizer="sdlm", momentum=0.9,
            progress=False, device="cpu")


def test_fit_takes_an_optimizer_factory_such_as_sdlm_with_another_mu():
    x, y = _data(n=32)
    seen = []

    def factory(params, lr):
        seen.append(lr)
        return SDLM(params, lr, mu=1.0)

    fit(LeNet(), (x, y), epochs=1, lr=0.25, batch_size=16, optimizer=factory, progress=False,
        device="cpu")
    assert seen == [0.25]
    with pytest.raises(ValueError, match="'factory' takes its own settings, got momentum=0.0, "
                                         "weight_decay=0.0001"):
        fit(LeNet(), (x, y), epochs=1, lr=0.1, optimizer=factory, weight_decay=1e-4,
            progress=False, device="cpu")


def test_the_sdlm_recipe_builds_sdlm_and_the_paper_recipe_sgd():
    from lenet.paper import PAPER_RECIPE, SDLM_RECIPE

    assert PAPER_RECIPE.optimizer() == "sgd"
    w = nn.Parameter(torch.zeros(2))
    opt = SDLM_RECIPE.optimizer()([w], SDLM_RECIPE.lr()[0])
    assert isinstance(opt, SDLM)
    assert opt.param_groups[0]["mu"] == SDLM_RECIPE.mu and SDLM_RECIPE.momentum == 0
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-4 * SDLM_RECIPE.scale)

"""Checkers of chapter 3: a generator step (ex-3-2) and Algorithm 1 from scratch (ex-3-3), against ganlib.train."""

from __future__ import annotations

from ._common import CheckResult, _checker, _require_callable, _run

__all__ = ["ex_3_2", "ex_3_3"]


_CH3_LATENT, _CH3_HIDDEN = 4, (16,)  # the tiny 2-D pair the chapter 3 checkers train


def _ch3_models(seed: int):
    """A tiny MLP ``(generator, discriminator)`` for 2-D points, identical for the same seed."""
    import torch

    from ..core.zoo import build_models

    with torch.random.fork_rng(devices=[]):  # do not disturb the reader's global random stream
        torch.manual_seed(seed)
        return build_models("mlp", data_shape=(2,), latent_dim=_CH3_LATENT, hidden=_CH3_HIDDEN)


def _params_differ(got, expected, what: str, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """Compare two lists of (name, tensor); describe the first parameter that differs."""
    import torch

    for (name, a), (_, b) in zip(got, expected):
        if a.shape != b.shape or not torch.allclose(a, b, atol=atol, rtol=rtol):
            gap = (a - b).abs().max().item() if a.shape == b.shape else float("nan")
            return f"{what} parameter {name} differs from the reference (largest gap {gap:.2e})"
    return None


def _named(module) -> list:
    return [(n, p.detach().clone()) for n, p in module.named_parameters()]


def _g_step_case(seed: int, loss_name: str, frozen: str | None):
    """One case for :func:`ex_3_2`: the reader's models, the reference result, and a comparison."""
    import copy

    import torch

    from ..core.losses import get_loss
    from ..core.steps import g_step

    generator, discriminator = _ch3_models(seed)
    if frozen is not None:  # a D with a layer frozen on purpose: the step must leave it frozen
        discriminator.get_parameter(frozen).requires_grad_(False)
    for p in discriminator.parameters():  # gradients left over from a D step: a G step must not touch them
        p.grad = torch.full_like(p, 0.5)
    z = torch.randn(32, _CH3_LATENT, generator=torch.Generator().manual_seed(seed))
    ref_g, ref_d = copy.deepcopy(generator), copy.deepcopy(discriminator)
    g_step(ref_g, ref_d, torch.optim.Adam(ref_g.parameters(), lr=1e-2), z.clone(), get_loss(loss_name))
    flags = [p.requires_grad for p in discriminator.parameters()]
    d_before = _named(discriminator)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-2)

    def compare(_got, _expected):
        problem = _params_differ(_named(generator), _named(ref_g), "G")
        if problem:
            return problem + " (G should take one Adam step on -log D(G(z)), gradients through D)"
        if any(not torch.equal(a, b) for (_, a), (_, b) in zip(_named(discriminator), d_before)):
            return "a weight of D changed: the generator step must leave D's weights alone"
        if any(p.grad is None or not torch.equal(p.grad, torch.full_like(p, 0.5)) for p in discriminator.parameters()):
            return "D's .grad changed: your backward pass also wrote gradients into D"
        if [p.requires_grad for p in discriminator.parameters()] != flags:
            return "D's requires_grad flags are not as they were before the step: restore them"
        return None

    return (generator, discriminator, opt_g, z.clone()), None, compare


@_checker("ex-3-2")
def ex_3_2(g_step_fn) -> CheckResult:
    """Check a generator step ``g_step_fn(generator, discriminator, opt_g, z)`` with the non-saturating loss.

    It must move G exactly as :func:`ganlib.core.steps.g_step` does, and leave D's weights, D's gradients and
    D's ``requires_grad`` flags as it found them.
    """
    label = "ex-3-2"
    _require_callable(label, g_step_fn)
    cases = [("a fresh pair", *_g_step_case(0, "ns", None)),
             ("a pair whose D has a frozen layer", *_g_step_case(1, "ns", "net.1.weight"))]
    return _run(label, g_step_fn, cases,
                "freeze D for the step (requires_grad_(False) on its trainable parameters, restored in a "
                "finally: block) or use torch.autograd.grad with respect to G's parameters only")


def _train_case(seed: int, **changes):
    """One case for :func:`ex_3_3`: a config, fresh models, ganlib.train's result, and a comparison."""
    import copy

    import torch

    from ..core.data import sample_toy
    from ..core.config import TrainConfig
    from ..core.train import train

    config = TrainConfig(num_steps=6, batch_size=16, lr_g=1e-2, lr_d=1e-2, log_every=3, num_fixed=8,
                         progress=False, seed=seed, **changes)
    data = sample_toy("ring", 256, generator=torch.Generator().manual_seed(seed))
    generator, discriminator = _ch3_models(seed)
    ref_g, ref_d = copy.deepcopy(generator), copy.deepcopy(discriminator)
    train(ref_g, ref_d, data, config, device="cpu")
    described = ", ".join(f"{k}={v!r}" for k, v in changes.items())

    def compare(_got, _expected):
        for module, ref, what in ((generator, ref_g, "G"), (discriminator, ref_d, "D")):
            problem = _params_differ(_named(module), _named(ref), what)
            if problem:
                return f"{problem} after {config.num_steps} steps with {described}"
        return None

    return (generator, discriminator, data.clone(), config), None, compare


@_checker("ex-3-3")
def ex_3_3(train_fn) -> CheckResult:
    """Check a from-scratch Algorithm 1 ``train_fn(generator, discriminator, data, config)`` against ganlib.train.

    ``train_fn`` trains the two models in place for ``config.num_steps`` generator steps, with
    ``config.d_steps`` discriminator steps before each and the loss ``config.loss`` ("ns" or "minimax");
    the final weights must equal those :func:`ganlib.train` reaches from the same start.
    """
    label = "ex-3-3"
    _require_callable(label, train_fn)
    cases = [(f"seed {seed}, loss {loss!r}, k = {k}", *_train_case(seed, loss=loss, d_steps=k))
             for seed, loss, k in ((1, "ns", 1), (2, "minimax", 2), (3, "minimax", 3))]
    return _run(label, train_fn, cases,
                "one torch.Generator(device=data.device).manual_seed(config.seed); draw config.num_fixed "
                "fixed noise vectors first; then per D step the batch indices (torch.randint) before the "
                "noise; fresh noise for the G step; Adam with config.betas for each player")

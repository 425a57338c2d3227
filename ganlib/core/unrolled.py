"""The unrolled generator step of Metz et al. (2017): G learns against D as it would be K steps later.

Holds :func:`unrolled_g_step` (``TrainConfig.regularization.unroll_steps``); :func:`ganlib.train` uses it in place of
:func:`ganlib.core.steps.g_step`.

A functional copy of D takes K differentiable Adam steps on its own loss, on ``x_real`` and the
fakes ``G(z)``, starting from D's weights and from ``opt_d``'s moment estimates, step count,
learning rate, betas, eps and weight decay; G then minimizes its loss against that copy,
``loss.g(D_K(G(z)))``. The gradient is taken through the K updates (``create_graph=True``), so
it holds the second-order term ``dL/dtheta_K . dtheta_K/dtheta_G``: how D *would react* to G's
change. That term discourages G from piling onto whatever region the current D rates most real
(the chase that ends in mode hopping and mode collapse); without it (stopping the gradient at
theta_K) the method is a plain G step against a more trained D. The same ``G(z)`` and real batch
are used in all K updates and in G's loss. Cost: K extra forward-backward passes of D plus the
backward through them.

D is left exactly as it was: its parameters, its buffers (BatchNorm's running statistics; the
copy uses the batch statistics in training mode, as D's own step does, and updates clones of the
buffers that are then dropped) and ``opt_d``'s state. Unlike :func:`~ganlib.core.steps.g_step`, D's BatchNorm running
statistics are therefore not moved by the fake batch of the G step (they are only used in
evaluation mode). Only ``torch.optim.Adam`` without amsgrad / maximize is supported for ``opt_d``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .labels import is_conditional
from .losses import GANLoss
from .utils import GanlibError

__all__ = ["unrolled_g_step"]


def unrolled_g_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
                    z: torch.Tensor, loss: GANLoss, *, x_real: torch.Tensor, opt_d: torch.optim.Optimizer,
                    unroll_steps: int) -> dict[str, torch.Tensor]:
    """One generator update against D unrolled ``unroll_steps`` (K) steps ahead (Metz et al., 2017).

    How it works, and what it leaves alone: see the module's docstring.

    Parameters
    ----------
    generator, discriminator : nn.Module
        An unconditional pair.
    opt_g : torch.optim.Optimizer
        The generator's optimizer.
    z : torch.Tensor
        Noise ``(B, latent_dim)``.
    loss : GANLoss
        The loss pair; ``loss.d`` drives the unrolled D steps, ``loss.g`` G's update. Losses with a
        penalty (WGAN-GP) are not supported.
    x_real : torch.Tensor
        A real minibatch ``(B, *data_shape)`` for the unrolled D steps.
    opt_d : torch.optim.Optimizer
        D's Adam optimizer: only read, never stepped.
    unroll_steps : int
        K, at least 1 (use :func:`~ganlib.core.steps.g_step` for K = 0).

    Returns
    -------
    dict of 0-d tensors
        ``g_loss`` (against the unrolled D).
    """
    if isinstance(unroll_steps, bool) or not isinstance(unroll_steps, int) or unroll_steps < 1:
        raise GanlibError(f"unroll_steps must be a positive integer (use g_step for 0), got {unroll_steps!r}")
    if loss.penalty is not None:
        raise GanlibError("unrolled G steps do not support losses with a penalty (e.g. wgan-gp): "
                          "its gradient would need third derivatives")
    if is_conditional(generator) or is_conditional(discriminator):
        raise GanlibError("unrolled G steps support unconditional pairs only")
    hyper = _adam_hyper(discriminator, opt_d)
    params = {name: p.detach().requires_grad_(True) for name, p in discriminator.named_parameters()}
    buffers = {name: b.clone() for name, b in discriminator.named_buffers()}  # D's own stay as they are
    names = list(params)

    def d_out(theta, x):
        return torch.func.functional_call(discriminator, {**theta, **buffers}, (x,))

    x_fake = generator(z)  # (B, *data_shape), in G's graph: the unrolled steps depend on G
    theta = dict(params)
    moments = {n: (hyper[n]["exp_avg"], hyper[n]["exp_avg_sq"]) for n in names}
    for k in range(unroll_steps):
        d_loss = loss.d(d_out(theta, x_real), d_out(theta, x_fake))
        grads = torch.autograd.grad(d_loss, [theta[n] for n in names], create_graph=True)
        theta = {n: _adam_update(theta[n], grad, moments, n, hyper[n], k) for n, grad in zip(names, grads)}
    d_fake = d_out(theta, x_fake)
    g_loss = loss.g(d_fake, d_out(theta, x_real)) if loss.g_uses_real else loss.g(d_fake)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward(inputs=[p for p in generator.parameters() if p.requires_grad])  # nothing reaches D
    opt_g.step()
    return {"g_loss": g_loss.detach()}


def _adam_update(theta: torch.Tensor, grad: torch.Tensor, moments: dict, name: str, h: dict, k: int) -> torch.Tensor:
    """One differentiable Adam step of parameter ``name`` (the k-th unrolled one); updates ``moments[name]``."""
    if h["weight_decay"]:
        grad = grad + h["weight_decay"] * theta
    m, v = moments[name]
    m = h["beta1"] * m + (1 - h["beta1"]) * grad
    v = h["beta2"] * v + (1 - h["beta2"]) * grad * grad
    moments[name] = (m, v)
    t = h["step"] + k + 1
    denom = _safe_sqrt(v) / math.sqrt(1 - h["beta2"] ** t) + h["eps"]
    return theta - h["lr"] / (1 - h["beta1"] ** t) * m / denom


def _safe_sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt(v) with a zero (not NaN) derivative where v == 0 (a parameter whose gradient is exactly 0)."""
    positive = v > 0
    return torch.where(positive, torch.where(positive, v, torch.ones_like(v)).sqrt(), torch.zeros_like(v))


def _adam_hyper(discriminator: nn.Module, opt_d: torch.optim.Optimizer) -> dict[str, dict]:
    """Per D parameter name: opt_d's Adam settings and state (zeros and step 0 before its first step)."""
    if not isinstance(opt_d, torch.optim.Adam) or isinstance(opt_d, torch.optim.AdamW):
        raise GanlibError(f"unrolling mirrors Adam: opt_d must be a torch.optim.Adam, got {type(opt_d).__name__}")
    groups = {id(p): g for g in opt_d.param_groups for p in g["params"]}
    hyper = {}
    for name, p in discriminator.named_parameters():
        group = groups.get(id(p))
        if group is None:
            raise GanlibError(f"opt_d does not hold the discriminator's parameter {name!r}")
        if group.get("amsgrad") or group.get("maximize"):
            raise GanlibError("unrolling mirrors plain Adam: amsgrad and maximize are not supported")
        state = opt_d.state.get(p, {})
        zeros = torch.zeros_like(p, memory_format=torch.preserve_format).detach()
        hyper[name] = {
            "lr": float(group["lr"]), "beta1": float(group["betas"][0]), "beta2": float(group["betas"][1]),
            "eps": float(group["eps"]), "weight_decay": float(group["weight_decay"]),
            "step": int(float(state["step"])) if "step" in state else 0,
            "exp_avg": state["exp_avg"].detach() if "exp_avg" in state else zeros,
            "exp_avg_sq": state["exp_avg_sq"].detach() if "exp_avg_sq" in state else zeros,
        }
    return hyper

"""One discriminator step and one generator step: the two halves of Algorithm 1.

Holds :func:`d_step`, :func:`g_step` and :func:`frozen` (D's weights held still while G learns through D).
The D step's arithmetic itself is :func:`ganlib.core.steps_shared.d_step_with`, written once for one
process and for DDP. The loop that alternates the steps is :mod:`ganlib.core.engine`; the losses are
:mod:`ganlib.core.losses`.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import torch
from torch import nn

from .losses import GANLoss
from .steps_shared import d_step_with, d_verdicts, logits
from .utils import GanlibError

__all__ = ["d_step", "g_step", "frozen"]


def d_step(generator: nn.Module, discriminator: nn.Module, opt_d: torch.optim.Optimizer,
           x_real: torch.Tensor, z: torch.Tensor, loss: GANLoss, *,
           rng: torch.Generator | None = None, y_real: torch.Tensor | None = None,
           y_fake: torch.Tensor | None = None, keep_fakes: bool = False) -> dict[str, torch.Tensor]:
    """One discriminator update: D ascends log D(x) + log(1 - D(G(z))) (for the BCE losses).

    D runs forward and backward on the real batch *and* on the fake batch. G is not updated.

    Parameters
    ----------
    generator, discriminator : nn.Module
    opt_d : torch.optim.Optimizer
        The discriminator's optimizer.
    x_real : torch.Tensor
        A real minibatch ``(B, *data_shape)``.
    z : torch.Tensor
        Noise ``(B, latent_dim)``.
    loss : GANLoss
        The loss pair (``loss.d`` is used, plus ``loss.penalty`` when it has one).
    rng : torch.Generator, optional
        Random stream for a penalty's draws (WGAN-GP's interpolation weights).
    y_real, y_fake : torch.Tensor, optional
        Class labels ``(B,)`` of the real batch and of the fakes to make, for conditional networks
        (:mod:`ganlib.variants.conditional`): then G is called as ``G(z, y)`` and D as ``D(x, y)``.
    keep_fakes : bool
        Also return the fakes with G's graph (``"x_fake"``), for a :func:`g_step` that reuses them
        instead of running G again (as pytorch/examples' DCGAN does). D still learns from them detached.

    Returns
    -------
    dict of 0-d tensors
        ``d_loss``, ``d_real`` (mean D(x)) and ``d_fake`` (mean D(G(z))); call ``float()`` to read.
        With ``keep_fakes``, also ``x_fake`` ``(B, *data_shape)``.
    """
    return d_step_with(generator, functools.partial(d_verdicts, discriminator), opt_d, x_real, z, loss, rng=rng,
                       y_real=y_real, y_fake=y_fake, keep_fakes=keep_fakes)


def g_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
           z: torch.Tensor, loss: GANLoss, *, x_real: torch.Tensor | None = None,
           y_fake: torch.Tensor | None = None, y_real: torch.Tensor | None = None,
           x_fake: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One generator update: G descends its loss on D's verdict about G(z). D's weights stay as they are.

    G never sees real data: its gradient flows from D's output on the fakes back into G.

    Parameters
    ----------
    generator, discriminator : nn.Module
    opt_g : torch.optim.Optimizer
        The generator's optimizer (it holds only G's parameters).
    z : torch.Tensor
        Noise ``(B, latent_dim)``.
    loss : GANLoss
        The loss pair (``loss.g`` is used).
    x_real : torch.Tensor, optional
        A real minibatch, needed (only) by the relativistic losses (``loss.g_uses_real``), whose
        generator loss compares D's verdicts on fakes with those on real data.
    y_fake, y_real : torch.Tensor, optional
        Labels of the fakes to make (and of ``x_real``) for conditional networks.
    x_fake : torch.Tensor, optional
        Fakes already made by G from ``z`` (and ``y_fake``), with G's graph: the ``"x_fake"`` of
        ``d_step(..., keep_fakes=True)``. G is then not run again; G's weights must not have changed since.

    Returns
    -------
    dict of 0-d tensors
        ``g_loss``.
    """
    if loss.g_uses_real and x_real is None:
        raise GanlibError("this loss compares fakes with real data: pass x_real to g_step")
    with frozen(discriminator):  # gradients flow *through* D into G, not *into* D's weights
        if x_fake is None:
            x_fake = generator(z) if y_fake is None else generator(z, y_fake)  # (B, *data_shape)
        if y_fake is None:
            d_fake = logits(discriminator(x_fake))  # (B,)
            g_loss = loss.g(d_fake, logits(discriminator(x_real))) if loss.g_uses_real else loss.g(d_fake)
        else:  # conditional: G makes digits of the given classes, D judges them as those classes
            d_fake = logits(discriminator(x_fake, y_fake))
            g_loss = (loss.g(d_fake, logits(discriminator(x_real, y_real))) if loss.g_uses_real
                      else loss.g(d_fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return {"g_loss": g_loss.detach()}


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Freeze ``module``'s trainable parameters for the duration of a ``with`` block.

    Inside, gradients still flow *through* the module (to whatever produced its input) but not *into*
    its parameters, which is what a generator step needs from the discriminator. The parameters are
    trainable again afterwards, even when the block raises.
    """
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in trainable:
            p.requires_grad_(True)

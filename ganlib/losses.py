"""GAN losses, all computed on discriminator *logits* (D(x) = sigmoid(logit)).

Holds: the value function :func:`value`, the discriminator and generator losses of the minimax
game and of the non-saturating heuristic (Goodfellow et al., 2014), least squares (LSGAN) and hinge,
and :data:`LOSSES`, the pairs by name used by :func:`ganlib.train` and the CLI.
It does not hold networks or the loop.

Labels: real = 1, fake = 0, everywhere. Each player *minimizes* its own loss with the other frozen;
the two losses are never added into one objective (see the book's chapter 04).
Identities used below: ``-log sigmoid(l) = softplus(-l)`` and ``-log(1 - sigmoid(l)) = softplus(l)``,
which are exact and stable for any logit, unlike ``log(sigmoid(l))``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from .utils import GanlibError

__all__ = [
    "value", "d_loss_bce", "g_loss_minimax", "g_loss_nonsaturating", "d_loss_lsgan", "g_loss_lsgan",
    "d_loss_hinge", "g_loss_hinge", "GANLoss", "LOSSES", "get_loss",
]


def value(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """The GAN value function V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))], from logits.

    D ascends V; G descends it (Goodfellow et al., 2014, Eq. 1).

    Parameters
    ----------
    d_real, d_fake : torch.Tensor
        Discriminator logits on real and on generated samples, shape ``(B,)``.

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    return -F.softplus(-d_real).mean() - F.softplus(d_fake).mean()


def d_loss_bce(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss -V: binary cross-entropy with real = 1 and fake = 0.

    Minimizing it is D ascending log D(x) + log(1 - D(G(z))); it equals -V(D, G).
    """
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def g_loss_minimax(d_fake: torch.Tensor) -> torch.Tensor:
    """Generator loss of the minimax game: E[log(1 - D(G(z)))], which G minimizes.

    Its gradient vanishes when D confidently rejects the fakes (D(G(z)) near 0): it *saturates*.
    """
    return -F.softplus(d_fake).mean()


def g_loss_nonsaturating(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -E[log D(G(z))] (Goodfellow et al., 2014, section 3).

    It is BCE with the *real* label on fakes: G wants D to call its samples real. Same fixed point
    as the minimax loss, but strong gradients exactly when D rejects the fakes.
    """
    return F.softplus(-d_fake).mean()


def d_loss_lsgan(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """LSGAN discriminator loss (Mao et al., 2017): ½E[(D(x) - 1)²] + ½E[D(G(z))²] on raw outputs."""
    return 0.5 * ((d_real - 1).pow(2).mean() + d_fake.pow(2).mean())


def g_loss_lsgan(d_fake: torch.Tensor) -> torch.Tensor:
    """LSGAN generator loss: ½E[(D(G(z)) - 1)²]."""
    return 0.5 * (d_fake - 1).pow(2).mean()


def d_loss_hinge(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator loss (Lim & Ye, 2017; Miyato et al., 2018): E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def g_loss_hinge(d_fake: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss: -E[D(G(z))]."""
    return -d_fake.mean()


class GANLoss(NamedTuple):
    """A pair of losses: ``d(d_real, d_fake)`` minimized by D, ``g(d_fake)`` minimized by G."""

    d: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]


#: The loss pairs by name, ``"ns"`` (the default), ``"minimax"``, ``"lsgan"`` and ``"hinge"``.
#:
#: :meta hide-value:
LOSSES: dict[str, GANLoss] = {
    "ns": GANLoss(d_loss_bce, g_loss_nonsaturating),       # the default: non-saturating
    "minimax": GANLoss(d_loss_bce, g_loss_minimax),        # the paper's game as written
    "lsgan": GANLoss(d_loss_lsgan, g_loss_lsgan),
    "hinge": GANLoss(d_loss_hinge, g_loss_hinge),
}


def get_loss(name: str) -> GANLoss:
    """Return the loss pair called ``name`` (one of :data:`LOSSES`)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise GanlibError(f"unknown loss {name!r}; expected one of {tuple(LOSSES)}") from None

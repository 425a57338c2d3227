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

import functools
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .steps_shared import rand_per_example
from .utils import GanlibError

__all__ = [
    "value", "d_loss_bce", "g_loss_minimax", "g_loss_nonsaturating", "d_loss_lsgan", "g_loss_lsgan",
    "d_loss_hinge", "g_loss_hinge", "d_loss_wgan", "g_loss_wgan", "gradient_penalty", "r1_penalty",
    "d_loss_rsgan", "g_loss_rsgan", "d_loss_ragan", "g_loss_ragan", "GANLoss", "LOSSES", "get_loss",
    "d_loss_bce_smooth", "r1_loss", "REAL_LABEL_SMOOTH", "R1_GAMMA",
]

GP_WEIGHT = 10.0  # lambda of WGAN-GP (Gulrajani et al., 2017)
REAL_LABEL_SMOOTH = 0.9  # D's target on real data with one-sided label smoothing (Salimans et al., 2016)
R1_GAMMA = 1.0  # gamma of the "ns-r1" loss (r1_loss says how it was picked)


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


def d_loss_wgan(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Wasserstein critic loss: E[D(G(z))] - E[D(x)] (the critic's output is a score, not a logit)."""
    return d_fake.mean() - d_real.mean()


def g_loss_wgan(d_fake: torch.Tensor) -> torch.Tensor:
    """Wasserstein generator loss: -E[D(G(z))]."""
    return -d_fake.mean()


def _input_gradient(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """d D(x) / dx per example, kept in the graph (the penalty is trained through), ``(B, n)``."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return grad.reshape(len(x), -1)


def gradient_penalty(discriminator: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor, *,
                     weight: float = GP_WEIGHT, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's penalty: weight * E[(||grad D(x_hat)|| - 1)^2] on random interpolates x_hat.

    Each example gets its *own* mixing weight alpha ~ U(0, 1) (one alpha for the whole batch, a
    classic bug, only tests points on one "slice" between the two batches).

    Parameters
    ----------
    discriminator : nn.Module
    x_real, x_fake : torch.Tensor
        ``(B, *data_shape)`` each.
    weight : float
        lambda (10 in the paper).
    generator : torch.Generator, optional
        Random stream for alpha (the training run's, so runs are reproducible). Under ``torchrun`` each
        rank keeps its slice of the draw for all ranks (:func:`ganlib.core.steps_shared.rand_per_example`).

    Returns
    -------
    torch.Tensor
        A 0-d tensor in the graph of D's parameters.
    """
    # (B, 1, ...): one alpha per example; under torchrun this rank's slice of the global batch's draw
    alpha = rand_per_example(x_real, generator)
    x_hat = alpha * x_real.detach() + (1 - alpha) * x_fake.detach()
    norms = _input_gradient(discriminator, x_hat).norm(dim=1)
    return weight * (norms - 1).pow(2).mean()


def r1_penalty(discriminator: nn.Module, x_real: torch.Tensor, *, gamma: float = 1.0) -> torch.Tensor:
    """R1 (Mescheder et al., 2018): gamma / 2 * E[||grad D(x)||^2] on real data only."""
    return gamma / 2 * _input_gradient(discriminator, x_real).pow(2).sum(dim=1).mean()


def d_loss_rsgan(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Relativistic standard GAN, D: -E[log sigmoid(C(x) - C(G(z)))] over pairs (Jolicoeur-Martineau)."""
    return F.softplus(-(d_real - d_fake)).mean()


def g_loss_rsgan(d_fake: torch.Tensor, d_real: torch.Tensor) -> torch.Tensor:
    """Relativistic standard GAN, G: -E[log sigmoid(C(G(z)) - C(x))]: fakes should look *more* real."""
    return F.softplus(-(d_fake - d_real)).mean()


def d_loss_ragan(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Relativistic average GAN, D: each real against the mean fake, each fake against the mean real."""
    return F.softplus(-(d_real - d_fake.mean())).mean() + F.softplus(d_fake - d_real.mean()).mean()


def g_loss_ragan(d_fake: torch.Tensor, d_real: torch.Tensor) -> torch.Tensor:
    """Relativistic average GAN, G: the D loss with the roles of real and fake swapped."""
    return F.softplus(-(d_fake - d_real.mean())).mean() + F.softplus(d_real - d_fake.mean()).mean()


def d_loss_bce_smooth(d_real: torch.Tensor, d_fake: torch.Tensor, *,
                      real_label: float = REAL_LABEL_SMOOTH) -> torch.Tensor:
    """BCE discriminator loss with *one-sided* label smoothing: real target 0.9, fake target 0.

    Salimans et al. (2016, section 3.4). The real term is the cross-entropy with the soft target
    ``a = real_label``, ``-[a log D(x) + (1 - a) log(1 - D(x))]``; fakes keep the hard target 0.
    D can no longer reach zero loss by growing its logits without bound, which keeps it from
    becoming over-confident and its gradients from exploding or vanishing.

    With targets ``a`` (real) and ``b`` (fake) the optimal discriminator is
    ``D*(x) = (a p_data(x) + b p_g(x)) / (p_data(x) + p_g(x))``. With ``b = 0`` this is
    ``a p_data / (p_data + p_g)``: a scaled version of the unsmoothed optimum, still 0 wherever
    there is no data, so fakes there are pushed away as before. Two-sided smoothing (``b > 0``) is
    wrong: where ``p_data`` is near 0 and ``p_g`` is not, ``D* = b`` is a constant, so D gives G no
    gradient to move those fakes back to the data, i.e. it reinforces G's current mistakes.

    Parameters
    ----------
    d_real, d_fake : torch.Tensor
        Discriminator logits on real and on generated samples, ``(B,)`` each.
    real_label : float
        The real target ``a``, in ``(0, 1]``; 1 gives :func:`d_loss_bce` back.

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    if not 0.0 < real_label <= 1.0:
        raise GanlibError(f"real_label must be in (0, 1], got {real_label!r}")
    real = real_label * F.softplus(-d_real) + (1 - real_label) * F.softplus(d_real)
    return real.mean() + F.softplus(d_fake).mean()


def _r1_penalty_term(discriminator, x_real, x_fake, generator=None, *, gamma: float = R1_GAMMA):
    return r1_penalty(discriminator, x_real, gamma=gamma)


def r1_loss(gamma: float = R1_GAMMA) -> GANLoss:
    """The non-saturating loss with the R1 penalty on D (Mescheder et al., 2018): the ``"ns-r1"`` pair.

    D minimizes ``BCE + gamma / 2 * E_data[||grad_x D(x)||^2]`` (:func:`r1_penalty`): a zero-centred
    gradient penalty on real data only, which makes the game locally convergent near the
    equilibrium where D is flat on the data; G's loss is unchanged.

    ``gamma`` depends on the data's scale. The paper used 10 for most image sets; the default
    ``R1_GAMMA`` = 1 suits the book's 2-D ring and grid in short runs at a constant learning rate: a
    larger weight lowers the share of high-quality samples, a smaller one leaves modes uncovered
    (``benchmarks/results/NOTES.md``). With a long learning-rate decay the balance moves: the 2-D
    recipes of :mod:`ganlib.core.recipes` use 0.1 (``"ns-r1-0.1"``).
    To train with another value, register the pair under a new name, e.g.
    ``ganlib.LOSSES["ns-r1-10"] = r1_loss(10.0)``, then ``TrainConfig(loss="ns-r1-10")``.

    Parameters
    ----------
    gamma : float
        Weight of the penalty, positive.

    Returns
    -------
    GANLoss
    """
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma > 0 or gamma == float("inf"):
        raise GanlibError(f"gamma must be a positive finite number, got {gamma!r}")
    return GANLoss(d_loss_bce, g_loss_nonsaturating, penalty=functools.partial(_r1_penalty_term, gamma=float(gamma)))


def _wgan_gp_penalty(discriminator, x_real, x_fake, generator=None):
    return gradient_penalty(discriminator, x_real, x_fake, generator=generator)


class GANLoss(NamedTuple):
    """A pair of losses: ``d(d_real, d_fake)`` minimized by D, ``g(d_fake)`` minimized by G.

    ``penalty(discriminator, x_real, x_fake, generator=rng)``, when set, is added to D's loss (e.g.
    WGAN-GP's gradient penalty). ``g_uses_real``: G's loss compares with real data, ``g(d_fake,
    d_real)`` (the relativistic losses), so G's step also reads a real batch.
    """

    d: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g: Callable[..., torch.Tensor]
    penalty: Callable[..., torch.Tensor] | None = None
    g_uses_real: bool = False


#: The loss pairs by name, ``"ns"`` (the default), ``"minimax"``, ``"lsgan"``, ``"hinge"``, ``"wgan-gp"``,
#: ``"rsgan"`` and ``"ragan"``, and two remedies of :mod:`ganlib.variants.remedies`, ``"ns-smooth"``
#: (one-sided label smoothing) and ``"ns-r1"`` (the R1 penalty).
#:
#: :meta hide-value:
LOSSES: dict[str, GANLoss] = {
    "ns": GANLoss(d_loss_bce, g_loss_nonsaturating),       # the default: non-saturating
    "minimax": GANLoss(d_loss_bce, g_loss_minimax),        # the paper's game as written
    "lsgan": GANLoss(d_loss_lsgan, g_loss_lsgan),
    "hinge": GANLoss(d_loss_hinge, g_loss_hinge),
    "wgan-gp": GANLoss(d_loss_wgan, g_loss_wgan, penalty=_wgan_gp_penalty),
    "rsgan": GANLoss(d_loss_rsgan, g_loss_rsgan, g_uses_real=True),
    "ragan": GANLoss(d_loss_ragan, g_loss_ragan, g_uses_real=True),
    "ns-smooth": GANLoss(d_loss_bce_smooth, g_loss_nonsaturating),  # one-sided label smoothing, real = 0.9
    "ns-r1": r1_loss(R1_GAMMA),                                     # ns + R1 penalty on real data
    "ns-r1-0.1": r1_loss(0.1),                                      # the same, gamma 0.1: the 2-D recipes'
}


def get_loss(name: str) -> GANLoss:
    """Return the loss pair called ``name`` (one of :data:`LOSSES`)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise GanlibError(f"unknown loss {name!r}; expected one of {tuple(LOSSES)}") from None

"""InfoGAN (Chen et al., 2016): a GAN whose generator input holds latent codes it must keep readable.

Holds: :class:`InfoGANGenerator`, :class:`InfoGANDiscriminator` (D and the auxiliary network Q on
one shared body), :func:`sample_codes`, :func:`make_latent`, :func:`info_loss` (the variational
mutual-information term L_I), :func:`infogan_d_step` / :func:`infogan_g_step` and :class:`InfoGAN` (the variant
:func:`ganlib.train` takes), :func:`recipe` (the CPU settings
the CLI uses for ``--model infogan``) and :func:`load_pretrained` / :func:`pretrained_info` (that recipe
trained for longer by ``scripts/train_infogan.py``, shipped with a SHA-256). It reuses ganlib's networks,
losses, :class:`~ganlib.core.run.Run` and checkpoints; it does not hold another GAN loss.

The generator's input ``z`` (``latent_dim`` numbers, all drawn N(0, 1), as for every ganlib
generator) is read as three parts: the incompressible noise (the first ``noise_dim`` numbers), a
categorical code ``c_cat = argmax`` of the next ``num_categories`` numbers (uniform over the
categories, by symmetry) and continuous codes ``c_cont = erf(g / sqrt 2) = 2 Phi(g) - 1`` of the last
``num_continuous`` numbers (uniform on [-1, 1]). So ``ganlib.sample``, the fixed snapshot noise,
checkpoints and ``python -m ganlib sample`` need no special case, and :func:`make_latent` builds the
``z`` of chosen codes. G itself sees ``[noise, one_hot(c_cat), c_cont]``.

Q(c | x) is a categorical distribution (logits) for ``c_cat`` and a factored Gaussian with *fixed
unit variance* for ``c_cont`` (its mean is predicted), as in the authors' MNIST code
(``Uniform(1, fix_std=True)`` in openai/InfoGAN); L_I is then the cross-entropy plus half the
squared error (plus a constant). lambda = 1 for both parts by default: the paper sets lambda = 1
for discrete codes and says a smaller lambda is "typically used" for continuous ones without
giving a value for MNIST; the authors' MNIST launcher uses ``info_reg_coeff=1.0`` for all codes.
(0.1 for continuous codes comes from later re-implementations, not from the paper.)
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..core.config import TrainConfig, with_changes
from ..core.engine import Steps
from ..core.losses import GANLoss, get_loss
from ..core.models import MNIST_SHAPE
from ..core.run import Run, check_data
from ..core.steps import frozen
from ..core.utils import GanlibError
from .infogan_nets import (NOISE_DIM, NUM_CATEGORIES, NUM_CONTINUOUS, InfoGANDiscriminator, InfoGANGenerator,
                           build_infogan, is_infogan, make_latent, model_spec, sample_codes)

__all__ = ["InfoGANGenerator", "InfoGANDiscriminator", "sample_codes", "make_latent", "info_loss",
           "InfoGAN", "infogan_d_step", "infogan_g_step",
           "recipe", "is_infogan", "build_infogan", "model_spec", "load_pretrained",
           "pretrained_info", "PRETRAINED_PATH", "PRETRAINED_SHA256",
           "NOISE_DIM", "NUM_CATEGORIES", "NUM_CONTINUOUS", "INFO_HISTORY_KEYS"]

LAMBDA_CAT = 1.0      # the paper's lambda for discrete codes
LAMBDA_CONT = 1.0     # the authors' MNIST code (info_reg_coeff = 1.0, unit-variance Gaussian Q)

INFO_HISTORY_KEYS = ("info_loss", "mi_cat")
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
#: The generator trained by scripts/train_infogan.py (its record is the .json beside it).
PRETRAINED_PATH = Path(__file__).parents[1] / "assets" / "infogan_generator.pt"
PRETRAINED_SHA256 = "54c47267fe649b11bf3f7f1e744bb3d49e482f242482a3d7f6318f684fe9c011"
RETRAIN = "python scripts/train_infogan.py"  # how to rebuild the pretrained generator from the repository


def info_loss(cat_logits: torch.Tensor, cont_mean: torch.Tensor, c_cat: torch.Tensor, c_cont: torch.Tensor, *,
              lambda_cat: float = LAMBDA_CAT, lambda_cont: float = LAMBDA_CONT) -> torch.Tensor:
    """The InfoGAN term ``-lambda L_I``: Q's negative log-likelihood of the codes that made the fakes.

    ``lambda_cat * CE(cat_logits, c_cat) + lambda_cont * mean_b sum_j [(c_j - mu_j)^2 / 2 + log(2 pi) / 2]``
    (a unit-variance Gaussian Q for the continuous codes). L_I = H(c) - this (unweighted), a lower
    bound on the mutual information I(c; G(z, c)); both G and Q minimize it.

    Parameters
    ----------
    cat_logits : torch.Tensor
        ``(B, K)`` Q's logits for the categorical code.
    cont_mean : torch.Tensor
        ``(B, C)`` Q's means for the continuous codes.
    c_cat, c_cont : torch.Tensor
        ``(B,)`` and ``(B, C)``: the codes the fakes were made with.
    lambda_cat, lambda_cont : float
        Weights of the two parts (non-negative).

    Returns
    -------
    torch.Tensor
        A 0-d tensor.
    """
    for name, lam in (("lambda_cat", lambda_cat), ("lambda_cont", lambda_cont)):
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
            raise GanlibError(f"{name} must be a non-negative finite number, got {lam!r}")
    if cat_logits.dim() != 2 or c_cat.shape != (len(cat_logits),):
        raise GanlibError(f"cat_logits (B, K) and c_cat (B,) do not fit: {tuple(cat_logits.shape)}, "
                          f"{tuple(c_cat.shape)}")
    if cont_mean.shape != c_cont.shape or len(cont_mean) != len(cat_logits):
        raise GanlibError(f"cont_mean and c_cont must have the same shape (B, C), got {tuple(cont_mean.shape)}, "
                          f"{tuple(c_cont.shape)}")
    cat = F.cross_entropy(cat_logits, c_cat)
    cont = (0.5 * (c_cont - cont_mean).pow(2) + HALF_LOG_2PI).sum(dim=1).mean()
    return lambda_cat * cat + lambda_cont * cont


def _fake_terms(generator: InfoGANGenerator, discriminator: InfoGANDiscriminator, z: torch.Tensor,
                lambda_cat: float, lambda_cont: float, detach: bool):
    """D's logits on G(z), the weighted L_I term and the categorical MI bound, for the codes read from z."""
    _, c_cat, c_cont = generator.split(z)
    with torch.no_grad() if detach else contextlib.nullcontext():  # D's step: no graph through G
        x_fake = generator(z)
    logit, cat_logits, cont_mean = discriminator.discriminate(x_fake)
    info = info_loss(cat_logits, cont_mean, c_cat, c_cont, lambda_cat=lambda_cat, lambda_cont=lambda_cont)
    mi_cat = math.log(generator.num_categories) - F.cross_entropy(cat_logits.detach(), c_cat)
    return logit, info, mi_cat


def infogan_d_step(generator: InfoGANGenerator, discriminator: InfoGANDiscriminator, opt_d: torch.optim.Optimizer,
                   x_real: torch.Tensor, z: torch.Tensor, loss: GANLoss, *, lambda_cat: float = LAMBDA_CAT,
                   lambda_cont: float = LAMBDA_CONT) -> dict[str, torch.Tensor]:
    """One update of D and Q together: ``loss.d(D(x), D(G(z))) + info_loss(Q(G(z)), c)``, G's fakes detached.

    The shared body gets gradients from both terms, the D head from the GAN loss only, the Q head
    from L_I only. G is not updated.

    Parameters
    ----------
    generator : InfoGANGenerator
    discriminator : InfoGANDiscriminator
    opt_d : torch.optim.Optimizer
        Holds all of the discriminator's parameters (body, D head, Q head).
    x_real : torch.Tensor
        ``(B, 1, 28, 28)``.
    z : torch.Tensor
        ``(B, generator.latent_dim)``; the codes are read from it.
    loss : GANLoss
    lambda_cat, lambda_cont : float

    Returns
    -------
    dict of 0-d tensors
        ``d_loss`` (the GAN part), ``d_real``, ``d_fake``, ``info_loss``, ``mi_cat``.
    """
    d_real = discriminator(x_real)
    d_fake, info, mi_cat = _fake_terms(generator, discriminator, z, lambda_cat, lambda_cont, detach=True)
    d_loss = loss.d(d_real, d_fake)
    opt_d.zero_grad(set_to_none=True)
    (d_loss + info).backward()
    opt_d.step()
    return {"d_loss": d_loss.detach(), "d_real": torch.sigmoid(d_real.detach()).mean(),
            "d_fake": torch.sigmoid(d_fake.detach()).mean(), "info_loss": info.detach(), "mi_cat": mi_cat}


def infogan_g_step(generator: InfoGANGenerator, discriminator: InfoGANDiscriminator, opt_g: torch.optim.Optimizer,
                   z: torch.Tensor, loss: GANLoss, *, lambda_cat: float = LAMBDA_CAT,
                   lambda_cont: float = LAMBDA_CONT) -> dict[str, torch.Tensor]:
    """One update of G: ``loss.g(D(G(z))) + info_loss(Q(G(z)), c)`` with D and Q frozen.

    No parameter of ``discriminator`` changes, Q's included: Q learns in :func:`infogan_d_step`.

    Parameters
    ----------
    generator : InfoGANGenerator
    discriminator : InfoGANDiscriminator
    opt_g : torch.optim.Optimizer
    z : torch.Tensor
        ``(B, generator.latent_dim)``.
    loss : GANLoss
    lambda_cat, lambda_cont : float

    Returns
    -------
    dict of 0-d tensors
        ``g_loss`` (the GAN part) and ``info_loss``.
    """
    with frozen(discriminator):
        d_fake, info, _ = _fake_terms(generator, discriminator, z, lambda_cat, lambda_cont, detach=False)
        g_loss = loss.g(d_fake)
        opt_g.zero_grad(set_to_none=True)
        (g_loss + info).backward()
        opt_g.step()
    return {"g_loss": g_loss.detach(), "info_loss": info.detach()}


@dataclass(frozen=True)
class InfoGAN:
    """The InfoGAN variant of :func:`ganlib.train`: ``ganlib.train(G, D, data, config, variant=InfoGAN())``.

    Each step: ``config.d_steps`` updates of D *and Q* (the shared body, both heads) on
    ``loss.d(D(x), D(G(z))) + info_loss(Q(G(z)), c)`` with G's fakes detached (:func:`infogan_d_step`);
    then one update of G on ``loss.g(D(G(z))) + info_loss(Q(G(z)), c)`` with D and Q frozen
    (:func:`infogan_g_step`; the L_I term is in both players' losses, as in the authors' code). The
    history has the keys of the plain GAN plus ``INFO_HISTORY_KEYS``: ``info_loss`` (the
    lambda-weighted term, from the D steps) and ``mi_cat`` (log K minus Q's cross-entropy on the
    categorical code: a lower bound, in nats, on I(c_cat; G(z)), at most log K). The run gets the
    ``model_spec`` that checkpoints rebuild the pair from.

    Parameters
    ----------
    lambda_cat, lambda_cont : float
        Weights of L_I's categorical and continuous parts.
    """

    lambda_cat: float = LAMBDA_CAT
    lambda_cont: float = LAMBDA_CONT

    name = "infogan"
    unsupported = frozenset({"unroll_steps", "reuse_fakes", "compile", "bf16", "penalty", "relativistic",
                             "distributed"})

    def __post_init__(self):
        info_loss(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, dtype=torch.long), torch.zeros(1, 1),
                  lambda_cat=self.lambda_cat, lambda_cont=self.lambda_cont)  # checks the lambdas

    def steps(self, run: Run, data, labels) -> Steps:
        generator, discriminator = run.generator, run.discriminator
        _check_pair(generator, discriminator)
        if labels is not None:
            raise GanlibError("InfoGAN learns its own categories: it takes no labels=")
        if run.model_spec is None:
            run.model_spec = model_spec(generator, discriminator)
        config, device = run.config, run.device
        data = check_data(data, generator, config.batch_size).to(device)
        loss, batch = get_loss(config.loss), config.batch_size
        lambdas = {"lambda_cat": self.lambda_cat, "lambda_cont": self.lambda_cont}

        def update_d(j: int) -> dict:
            idx = torch.randint(0, len(data), (batch,), generator=run.rng, device=device)
            z = torch.randn(batch, generator.latent_dim, generator=run.rng, device=device)
            return infogan_d_step(generator, discriminator, run.opt_d, data[idx], z, loss, **lambdas)

        def update_g(d_out: dict) -> dict:
            z = torch.randn(batch, generator.latent_dim, generator=run.rng, device=device)
            return {"g_loss": infogan_g_step(generator, discriminator, run.opt_g, z, loss, **lambdas)["g_loss"]}

        return Steps(update_d, update_g, ("d_loss", "g_loss", "d_real", "d_fake") + INFO_HISTORY_KEYS)


def _check_pair(generator, discriminator) -> None:
    if not isinstance(generator, InfoGANGenerator) or not isinstance(discriminator, InfoGANDiscriminator):
        raise GanlibError("the InfoGAN variant needs an InfoGANGenerator and an InfoGANDiscriminator "
                          "(build_models('infogan'))")
    if (generator.num_categories, generator.num_continuous) != (discriminator.num_categories,
                                                                discriminator.num_continuous):
        raise GanlibError("the generator's and the discriminator's code sizes differ")


def pretrained_info() -> dict:
    """The record written beside the pretrained generator: its model spec, config, measurements, SHA-256."""
    path = PRETRAINED_PATH.with_suffix(".json")
    if not path.is_file():
        raise GanlibError(f"the pretrained InfoGAN record {path} is missing; regenerate it with {RETRAIN}")
    return json.loads(path.read_text())


def load_pretrained(device: torch.device | str = "cpu") -> InfoGANGenerator:
    """The InfoGAN generator trained by ``scripts/train_infogan.py``, checked against its SHA-256.

    Chapter 6 shows it beside its own short live run: the categorical code needs thousands of steps to
    align with the digits, more than a chapter may spend on a CPU. :func:`pretrained_info` says how it
    was trained and what :func:`ganlib.eval.codes.code_purity` measured when it was written.

    Parameters
    ----------
    device : torch.device or str

    Returns
    -------
    InfoGANGenerator
        In eval mode, gradients off.
    """
    from ..core.checkpoint import load_checked_state

    state = load_checked_state(PRETRAINED_PATH, PRETRAINED_SHA256, what="pretrained InfoGAN weights", retrain=RETRAIN)
    generator, _ = build_infogan(**{k: v for k, v in pretrained_info()["model"].items() if k != "name"})
    generator.load_state_dict(state)
    return generator.to(device).eval().requires_grad_(False)


def recipe(dataset: str = "mnist", **config_changes):
    """The CPU recipe for InfoGAN on the 5 000 offline digits: a :class:`ganlib.recipes.Recipe`.

    Parameters
    ----------
    dataset : {"mnist"}
    **config_changes
        Fields of :class:`~ganlib.TrainConfig` to change.
    """
    from ..core.recipes import Recipe

    if dataset != "mnist":
        raise GanlibError(f"InfoGAN is only set up for mnist, not {dataset!r}")
    # The authors' learning rates (G 1e-3, D and Q 2e-4, openai/InfoGAN's MNIST launcher) with ganlib's CPU-sized
    # DCGAN (width 32) and batch 64: small enough for a CPU. What it reaches is measured by scripts/train_infogan.py
    # (its record ships beside the pretrained generator) and by chapter 6.
    config = TrainConfig(num_steps=2500, batch_size=64, lr_g=1e-3, lr_d=2e-4, loss="ns", log_every=50)
    return Recipe({"name": "infogan", "data_shape": MNIST_SHAPE, "latent_dim": NOISE_DIM, "width": 32},
                  with_changes(config, **config_changes))

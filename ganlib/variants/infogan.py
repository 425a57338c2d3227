"""InfoGAN (Chen et al., 2016): a GAN whose generator input holds latent codes it must keep readable.

Holds: :class:`InfoGANGenerator`, :class:`InfoGANDiscriminator` (D and the auxiliary network Q on
one shared body), :func:`sample_codes`, :func:`make_latent`, :func:`info_loss` (the variational
mutual-information term L_I), :func:`infogan_d_step` / :func:`infogan_g_step` and :class:`InfoGAN` (the variant
:func:`ganlib.train` takes), :func:`code_grid`, :func:`code_class_shares` / :func:`code_purity` /
:func:`matched_accuracy` (does the categorical code pick the digit?), :func:`stroke_moments` /
:func:`continuous_code_effect` (does a continuous code set a style?), :func:`recipe` (the CPU settings
the CLI uses for ``--model infogan``) and :func:`load_pretrained` / :func:`pretrained_info` (that recipe
trained for longer by ``scripts/train_infogan.py``, shipped with a SHA-256). It reuses ganlib's networks,
losses, :class:`~ganlib.train.Run` and checkpoints; it does not hold another GAN loss.

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
import dataclasses
from dataclasses import dataclass
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.losses import GANLoss, get_loss
from ..core.models import LEAKY_SLOPE, MNIST_SHAPE, DCGANDiscriminator, DCGANGenerator, _check_data, _check_latent
from ..core.engine import Steps
from ..core.run import Run, check_data, sample
from ..core.config import TrainConfig
from ..core.steps import frozen
from ..core.zoo import register_models
from ..core.utils import GanlibError, rng as seeded

__all__ = ["InfoGANGenerator", "InfoGANDiscriminator", "sample_codes", "make_latent", "info_loss",
           "InfoGAN", "infogan_d_step", "infogan_g_step", "code_grid", "code_class_shares", "code_purity",
           "matched_accuracy", "recipe", "is_infogan", "build_infogan", "model_spec", "load_pretrained",
           "pretrained_info", "stroke_moments", "continuous_code_effect", "PRETRAINED_PATH", "PRETRAINED_SHA256",
           "NOISE_DIM", "NUM_CATEGORIES", "NUM_CONTINUOUS", "INFO_HISTORY_KEYS"]

NOISE_DIM = 62        # incompressible noise of the paper's MNIST model
NUM_CATEGORIES = 10   # one 10-way categorical code
NUM_CONTINUOUS = 2    # two continuous codes, uniform on [-1, 1]
LAMBDA_CAT = 1.0      # the paper's lambda for discrete codes
LAMBDA_CONT = 1.0     # the authors' MNIST code (info_reg_coeff = 1.0, unit-variance Gaussian Q)
Q_HIDDEN = 128        # Q's own layer: FC 128, BatchNorm, LeakyReLU (the paper's Table 1 for MNIST)
#: History keys that train_infogan adds to the usual ones (info_loss is the lambda-weighted L_I term).
INFO_HISTORY_KEYS = ("info_loss", "mi_cat")
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
#: The generator trained by scripts/train_infogan.py (its record is the .json beside it).
PRETRAINED_PATH = Path(__file__).parents[1] / "assets" / "infogan_generator.pt"
PRETRAINED_SHA256 = "54c47267fe649b11bf3f7f1e744bb3d49e482f242482a3d7f6318f684fe9c011"
RETRAIN = "python scripts/train_infogan.py"  # how to rebuild the pretrained generator from the repository


def is_infogan(generator: nn.Module) -> bool:
    """True for an :class:`InfoGANGenerator` (its input holds latent codes)."""
    return isinstance(generator, InfoGANGenerator)


class InfoGANGenerator(DCGANGenerator):
    """DCGAN generator fed with noise and latent codes: ``G(z)`` reads ``z`` as noise plus codes.

    Parameters
    ----------
    noise_dim : int
        Size of the incompressible noise (62 in the paper).
    num_categories : int
        Categories of the categorical code (10).
    num_continuous : int
        Number of continuous codes (2), each uniform on [-1, 1].
    width : int
        As in :class:`~ganlib.models.DCGANGenerator`.

    Notes
    -----
    ``latent_dim`` is ``noise_dim + num_categories + num_continuous``: the size of the N(0, 1) vector
    ``z`` the generator takes (see the module's description for how the codes are read from it).
    """

    def __init__(self, *, noise_dim: int = NOISE_DIM, num_categories: int = NUM_CATEGORIES,
                 num_continuous: int = NUM_CONTINUOUS, width: int = 64):
        _check_code_sizes(noise_dim, num_categories, num_continuous)
        super().__init__(latent_dim=noise_dim + num_categories + num_continuous, width=width)
        self.noise_dim, self.num_categories, self.num_continuous = noise_dim, num_categories, num_continuous

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(noise, c_cat, c_cont)`` read from ``z``: ``(B, noise_dim)``, ``(B,)`` int64, ``(B, num_continuous)``."""
        _check_latent(z, self.latent_dim)
        n, k = self.noise_dim, self.num_categories
        return z[:, :n], z[:, n:n + k].argmax(dim=1), torch.erf(z[:, n + k:] / math.sqrt(2))

    def generate(self, noise: torch.Tensor, c_cat: torch.Tensor, c_cont: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 1, 28, 28)`` for given noise and codes (continuous codes may leave [-1, 1])."""
        _check_latent(noise, self.noise_dim)
        c_cat = _check_categories(c_cat, self.num_categories, len(noise))
        if c_cont.shape != (len(noise), self.num_continuous):
            raise GanlibError(f"c_cont must have shape ({len(noise)}, {self.num_continuous}), "
                              f"got {tuple(c_cont.shape)}")
        h = torch.cat([noise, F.one_hot(c_cat, self.num_categories).to(noise.dtype), c_cont.to(noise.dtype)], dim=1)
        return self.upsample(self.project(h).view(-1, 2 * self.width, 7, 7))  # (B, 1, 28, 28)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generate(*self.split(z))


class InfoGANDiscriminator(DCGANDiscriminator):
    """DCGAN discriminator with a second head Q(c | x) on the same body (the paper's D/Q sharing).

    ``forward(x)`` is the real/fake logit ``(B,)``, so the usual losses and :func:`ganlib.d_step`
    apply; :meth:`discriminate` also returns Q's outputs.

    Parameters
    ----------
    width : int
        As in :class:`~ganlib.models.DCGANDiscriminator`.
    num_categories, num_continuous : int
        Sizes of the codes Q predicts.
    q_hidden : int
        Width of Q's own hidden layer.

    Notes
    -----
    The body is ganlib's DCGAN discriminator (two strided convolutions, BatchNorm after the second);
    the paper's MNIST network (its Table 1) adds a shared 1024-unit layer, left out here to fit a CPU.
    Q's head is FC ``q_hidden`` - BatchNorm - LeakyReLU - FC, as in the paper, with PyTorch's default
    initialization.
    """

    def __init__(self, *, width: int = 64, num_categories: int = NUM_CATEGORIES,
                 num_continuous: int = NUM_CONTINUOUS, q_hidden: int = Q_HIDDEN):
        _check_code_sizes(1, num_categories, num_continuous)
        super().__init__(width=width)
        self.num_categories, self.num_continuous = num_categories, num_continuous
        self.q = nn.Sequential(nn.Linear(self.net[-1].in_features, q_hidden, bias=False), nn.BatchNorm1d(q_hidden),
                               nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(q_hidden, num_categories + num_continuous))

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logit (B,), cat_logits (B, num_categories), cont_mean (B, num_continuous))`` in one body pass."""
        _check_data(x, self.data_shape)
        h = self.net[:-1](x)                                      # (B, 2w * 49) shared features
        q = self.q(h)                                             # (B, K + C)
        return self.net[-1](h).squeeze(1), q[:, :self.num_categories], q[:, self.num_categories:]


def sample_codes(n: int, *, num_categories: int = NUM_CATEGORIES, num_continuous: int = NUM_CONTINUOUS,
                 generator: torch.Generator | None = None,
                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` codes from the prior: ``c_cat`` uniform over the categories, ``c_cont`` uniform on [-1, 1].

    Parameters
    ----------
    n : int
    num_categories, num_continuous : int
    generator : torch.Generator, optional
        Random stream.
    device : torch.device or str, optional

    Returns
    -------
    c_cat : torch.Tensor
        ``(n,)`` int64.
    c_cont : torch.Tensor
        ``(n, num_continuous)`` float32.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GanlibError(f"n must be a positive integer, got {n!r}")
    _check_code_sizes(1, num_categories, num_continuous)
    c_cat = torch.randint(0, num_categories, (n,), generator=generator, device=device)
    c_cont = torch.rand(n, num_continuous, generator=generator, device=device) * 2 - 1
    return c_cat, c_cont


def make_latent(noise: torch.Tensor, c_cat: torch.Tensor, c_cont: torch.Tensor, num_categories: int) -> torch.Tensor:
    """The input ``z`` for which :meth:`InfoGANGenerator.split` gives back these noise and codes.

    Parameters
    ----------
    noise : torch.Tensor
        ``(B, noise_dim)``.
    c_cat : torch.Tensor
        ``(B,)`` integer categories.
    c_cont : torch.Tensor
        ``(B, num_continuous)`` in [-1, 1] (use :meth:`InfoGANGenerator.generate` to go beyond).
    num_categories : int

    Returns
    -------
    torch.Tensor
        ``(B, noise_dim + num_categories + num_continuous)``; continuous codes of exactly -1 or 1 give
        infinite entries, which G reads back as -1 and 1.
    """
    if noise.dim() != 2:
        raise GanlibError(f"noise must have shape (B, noise_dim), got {tuple(noise.shape)}")
    c_cat = _check_categories(c_cat, num_categories, len(noise))
    if c_cont.dim() != 2 or len(c_cont) != len(noise):
        raise GanlibError(f"c_cont must have shape ({len(noise)}, num_continuous), got {tuple(c_cont.shape)}")
    if not torch.isfinite(c_cont).all() or c_cont.abs().max() > 1:
        raise GanlibError("continuous codes must lie in [-1, 1] to be written into z")
    return torch.cat([noise, F.one_hot(c_cat, num_categories).to(noise.dtype),
                      math.sqrt(2) * torch.erfinv(c_cont.to(noise.dtype))], dim=1)


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
    history has the keys of the plain GAN plus :data:`INFO_HISTORY_KEYS`: ``info_loss`` (the
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


def model_spec(generator: InfoGANGenerator, discriminator: InfoGANDiscriminator) -> dict:
    """The spec :func:`ganlib.build_models` rebuilds this pair from (for checkpoints)."""
    return {"name": "infogan", "data_shape": MNIST_SHAPE, "latent_dim": generator.noise_dim,
            "num_categories": generator.num_categories, "num_continuous": generator.num_continuous,
            "g_width": generator.width, "d_width": discriminator.net[0].out_channels,
            "q_hidden": discriminator.q[0].out_features}


def build_infogan(*, data_shape=MNIST_SHAPE, latent_dim: int = NOISE_DIM, width: int = 64, g_width: int | None = None,
                  d_width: int | None = None, num_categories: int = NUM_CATEGORIES,
                  num_continuous: int = NUM_CONTINUOUS,
                  q_hidden: int = Q_HIDDEN) -> tuple[InfoGANGenerator, InfoGANDiscriminator]:
    """The InfoGAN pair (``build_models("infogan", ...)``); ``latent_dim`` is the noise size, without the codes."""
    if tuple(int(s) for s in data_shape) != MNIST_SHAPE:
        raise GanlibError(f"the InfoGAN models are for 28x28 images {MNIST_SHAPE}, not {tuple(data_shape)}")
    g_width, d_width = int(g_width or width), int(d_width or width)
    return (InfoGANGenerator(noise_dim=int(latent_dim), num_categories=int(num_categories),
                             num_continuous=int(num_continuous), width=g_width),
            InfoGANDiscriminator(width=d_width, num_categories=int(num_categories),
                                 num_continuous=int(num_continuous), q_hidden=int(q_hidden)))


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
    was trained and what :func:`code_purity` measured when it was written.

    Parameters
    ----------
    device : torch.device or str

    Returns
    -------
    InfoGANGenerator
        In eval mode, gradients off.
    """
    from ..eval.metrics import load_checked_state

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
    # DCGAN (width 32) and batch 64. Measured (seeds 0, 1, 2; code_purity with 100 samples per value): at step 2 500
    # purity 0.55 / 0.45 / 0.44 and matched accuracy 0.50 / 0.37 / 0.36 (8 to 11 minutes each on a busy 2-core CPU),
    # still rising slowly; seed 0 had 0.36 at step 1 000 and 0.47 at 2 000. With D at 1e-3: 0.34 at step 2 000.
    config = TrainConfig(num_steps=2500, batch_size=64, lr_g=1e-3, lr_d=2e-4, loss="ns", log_every=50)
    return Recipe({"name": "infogan", "data_shape": MNIST_SHAPE, "latent_dim": NOISE_DIM, "width": 32},
                  dataclasses.replace(config, **config_changes))


@torch.no_grad()
def code_grid(generator: InfoGANGenerator, *, continuous_index: int | None = 0, num_columns: int = 10,
              span: tuple[float, float] = (-1.0, 1.0), seed: int = 0) -> torch.Tensor:
    """Images with one code varied and the rest fixed: row i has ``c_cat = i``.

    Parameters
    ----------
    generator : InfoGANGenerator
    continuous_index : int or None
        The continuous code swept along the columns from ``span[0]`` to ``span[1]`` (the other
        continuous codes 0, one noise vector for the whole grid); ``None``: the columns have
        different noise vectors and all continuous codes 0 (the paper's Figure 2a).
    num_columns : int
    span : tuple of float
        The sweep's ends; the paper also shows -2 to 2, beyond the prior.
    seed : int
        Seed of the noise.

    Returns
    -------
    torch.Tensor
        ``(num_categories * num_columns, 1, 28, 28)`` on the CPU, row by row (for ``ganlib.viz.show_images``
        with ``nrow=num_columns``).
    """
    if not is_infogan(generator):
        raise GanlibError("code_grid needs an InfoGANGenerator")
    if isinstance(num_columns, bool) or not isinstance(num_columns, int) or num_columns < 1:
        raise GanlibError(f"num_columns must be a positive integer, got {num_columns!r}")
    if continuous_index is not None and not 0 <= continuous_index < generator.num_continuous:
        raise GanlibError(f"continuous_index must be None or in [0, {generator.num_continuous}), got "
                          f"{continuous_index!r}")
    k, c = generator.num_categories, generator.num_continuous
    rng = seeded(seed)
    c_cat = torch.arange(k).repeat_interleave(num_columns)                 # (k * cols,) row by row
    c_cont = torch.zeros(k * num_columns, c)
    if continuous_index is None:
        noise = torch.randn(num_columns, generator.noise_dim, generator=rng).repeat(k, 1)
    else:
        noise = torch.randn(1, generator.noise_dim, generator=rng).expand(k * num_columns, -1)
        c_cont[:, continuous_index] = torch.linspace(float(span[0]), float(span[1]), num_columns).repeat(k)
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        return generator.generate(noise.to(device), c_cat.to(device), c_cont.to(device)).float().cpu()
    finally:
        generator.train(was_training)


def code_class_shares(generator: InfoGANGenerator, *, n_per_category: int = 200, seed: int = 0) -> np.ndarray:
    """For each categorical value, the share of its samples the bundled classifier puts in each digit class.

    Parameters
    ----------
    generator : InfoGANGenerator
    n_per_category : int
        Samples per categorical value (random noise and continuous codes).
    seed : int

    Returns
    -------
    np.ndarray
        ``(num_categories, 10)``; each row sums to 1.
    """
    from ..eval.metrics import mnist_features

    if not is_infogan(generator):
        raise GanlibError("code_class_shares needs an InfoGANGenerator")
    if isinstance(n_per_category, bool) or not isinstance(n_per_category, int) or n_per_category < 1:
        raise GanlibError(f"n_per_category must be a positive integer, got {n_per_category!r}")
    k = generator.num_categories
    rng = seeded(seed)
    noise = torch.randn(k * n_per_category, generator.noise_dim, generator=rng)
    c_cat = torch.arange(k).repeat_interleave(n_per_category)
    _, c_cont = sample_codes(k * n_per_category, num_categories=k, num_continuous=generator.num_continuous,
                             generator=rng)
    images = sample(generator, len(noise), z=make_latent(noise, c_cat, c_cont, k))
    _, probs = mnist_features(images)
    predicted = probs.argmax(axis=1).reshape(k, n_per_category)
    return np.stack([np.bincount(row, minlength=10) / n_per_category for row in predicted])


def code_purity(generator: InfoGANGenerator, *, n_per_category: int = 200, seed: int = 0) -> dict[str, float]:
    """How well the categorical code picks the digit: the mean share of each value's most common class.

    Parameters
    ----------
    generator : InfoGANGenerator
    n_per_category : int
    seed : int

    Returns
    -------
    dict of str to float
        ``purity`` (mean over the categorical values of their majority class's share; 1 = each value
        always gives one digit, but also when all values give the same digit), ``min_purity``,
        ``distinct_classes`` (how many different digits are some value's majority class; 10 = the code
        is a permutation of the digits) and ``matched_accuracy`` (:func:`matched_accuracy`: 1 only
        when each value gives its own digit).
    """
    shares = code_class_shares(generator, n_per_category=n_per_category, seed=seed)
    return {"purity": float(shares.max(axis=1).mean()), "min_purity": float(shares.max(axis=1).min()),
            "distinct_classes": float(len(set(shares.argmax(axis=1).tolist()))),
            "matched_accuracy": matched_accuracy(shares)}


def stroke_moments(images) -> dict[str, np.ndarray]:
    """Three style measures of each digit from its ink's image moments.

    Ink is the pixel value mapped from [-1, 1] to [0, 1]. ``slant`` is the shear
    ``mu11 / mu02`` of the ink's second moments (x to the right, y downwards: a digit leaning
    right, like ``/``, has a negative slant), ``width`` the standard deviation of the ink's x
    coordinate in pixels, ``ink`` the total ink (stroke thickness times length).

    Parameters
    ----------
    images : torch.Tensor
        ``(N, 1, 28, 28)`` in [-1, 1].

    Returns
    -------
    dict of str to np.ndarray
        ``slant``, ``width``, ``ink``: each ``(N,)``.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or tuple(images.shape[1:]) != MNIST_SHAPE:
        raise GanlibError(f"images must be a tensor of shape (N, 1, 28, 28), got {getattr(images, 'shape', images)!r}")
    ink = ((images[:, 0].detach().double().cpu() + 1) / 2).clamp(min=0)             # (N, 28, 28)
    ys, xs = torch.meshgrid(torch.arange(28.0, dtype=torch.float64), torch.arange(28.0, dtype=torch.float64),
                            indexing="ij")
    mass = ink.sum((1, 2)).clamp(min=1e-8)
    dx = xs - ((ink * xs).sum((1, 2)) / mass)[:, None, None]
    dy = ys - ((ink * ys).sum((1, 2)) / mass)[:, None, None]
    mu11, mu02, mu20 = ((ink * a * b).sum((1, 2)) / mass for a, b in ((dx, dy), (dy, dy), (dx, dx)))
    return {"slant": (mu11 / mu02.clamp(min=1e-8)).numpy(), "width": mu20.sqrt().numpy(), "ink": mass.numpy()}


def continuous_code_effect(generator: InfoGANGenerator, index: int, *, n: int = 200, num_values: int = 9,
                           seed: int = 0) -> dict[str, dict[str, float]]:
    """What one continuous code does to the digits' style (:func:`stroke_moments`), measured.

    ``n`` random noise vectors and categorical values, each drawn with code ``index`` swept over
    ``num_values`` points from -0.95 to 0.95 (the other continuous codes 0). Per style measure:
    ``rank_corr``, the mean over the ``n`` sweeps of the Spearman correlation between the code and
    the measure (+1 or -1: every sweep moves the measure monotonically one way, 0: no relation);
    and ``change``, the mean change of the measure from one end of the sweep to the other, in
    standard deviations of the measure over the 5 000 real digits (how big the effect is).

    Parameters
    ----------
    generator : InfoGANGenerator
    index : int
        Which continuous code.
    n, num_values : int
    seed : int

    Returns
    -------
    dict
        ``{"slant": {"rank_corr": r, "change": d}, "width": {...}, "ink": {...}}``.
    """
    from ..core.data import load_mnist

    if not is_infogan(generator):
        raise GanlibError("continuous_code_effect needs an InfoGANGenerator")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < generator.num_continuous:
        raise GanlibError(f"index must be an integer in [0, {generator.num_continuous}), got {index!r}")
    for name, value, low in (("n", n, 2), ("num_values", num_values, 3)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise GanlibError(f"{name} must be an integer >= {low}, got {value!r}")
    rng = seeded(seed)
    noise = torch.randn(n, generator.noise_dim, generator=rng).repeat_interleave(num_values, 0)
    c_cat = torch.randint(0, generator.num_categories, (n,), generator=rng).repeat_interleave(num_values)
    c_cont = torch.zeros(n * num_values, generator.num_continuous)
    c_cont[:, index] = torch.linspace(-0.95, 0.95, num_values).repeat(n)
    style = stroke_moments(sample(generator, len(noise), z=make_latent(noise, c_cat, c_cont, generator.num_categories)))
    real = stroke_moments(load_mnist()[0])
    sweep_ranks = np.arange(num_values) - (num_values - 1) / 2
    out = {}
    for key, values in style.items():
        values = values.reshape(n, num_values)
        above, tied = (values[:, :, None] > values[:, None, :]), (values[:, :, None] == values[:, None, :])
        ranks = above.sum(axis=2) + 0.5 * (tied.sum(axis=2) - 1) - (num_values - 1) / 2  # ties share their mean rank
        spread = np.sqrt((ranks ** 2).sum(axis=1) * (sweep_ranks ** 2).sum())
        corr = np.divide((ranks * sweep_ranks).sum(axis=1), spread, out=np.zeros(n), where=spread > 0)  # constant: 0
        out[key] = {"rank_corr": float(corr.mean()),
                    "change": float((values[:, -1] - values[:, 0]).mean() / real[key].std())}
    return out


def matched_accuracy(shares: np.ndarray) -> float:
    """Accuracy of the categorical code as a digit classifier under the best one-to-one code-to-digit matching.

    The paper's measure (Chen et al., 2016, section 5: 5% error on MNIST). Unlike purity, a
    generator that draws one digit for every code scores at most 1/K.

    Parameters
    ----------
    shares : np.ndarray
        ``(K, C)`` rows of class shares, ``K <= C`` (from :func:`code_class_shares`).

    Returns
    -------
    float
        max over injective maps m of ``mean_k shares[k, m(k)]``.
    """
    shares = np.asarray(shares, dtype=float)
    k, c = shares.shape
    if k > c or c > 16:
        raise GanlibError(f"matched_accuracy needs at most as many codes as classes (<= 16), got {shares.shape}")
    best = {0: 0.0}  # best[mask]: the first popcount(mask) codes matched to the classes in mask
    for row in range(k):
        nxt: dict[int, float] = {}
        for mask, value in best.items():
            for col in range(c):
                if not mask >> col & 1:
                    key, total = mask | 1 << col, value + shares[row, col]
                    if total > nxt.get(key, -1.0):
                        nxt[key] = total
        best = nxt
    return float(max(best.values()) / k)


def _check_code_sizes(noise_dim, num_categories, num_continuous) -> None:
    for name, value, low in (("noise_dim", noise_dim, 1), ("num_categories", num_categories, 2),
                             ("num_continuous", num_continuous, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise GanlibError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_categories(c_cat: torch.Tensor, num_categories: int, n: int) -> torch.Tensor:
    if not isinstance(c_cat, torch.Tensor) or c_cat.dim() != 1 or c_cat.is_floating_point() or len(c_cat) != n:
        raise GanlibError(f"c_cat must be a 1-D integer tensor of {n} categories, got "
                          f"{getattr(c_cat, 'dtype', type(c_cat).__name__)} "
                          f"of shape {tuple(getattr(c_cat, 'shape', ()))}")
    if len(c_cat) and c_cat.device.type == "cpu" and (int(c_cat.min()) < 0 or int(c_cat.max()) >= num_categories):
        raise GanlibError(f"categories must lie in [0, {num_categories}), got [{int(c_cat.min())}, {int(c_cat.max())}]")
    return c_cat.long()


register_models("infogan", build_infogan, spectral=False)

"""A small variational autoencoder (VAE) for 28x28 digits, the GAN's classic rival (chapter 9).

Holds: :class:`VAE` (an MLP encoder q(z|x) and decoder p(x|z)), :func:`kl_to_standard_normal`,
:func:`elbo`, :func:`log_likelihood`, :func:`elbo_step`, :class:`VAEVariant` (trains with it through
:func:`ganlib.train`), :func:`sample` and :func:`reconstruct`.
It does not hold GAN code or metrics (:mod:`ganlib.eval.metrics` scores the VAE's samples like a GAN's).

The likelihood is **Bernoulli** on pixel intensities: an image ``x`` in [-1, 1] becomes
``(x + 1) / 2`` in [0, 1], and the decoder outputs one logit per pixel, so
``log p(x|z) = -BCE_with_logits(logits, (x + 1) / 2)`` summed over the 784 pixels, as
Kingma & Welling (2014) do on MNIST. For grey (not binarized) pixels this is the usual practice rather than
a normalized density, so ELBOs here compare with each other, not with binarized-MNIST papers.
Prior p(z) = N(0, I); q(z|x) = N(mean, diag(exp(log_var))); all quantities in nats per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import TrainConfig
from ..core.engine import Steps
from ..core.run import Run, run_without_noise
from ..core.utils import GanlibError, rng as seeded

__all__ = ["VAE", "kl_to_standard_normal", "elbo", "log_likelihood", "elbo_step", "VAEVariant", "sample",
           "reconstruct", "LOGGED"]

IMAGE_SHAPE = (1, 28, 28)  # the digits' shape; pixels in [-1, 1]
#: The values a VAE run logs (means per history row), besides the step and the seconds.
LOGGED = ("elbo", "reconstruction", "kl")


def _check_images(x, what: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise GanlibError(f"{what} must be a torch.Tensor of shape (N, 1, 28, 28), got {type(x).__name__}")
    if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE or len(x) == 0:
        raise GanlibError(f"{what} must have shape (N, 1, 28, 28) with N >= 1, got {tuple(x.shape)}")
    if not torch.isfinite(x).all() or x.min() < -1 or x.max() > 1:
        raise GanlibError(f"{what} must hold finite pixels in [-1, 1] (scale 0..255 by x / 127.5 - 1)")
    return x.float()


class VAE(nn.Module):
    """An MLP VAE: encoder x -> (mean, log_var) of q(z|x); decoder z -> pixel logits of p(x|z).

    Parameters
    ----------
    latent_dim : int
        Size of z.
    hidden : int
        Width of the one hidden layer of the encoder and of the decoder.
    """

    def __init__(self, *, latent_dim: int = 16, hidden: int = 512):
        super().__init__()
        if latent_dim < 1 or hidden < 1:
            raise GanlibError(f"latent_dim and hidden must be >= 1, got {latent_dim} and {hidden}")
        self.latent_dim = latent_dim
        n_pixels = math.prod(IMAGE_SHAPE)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(n_pixels, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * latent_dim))          # (B, 2 * latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, n_pixels), nn.Unflatten(1, IMAGE_SHAPE))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mean, log_var)`` of q(z|x), each ``(B, latent_dim)``, for images ``(B, 1, 28, 28)``."""
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return the Bernoulli logits of p(x|z), ``(B, 1, 28, 28)``."""
        return self.decoder(z)


def kl_to_standard_normal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Analytic KL(N(mean, diag(exp(log_var))) || N(0, I)) per row, in nats.

    Parameters
    ----------
    mean, log_var : torch.Tensor
        ``(B, latent_dim)``: the mean and log-variance of each row's diagonal Gaussian.

    Returns
    -------
    torch.Tensor
        ``(B,)``: ½ Σ_j (mean_j² + exp(log_var_j) − 1 − log_var_j).
    """
    return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(dim=1)


def _log_px_z(model: VAE, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli log p(x|z) of each image, ``(B,)``: minus the pixel-summed BCE against (x + 1) / 2."""
    return -F.binary_cross_entropy_with_logits(model.decode(z), (x + 1) / 2, reduction="none").sum((1, 2, 3))


def elbo(model: VAE, x: torch.Tensor, *, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per-image ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)), with one reparameterized sample of z.

    Parameters
    ----------
    model : VAE
    x : torch.Tensor
        ``(B, 1, 28, 28)`` in [-1, 1].
    generator : torch.Generator, optional
        Random stream for the noise of z = mean + std * eps (reproducible estimates).

    Returns
    -------
    dict of str to torch.Tensor
        ``elbo``, ``reconstruction`` (the log-likelihood term) and ``kl``, each ``(B,)`` in nats.
    """
    x = _check_images(x)
    mean, log_var = model.encode(x)
    eps = torch.randn(mean.shape, generator=generator, device=mean.device)
    z = mean + (0.5 * log_var).exp() * eps                   # reparameterization: gradients reach the encoder
    reconstruction = _log_px_z(model, z, x)
    kl = kl_to_standard_normal(mean, log_var)
    return {"elbo": reconstruction - kl, "reconstruction": reconstruction, "kl": kl}


@torch.no_grad()
def log_likelihood(model: VAE, x: torch.Tensor, *, num_samples: int = 64, seed: int = 0) -> torch.Tensor:
    """Importance-sampled estimate of log p(x) per image (the IWAE bound); >= the ELBO on average.

    log p(x) >= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x); the bound tightens as K grows.

    Parameters
    ----------
    model : VAE
    x : torch.Tensor
        ``(B, 1, 28, 28)`` in [-1, 1].
    num_samples : int
        K, the importance samples per image.
    seed : int
        Seed of the samples.

    Returns
    -------
    torch.Tensor
        ``(B,)`` in nats.
    """
    x = _check_images(x).to(next(model.parameters()).device)
    rng = seeded(seed, x.device)
    mean, log_var = model.encode(x)
    std = (0.5 * log_var).exp()
    terms = []
    for _ in range(num_samples):
        eps = torch.randn(mean.shape, generator=rng, device=x.device)
        z = mean + std * eps
        log_px_z = _log_px_z(model, z, x)
        log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(1)
        log_qz = -0.5 * (eps.pow(2) + math.log(2 * math.pi) + log_var).sum(1)
        terms.append(log_px_z + log_pz - log_qz)
    return torch.logsumexp(torch.stack(terms), dim=0) - math.log(num_samples)


def elbo_step(model: VAE, opt: torch.optim.Optimizer, x: torch.Tensor, *,
              generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """One Adam step up the mean ELBO of the minibatch ``x`` ``(B, 1, 28, 28)`` (down its negative).

    Returns the batch means of :func:`elbo`'s ``elbo``, ``reconstruction`` and ``kl`` (0-d, detached, nats
    per image); ``generator`` is the random stream of z's noise.
    """
    terms = elbo(model, x, generator=generator)
    loss = -terms["elbo"].mean()                          # ascend the ELBO = descend its negative
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {k: v.detach().mean() for k, v in terms.items()}


class VAEVariant:
    """The VAE for :func:`ganlib.train`: ``ganlib.train(model, None, data, config, variant=VAEVariant())``.

    There is no discriminator: each engine step is one :func:`elbo_step` on a minibatch of ``data``
    ``(N, 1, 28, 28)`` in [-1, 1] drawn from the run's random stream, which then draws z's noise. Adam
    uses ``config.lr_g`` and ``config.betas``; Kingma & Welling's Adam defaults are ``lr_g=1e-3,
    betas=(0.9, 0.999)``. The history logs :data:`LOGGED` (nats per image). It has no knobs of its own.
    """

    name = "vae"
    unsupported = frozenset({"unroll_steps", "reuse_fakes", "compile", "bf16", "penalty", "relativistic",
                             "distributed"})

    def new_run(self, generator, discriminator, config: TrainConfig, device: torch.device) -> Run:
        _check_model(generator, discriminator)
        return run_without_noise(generator, None, config, device, LOGGED)

    def steps(self, run: Run, data, labels) -> Steps:
        model = _check_model(run.generator, run.discriminator)
        if labels is not None:
            raise GanlibError("a VAE is unconditional: pass no labels=")
        data = _check_images(data, "data")
        if len(data) < run.config.batch_size:
            raise GanlibError(f"batch_size {run.config.batch_size} is larger than the data ({len(data)} images)")
        device, b = run.device, run.config.batch_size
        data = data.to(device)  # kept on the device, batches drawn by indexing

        def update(d_out: dict) -> dict:
            x = data[torch.randint(len(data), (b,), generator=run.rng, device=device)]
            return elbo_step(model, run.opt_g, x, generator=run.rng)

        return Steps(None, update, logged=LOGGED)


def _check_model(model, discriminator) -> VAE:
    if not isinstance(model, VAE):
        raise GanlibError(f"model must be a ganlib.vae.VAE, got {type(model).__name__}")
    if discriminator is not None:
        raise GanlibError("a VAE has no discriminator: pass None")
    return model


@torch.no_grad()
def sample(model: VAE, n: int, *, seed: int | None = None) -> torch.Tensor:
    """Draw ``n`` images: z ~ N(0, I), then the decoder's mean, (x + 1) / 2 = sigmoid(logits).

    Parameters
    ----------
    model : VAE
    n : int
        How many images.
    seed : int, optional
        Seed of z, so sampling can be repeated.

    Returns
    -------
    torch.Tensor
        ``(n, 1, 28, 28)`` float32 in [-1, 1], on the CPU.
    """
    if n < 1:
        raise GanlibError(f"n must be >= 1, got {n}")
    rng = seeded(seed) if seed is not None else None
    z = torch.randn(n, model.latent_dim, generator=rng)
    device = next(model.parameters()).device
    return (2 * torch.sigmoid(model.decode(z.to(device))) - 1).cpu()


@torch.no_grad()
def reconstruct(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Decode the encoder's mean code of each image into the decoder's mean image.

    Parameters
    ----------
    model : VAE
    x : torch.Tensor
        ``(B, 1, 28, 28)`` in [-1, 1].

    Returns
    -------
    torch.Tensor
        ``(B, 1, 28, 28)`` in [-1, 1], on the CPU.
    """
    x = _check_images(x)
    device = next(model.parameters()).device
    mean, _ = model.encode(x.to(device))
    return (2 * torch.sigmoid(model.decode(mean)) - 1).cpu()

"""InfoGAN's networks and codes: G reads noise and latent codes from ``z``; D and Q share one body.

Holds :class:`InfoGANGenerator`, :class:`InfoGANDiscriminator`, :func:`sample_codes`, :func:`make_latent`,
:func:`build_infogan` (registered as ``build_models("infogan")``) and :func:`model_spec`. The loss, the
training steps and the recipe are in :mod:`ganlib.variants.infogan`; see its docstring for how ``z`` is read.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.models import LEAKY_SLOPE, MNIST_SHAPE, DCGANDiscriminator, DCGANGenerator, _check_data, _check_latent
from ..core.utils import GanlibError
from ..core.zoo import register_models

__all__ = ["InfoGANGenerator", "InfoGANDiscriminator", "sample_codes", "make_latent", "is_infogan", "build_infogan",
           "model_spec", "NOISE_DIM", "NUM_CATEGORIES", "NUM_CONTINUOUS", "Q_HIDDEN"]

NOISE_DIM = 62        # incompressible noise of the paper's MNIST model
NUM_CATEGORIES = 10   # one 10-way categorical code
NUM_CONTINUOUS = 2    # two continuous codes, uniform on [-1, 1]
Q_HIDDEN = 128        # Q's own layer: FC 128, BatchNorm, LeakyReLU (the paper's Table 1 for MNIST)


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

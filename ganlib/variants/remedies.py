"""Standard remedies for GAN training pathologies (mode collapse, over-confident D, oscillation).

Holds the remedies that need more than a loss: :class:`InstanceNoise` and :class:`Packed`
(wrappers around a discriminator), :class:`MinibatchStdDev` (a layer for D), :class:`EMA` (an
averaged copy of the generator) and :func:`callbacks` (run several ``train(..., callback=)`` hooks).
It does not hold the loop (:mod:`ganlib.train`), nor chapter 7's experiment that sets up a run with one
remedy by name (:func:`ganlib.exercises.remedy_trials.prepare`, book-only).

Every remedy works through the existing hooks of :func:`ganlib.train`, unchanged:

- one-sided label smoothing (Salimans et al., 2016) and the R1 penalty (Mescheder et al., 2018) are
  losses: ``TrainConfig(loss="ns-smooth")`` or ``loss="ns-r1"``, ``--loss ns-smooth`` on the
  command line (see :func:`ganlib.losses.d_loss_bce_smooth` and :func:`ganlib.losses.r1_loss`);
- instance noise (Sønderby et al., 2017; Arjovsky & Bottou, 2017), packing (PacGAN, Lin et al., 2018)
  and the minibatch standard deviation (Karras et al., 2018) change the discriminator module only;
- the generator's exponential moving average (Yazıcı et al., 2019) and the annealing of the
  instance noise are callbacks, ``train(..., callback=callbacks(ema.update, noise.anneal))``;
- the two time-scale update rule, TTUR (Heusel et al., 2017), needs nothing new: give D a larger
  learning rate than G, ``TrainConfig(lr_d=4e-4, lr_g=1e-4)``.

Each wrapper keeps the conventions of :mod:`ganlib.core.models`: a discriminator returns logits of shape
``(B,)`` (``(B / m,)`` for a pack of ``m``), and the losses, being means over the batch, need no
change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..core.models import DCGANDiscriminator, init_dcgan_weights, mlp_hidden_layers
from ..core.run import Run
from ..core.packing import PACK_SIZE, Packed, packed_dcgan_discriminator, packed_mlp_discriminator
from ..core.utils import GanlibError, check_positive
from .averaging import EMA, EMA_DECAY, callbacks

__all__ = ["InstanceNoise", "Packed", "packed_mlp_discriminator", "packed_dcgan_discriminator", "MinibatchStdDev",
           "mbstd_mlp_discriminator", "mbstd_dcgan_discriminator",
           "EMA", "callbacks", "NOISE_SIGMA", "PACK_SIZE", "MBSTD_GROUP", "EMA_DECAY"]

NOISE_SIGMA = 0.1   # instance noise's starting standard deviation (data in [-1, 1] or on the unit ring)
MBSTD_GROUP = 4     # ProGAN's group size for the minibatch standard deviation


# --- instance noise -------------------------------------------------------------------------------

class InstanceNoise(nn.Module):
    """Instance noise: D sees every input, real and fake alike, with Gaussian noise of std ``sigma`` added.

    Sønderby et al. (2017) and Arjovsky & Bottou (2017): when the data and the samples lie
    on thin, disjoint supports, a perfect D exists and its gradients carry no information. Adding the
    same noise to both blurs the two distributions until they overlap, so the optimal D is smooth
    and its gradient points G toward the data. The noise is annealed to 0 so that the end result
    is unbiased.

    The noise is added only in training mode (``module.train()``), never in evaluation mode. It is
    added *to* D's input, so in the generator step the gradient flows through it into G.
    ``sigma`` goes from ``sigma`` down to ``final_sigma`` linearly over ``anneal_steps`` generator
    steps when :meth:`anneal` is the training callback: ``train(..., callback=noise.anneal)``.

    Parameters
    ----------
    discriminator : nn.Module
        The discriminator to wrap; called as ``discriminator(x + noise, *args)``.
    sigma : float
        Standard deviation of the noise at step 0, non-negative.
    final_sigma : float
        Standard deviation reached after ``anneal_steps`` steps, and kept after them.
    anneal_steps : int, optional
        Length of the linear schedule; ``None`` (the default) keeps ``sigma`` constant.
    generator : torch.Generator, optional
        Random stream for the noise (on D's device); default the global one (seed it with
        :func:`ganlib.seed_everything` for repeatable runs).
    """

    def __init__(self, discriminator: nn.Module, sigma: float = NOISE_SIGMA, *, final_sigma: float = 0.0,
                 anneal_steps: int | None = None, generator: torch.Generator | None = None):
        super().__init__()
        for name, value in (("sigma", sigma), ("final_sigma", final_sigma)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise GanlibError(f"{name} must be a non-negative finite number, got {value!r}")
        if anneal_steps is not None:
            check_positive("anneal_steps", anneal_steps, integer=True)
        self.discriminator = discriminator
        self.initial_sigma, self.final_sigma, self.anneal_steps = float(sigma), float(final_sigma), anneal_steps
        self.sigma = float(sigma)  #: the standard deviation used now
        self.rng = generator
        if hasattr(discriminator, "data_shape"):
            self.data_shape = discriminator.data_shape

    def sigma_at(self, step: int) -> float:
        """The scheduled standard deviation after ``step`` generator steps."""
        if self.anneal_steps is None:
            return self.initial_sigma
        t = min(max(step, 0) / self.anneal_steps, 1.0)
        return self.initial_sigma + t * (self.final_sigma - self.initial_sigma)

    def anneal(self, run: Run | int) -> None:
        """Set ``sigma`` for the run's step (or for a step number): a callback for :func:`ganlib.train`."""
        self.sigma = self.sigma_at(run.step if isinstance(run, Run) else int(run))

    def forward(self, x: torch.Tensor, *args) -> torch.Tensor:
        if self.training and self.sigma > 0:
            noise = torch.randn(x.shape, generator=self.rng, device=x.device, dtype=x.dtype)
            x = x + self.sigma * noise  # differentiable in x: G's gradient passes through
        return self.discriminator(x, *args)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}, final_sigma={self.final_sigma:g}, anneal_steps={self.anneal_steps}"


# --- minibatch standard deviation -----------------------------------------------------------------

class MinibatchStdDev(nn.Module):
    """ProGAN's minibatch standard deviation layer (Karras et al., 2018, section 3).

    For each group of ``group_size`` samples, the standard deviation of every feature over the group
    is averaged into one number, which is appended to each sample of the group as an extra feature
    (``(B, n)`` to ``(B, n + 1)``) or an extra constant channel (``(B, C, H, W)`` to
    ``(B, C + 1, H, W)``). A collapsed generator makes batches with near-zero spread, which D can
    then see; G gets a gradient toward variety. As in ProGAN, group ``j`` holds samples
    ``j, j + B / G, j + 2 B / G, ...``, and the std is ``sqrt(var + 1e-8)`` (biased variance), so a
    constant batch gives 1e-4, not exactly 0.

    Parameters
    ----------
    group_size : int
        Samples per group ``G``; the whole batch when it is smaller. The batch size must be a
        multiple of it.
    """

    EPS = 1e-8

    def __init__(self, group_size: int = MBSTD_GROUP):
        super().__init__()
        check_positive("group_size", group_size, integer=True)
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise GanlibError(f"the minibatch std layer needs a batch (B, *features), got shape {tuple(x.shape)}")
        b = len(x)
        g = min(self.group_size, b)
        if b % g:
            raise GanlibError(f"the minibatch std layer needs a batch size divisible by group_size = {g}, got {b}")
        y = x.reshape(g, b // g, *x.shape[1:])                         # (G, B/G, *features)
        std = (y.var(dim=0, unbiased=False) + self.EPS).sqrt()        # (B/G, *features)
        std = std.reshape(b // g, -1).mean(dim=1)                     # (B/G,) one number per group
        std = std.repeat(g)                                           # (B,) sample i is in group i mod B/G
        extra = std.reshape(b, 1, *([1] * (x.dim() - 2))).expand(b, 1, *x.shape[2:])
        return torch.cat([x, extra.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


class _MbstdMLPDiscriminator(nn.Module):
    def __init__(self, data_shape: tuple[int, ...], hidden: tuple[int, ...], group_size: int):
        super().__init__()
        self.data_shape = data_shape
        hidden_layers, width = mlp_hidden_layers(math.prod(data_shape), hidden)
        layers: list[nn.Module] = [nn.Flatten(), *hidden_layers]
        layers += [MinibatchStdDev(group_size), nn.Linear(width + 1, 1)]  # as in ProGAN: just before the end
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.data_shape:
            raise GanlibError(f"the discriminator expects inputs of shape (B, {', '.join(map(str, self.data_shape))}), "
                              f"got {tuple(x.shape)}")
        return self.net(x).squeeze(1)  # (B,)


def mbstd_mlp_discriminator(*, data_shape: Sequence[int] = (2,), hidden: Sequence[int] = (128, 128),
                            group_size: int = MBSTD_GROUP) -> nn.Module:
    """An MLP discriminator with a :class:`MinibatchStdDev` layer before its last linear layer.

    Parameters
    ----------
    data_shape : sequence of int
        Shape of one sample.
    hidden : sequence of int
        Widths of the hidden layers; at least one.
    group_size : int
        The layer's group size.

    Returns
    -------
    nn.Module
        ``(B, *data_shape)`` to ``(B,)`` logits.
    """
    hidden = tuple(int(h) for h in hidden)
    if not hidden:
        raise GanlibError("mbstd_mlp_discriminator needs at least one hidden layer")
    return _MbstdMLPDiscriminator(tuple(int(s) for s in data_shape), hidden, group_size)


def mbstd_dcgan_discriminator(*, width: int = 64, group_size: int = MBSTD_GROUP) -> nn.Module:
    """:class:`ganlib.core.models.DCGANDiscriminator` with a :class:`MinibatchStdDev` layer before its linear layer.

    As in ProGAN, the statistic enters as one more feature map just before D's last layer.

    Parameters
    ----------
    width : int
        Channels of D's first convolution.
    group_size : int
        The layer's group size.

    Returns
    -------
    nn.Module
        ``(B, 1, 28, 28)`` to ``(B,)`` logits.
    """
    d = DCGANDiscriminator(width=width)
    layers = list(d.net)
    flatten = next(i for i, layer in enumerate(layers) if isinstance(layer, nn.Flatten))
    last = layers[-1]
    channels = last.in_features // 49  # (B, C, 7, 7) before the flatten
    new_last = nn.Linear((channels + 1) * 49, last.out_features)
    init_dcgan_weights(new_last)
    d.net = nn.Sequential(*layers[:flatten], MinibatchStdDev(group_size), *layers[flatten:-1], new_last)
    return d

"""Conditional image-to-image GANs in the style of pix2pix (Isola et al., 2017), sized for 28x28 digits.

Holds: :class:`Image2ImageGenerator` (a small conv encoder-decoder, condition -> image),
:class:`PatchDiscriminator` (D(condition, image) -> one logit per patch), :func:`d_step` and
:func:`g_step` (the adversarial loss + λ·L1), :class:`Image2ImageVariant` (which alternates them
through :func:`ganlib.train`), and the helpers that make the conditions and score the outputs:
:func:`downsample`, :func:`bicubic_upsample`, :func:`random_mask`, :func:`mask_condition`, :func:`psnr`. It
does not hold unconditional GANs (:mod:`ganlib.train`).

Images are ``(B, 1, 28, 28)`` in [-1, 1]. A *condition* is ``(B, C, 28, 28)``: a low-resolution digit
upsampled back to 28x28 (C = 1), or a masked digit and its mask (C = 2). Masks hold 1 where a pixel is
known and 0 where it is missing. Labels: real = 1, fake = 0, as in :mod:`ganlib.core.losses`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import TrainConfig
from ..core.engine import Steps
from ..core.losses import GANLoss, get_loss
from ..core.models import LEAKY_SLOPE
from ..core.run import Run, run_without_noise
from ..core.steps import frozen
from ..core.utils import GanlibError

__all__ = ["Image2ImageGenerator", "PatchDiscriminator", "d_step", "g_step", "Image2ImageVariant", "downsample",
           "bicubic_upsample", "random_mask", "mask_condition", "psnr", "SIZE", "LOGGED"]

SIZE = 28          # side of the images this module works with (MNIST)
MASK_FILL = 0.0    # value written into missing pixels: mid-grey, distinct from the -1 background
INPUT_GAIN = 2.0   # G's output is tanh(INPUT_GAIN * input + correction): tanh(2) ~ 0.96 keeps ink as ink
LOGGED = ("d_loss", "g_adv", "g_l1")  # what a run logs (means per history row; the history adds step, seconds)


class Image2ImageGenerator(nn.Module):
    """Conv encoder-decoder G(condition) -> image: a tiny U-Net that corrects its input image.

    Parameters
    ----------
    in_channels : int
        Channels of the condition: 1 (an upsampled low-resolution digit) or 2 (masked digit + mask).
    width : int
        Channels at full resolution; the 14x14 bottleneck has ``2 * width``.
    """

    def __init__(self, *, in_channels: int = 1, width: int = 16):
        super().__init__()
        self.in_channels = in_channels
        self.data_shape = (1, SIZE, SIZE)
        self.inp = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU())        # (B, w, 28, 28)
        self.down = nn.Sequential(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),  # (B, 2w, 14, 14)
                                  nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU())
        self.up = nn.Sequential(nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU())  # (B, w, 28, 28)
        self.out = nn.Sequential(nn.Conv2d(2 * width, width, 3, padding=1), nn.ReLU(),           # after the skip concat
                                 nn.Conv2d(width, 1, 3, padding=1))                              # (B, 1, 28, 28)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        _check_condition(condition, self.in_channels, "the generator")
        h = self.inp(condition)
        u = self.up(self.down(h))
        correction = self.out(torch.cat([h, u], dim=1))  # the skip lets fine detail bypass the bottleneck
        # G corrects its input image (channel 0) rather than drawing from nothing: untrained, it returns
        # a contrast-stretched copy of the input, so training starts from the baseline, not from grey.
        return torch.tanh(INPUT_GAIN * condition[:, :1] + correction)


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN D(condition, image): one logit per overlapping 18x18 patch, ``(B, 49)``.

    D sees the condition and the image stacked as channels, so it judges whether the image is a
    plausible *answer to this condition*, not just a plausible digit (Isola et al., 2017).

    Parameters
    ----------
    in_channels : int
        Channels of the condition (the image adds one more).
    width : int
        Channels of the first convolution; the second has ``2 * width``.
    """

    def __init__(self, *, in_channels: int = 1, width: int = 16):
        super().__init__()
        self.in_channels = in_channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels + 1, width, 4, stride=2, padding=1), nn.LeakyReLU(LEAKY_SLOPE),  # (B, w, 14, 14)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(LEAKY_SLOPE),        # (B, 2w, 7, 7)
            nn.Conv2d(2 * width, 1, 3, padding=1),                                                # (B, 1, 7, 7)
        )

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        _check_condition(condition, self.in_channels, "the discriminator")
        _check_images(image, "the discriminator's image")
        if len(image) != len(condition):
            raise GanlibError(f"condition and image batches differ: {len(condition)} vs {len(image)}")
        return self.net(torch.cat([condition, image], dim=1)).flatten(1)  # (B, 49) patch logits


def d_step(generator: nn.Module, discriminator: nn.Module, opt_d: torch.optim.Optimizer,
           condition: torch.Tensor, x_real: torch.Tensor, loss: GANLoss) -> torch.Tensor:
    """One D update: real pairs (c, y) -> 1, fake pairs (c, G(c)) -> 0; returns the 0-d D loss, detached.
    G is not updated.

    Parameters
    ----------
    generator, discriminator : nn.Module
    opt_d : torch.optim.Optimizer
        The discriminator's optimizer.
    condition, x_real : torch.Tensor
        A minibatch of conditions ``(B, C, 28, 28)`` and their true images ``(B, 1, 28, 28)``.
    loss : GANLoss
        The loss pair (``loss.d`` is used).
    """
    with torch.no_grad():  # G is frozen in D's step: no graph through G is needed (the "detach")
        x_fake = generator(condition)
    d_loss = loss.d(discriminator(condition, x_real), discriminator(condition, x_fake))
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return d_loss.detach()


def g_step(generator: nn.Module, discriminator: nn.Module | None, opt_g: torch.optim.Optimizer,
           condition: torch.Tensor, x_real: torch.Tensor, loss: GANLoss, *, l1_weight: float,
           adv_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One G update on ``adv_weight * loss.g(D(c, G(c))) + l1_weight * mean|G(c) - y|``; D's weights stay.
    Returns ``g_adv, g_l1``: the two terms (0-d, detached, unweighted).

    Parameters
    ----------
    generator, discriminator : nn.Module
        ``discriminator`` may be ``None`` when ``adv_weight == 0`` (plain L1 regression).
    opt_g : torch.optim.Optimizer
        The generator's optimizer (only G's parameters).
    condition, x_real : torch.Tensor
        Conditions ``(B, C, 28, 28)`` and true images ``(B, 1, 28, 28)``.
    loss : GANLoss
        The loss pair (``loss.g`` is used).
    l1_weight, adv_weight : float
        Weights of the reconstruction and adversarial terms.
    """
    adversarial = adv_weight > 0
    with frozen(discriminator) if adversarial else contextlib.nullcontext():  # gradients through D, not into it
        x_fake = generator(condition)                  # (B, 1, 28, 28)
        g_l1 = (x_fake - x_real).abs().mean()
        g_adv = loss.g(discriminator(condition, x_fake)) if adversarial else torch.zeros_like(g_l1)
        g_loss = adv_weight * g_adv + l1_weight * g_l1  # G's adversarial term: "fakes labelled real"
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return g_adv.detach(), g_l1.detach()


@dataclass(frozen=True)
class Image2ImageVariant:
    """pix2pix-style training for :func:`ganlib.train`: ``ganlib.train(generator, discriminator,
    (inputs, targets), config, variant=Image2ImageVariant())``.

    ``inputs``, ``targets``: conditions ``(N, C, 28, 28)`` and their true images ``(N, 1, 28, 28)`` in
    [-1, 1], paired by index. Each step draws one minibatch of pairs from the run's random stream; one
    :func:`d_step` and one :func:`g_step` use it. With ``adv_weight = 0`` there is no game: G is a plain L1
    regression, a ``discriminator`` may be None (or is left alone), the logged ``d_loss`` and ``g_adv`` are
    0. Both players use Adam with ``config.lr_g``, ``lr_d`` and ``betas`` (pix2pix: 2e-4, (0.5, 0.999)).
    """

    l1_weight: float = 100.0      # lambda of the L1 term (pix2pix: 100)
    adv_weight: float = 1.0       # weight of the adversarial term; 0 = L1 regression, no discriminator

    name = "image2image"
    unsupported = frozenset({"unroll_steps", "reuse_fakes", "compile", "bf16", "penalty", "relativistic",
                             "distributed"})

    def __post_init__(self):
        for name in ("l1_weight", "adv_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == math.inf:
                raise GanlibError(f"{name} must be a non-negative number, got {value!r}")
        if self.l1_weight == 0 and self.adv_weight == 0:
            raise GanlibError("l1_weight and adv_weight are both 0: G would have nothing to learn from")

    def new_run(self, generator, discriminator, config: TrainConfig, device: torch.device) -> Run:
        self._check_players(discriminator)
        return run_without_noise(generator, discriminator, config, device, LOGGED)  # D untrained when adv_weight = 0

    def steps(self, run: Run, data, labels) -> Steps:
        self._check_players(run.discriminator)
        if labels is not None:
            raise GanlibError("the condition is the input image: pass no labels=")
        inputs, targets = _check_pairs(run.generator, data, run.config.batch_size)
        device, b, loss, batch = run.device, run.config.batch_size, get_loss(run.config.loss), {}
        inputs, targets = inputs.to(device), targets.to(device)  # resident on the device, indexed there

        def draw():
            idx = torch.randint(len(inputs), (b,), generator=run.rng, device=device)
            batch["c"], batch["x"] = inputs[idx], targets[idx]       # (B, C, 28, 28), (B, 1, 28, 28)

        def update_d(j: int) -> dict:
            draw()
            return {"d_loss": d_step(run.generator, run.discriminator, run.opt_d, batch["c"], batch["x"], loss)}

        def update_g(d_out: dict) -> dict:  # on the D step's pairs; without D it draws its own
            if not d_out:
                draw()
            g_adv, g_l1 = g_step(run.generator, run.discriminator, run.opt_g, batch["c"], batch["x"], loss,
                                 l1_weight=self.l1_weight, adv_weight=self.adv_weight)
            return {"g_adv": g_adv, "g_l1": g_l1, **({} if d_out else {"d_loss": torch.zeros_like(g_l1)})}

        return Steps(update_d if self.adv_weight > 0 else None, update_g, logged=LOGGED)

    def _check_players(self, discriminator) -> None:
        if self.adv_weight > 0 and discriminator is None:
            raise GanlibError("adv_weight > 0 needs a discriminator (pass adv_weight=0 for L1-only training)")


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Average ``factor`` x ``factor`` blocks: ``(B, 1, 28, 28)`` -> ``(B, 1, 28/factor, 28/factor)``."""
    _check_images(x, "images")
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1 or SIZE % factor:
        raise GanlibError(f"factor must be a positive integer dividing {SIZE} (1, 2, 4, 7, 14, 28), got {factor!r}")
    return F.avg_pool2d(x, factor)


def bicubic_upsample(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """Bicubic interpolation of ``(B, C, h, w)`` images to ``size`` x ``size``, clipped to [-1, 1]."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise GanlibError(f"expected float images of shape (B, C, h, w), got "
                          f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def random_mask(n: int, *, hole: int = 14, generator: torch.Generator | None = None) -> torch.Tensor:
    """Masks ``(n, 1, 28, 28)``: 1 = known, 0 = a ``hole`` x ``hole`` missing square at a random place."""
    if isinstance(hole, bool) or not isinstance(hole, int) or not 1 <= hole <= SIZE:
        raise GanlibError(f"hole must be an integer side length from 1 to {SIZE}, got {hole!r}")
    corners = torch.randint(SIZE - hole + 1, (n, 2), generator=generator)  # (n, 2) top-left (row, col)
    ticks = torch.arange(SIZE)
    rows = (ticks >= corners[:, :1]) & (ticks < corners[:, :1] + hole)  # (n, 28)
    cols = (ticks >= corners[:, 1:]) & (ticks < corners[:, 1:] + hole)  # (n, 28)
    missing = rows[:, :, None] & cols[:, None, :]                        # (n, 28, 28)
    return (~missing).float().unsqueeze(1)


def mask_condition(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The inpainting condition ``(B, 2, 28, 28)``: the digit with missing pixels set to grey, and the mask."""
    _check_images(x, "images")
    if mask.shape != x.shape:
        raise GanlibError(f"mask must have the images' shape {tuple(x.shape)}, got {tuple(mask.shape)}")
    return torch.cat([x * mask + MASK_FILL * (1 - mask), mask.to(x.dtype)], dim=1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over images of the peak signal-to-noise ratio in dB, for images in [-1, 1] (peak-to-peak 2).

    PSNR = 10 log10(2² / MSE) per image, MSE over that image's pixels; higher is closer.
    """
    if x.shape != y.shape or x.dim() < 2:
        raise GanlibError(f"psnr needs two batches of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    mse = (x.double() - y.double()).pow(2).flatten(1).mean(1).clamp_min(1e-12)  # (B,)
    return float((10 * torch.log10(4.0 / mse)).mean())


def _check_images(x, what: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, SIZE, SIZE):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise GanlibError(f"{what} must have shape (B, 1, {SIZE}, {SIZE}), got {shape}")
    if not x.is_floating_point():
        raise GanlibError(f"{what} must be floating point in [-1, 1], got {x.dtype}")


def _check_condition(c, channels: int, who: str) -> None:
    if not isinstance(c, torch.Tensor) or c.dim() != 4 or tuple(c.shape[1:]) != (channels, SIZE, SIZE):
        shape = tuple(c.shape) if isinstance(c, torch.Tensor) else type(c).__name__
        raise GanlibError(f"{who} expects conditions of shape (B, {channels}, {SIZE}, {SIZE}), got {shape}"
                          + (" (a 7x7 or 14x14 input? upsample it with bicubic_upsample first)"
                             if isinstance(c, torch.Tensor) and c.dim() == 4 and c.shape[-1] < SIZE else ""))


def _check_pairs(generator, data, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise GanlibError("the data must be a pair (inputs, targets): conditions and their true images")
    inputs, targets = data
    _check_images(targets, "targets")
    channels = getattr(generator, "in_channels", inputs.shape[1] if isinstance(inputs, torch.Tensor) else 1)
    _check_condition(inputs, channels, "the inputs")
    if len(inputs) != len(targets):
        raise GanlibError(f"inputs and targets must pair up: {len(inputs)} inputs, {len(targets)} targets")
    if batch_size > len(inputs):
        raise GanlibError(f"batch_size {batch_size} is larger than the data ({len(inputs)} pairs)")
    lo, hi = float(targets.min()), float(targets.max())
    if lo < -1.001 or hi > 1.001:
        raise GanlibError(f"targets must lie in [-1, 1] like the generator's tanh, got [{lo:g}, {hi:g}]")
    return inputs, targets

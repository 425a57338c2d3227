"""Conditional image-to-image GANs in the style of pix2pix (Isola et al., 2017), sized for 28x28 digits.

Holds: :class:`Image2ImageGenerator` (a small conv encoder-decoder, condition -> image),
:class:`PatchDiscriminator` (D(condition, image) -> one logit per patch), :func:`d_step` and
:func:`g_step` (the adversarial loss + λ·L1), :func:`train_image2image` (the loop that alternates
them), and the helpers that make the conditions and score the outputs: :func:`downsample`, :func:`bicubic_upsample`, :func:`random_mask`,
:func:`mask_condition`, :func:`psnr`. It does not hold unconditional GANs (:mod:`ganlib.train`).

Images are ``(B, 1, 28, 28)`` in [-1, 1]. A *condition* is ``(B, C, 28, 28)``: a low-resolution digit
upsampled back to 28x28 (C = 1), or a masked digit and its mask (C = 2). Masks hold 1 where a pixel is
known and 0 where it is missing. Labels: real = 1, fake = 0, as in :mod:`ganlib.losses`.
"""

from __future__ import annotations

import contextlib
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..core.losses import GANLoss, get_loss
from ..core.models import LEAKY_SLOPE
from ..core.steps import frozen
from ..core.utils import GanlibError, get_device, rng as seeded

__all__ = ["Image2ImageGenerator", "PatchDiscriminator", "d_step", "g_step", "train_image2image", "downsample",
           "bicubic_upsample", "random_mask", "mask_condition", "psnr", "SIZE"]

SIZE = 28          # side of the images this module works with (MNIST)
MASK_FILL = 0.0    # value written into missing pixels: mid-grey, distinct from the -1 background
INPUT_GAIN = 2.0   # G's output is tanh(INPUT_GAIN * input + correction): tanh(2) ~ 0.96 keeps ink as ink


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
    """One D update: real pairs (c, y) -> 1, fake pairs (c, G(c)) -> 0. G is not updated.

    Parameters
    ----------
    generator, discriminator : nn.Module
    opt_d : torch.optim.Optimizer
        The discriminator's optimizer.
    condition, x_real : torch.Tensor
        A minibatch of conditions ``(B, C, 28, 28)`` and their true images ``(B, 1, 28, 28)``.
    loss : GANLoss
        The loss pair (``loss.d`` is used).

    Returns
    -------
    torch.Tensor
        The 0-d discriminator loss, detached.
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

    Returns
    -------
    g_adv, g_l1 : torch.Tensor
        The two terms (0-d, detached, unweighted).
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


def train_image2image(generator: nn.Module, discriminator: nn.Module | None, inputs: torch.Tensor,
                      targets: torch.Tensor, *, num_steps: int, batch_size: int = 64, lr: float = 2e-4,
                      l1_weight: float = 100.0, adv_weight: float = 1.0, loss: str = "ns", seed: int = 0,
                      log_every: int = 50, device: torch.device | str | None = None) -> dict[str, list[float]]:
    """Train a conditional GAN on ``(inputs, targets)`` pairs: per step one :func:`d_step`, then one :func:`g_step`.

    With ``adv_weight = 0`` there is no game: G is a plain L1 regression and ``discriminator`` may be
    ``None``. Both players use Adam (betas 0.5, 0.999) and are trained in place.

    Parameters
    ----------
    generator : nn.Module
        Maps conditions ``(B, C, 28, 28)`` to images ``(B, 1, 28, 28)``.
    discriminator : nn.Module or None
        ``discriminator(condition, image)`` -> logits of any shape ``(B, ...)``.
    inputs, targets : torch.Tensor
        Conditions ``(N, C, 28, 28)`` and the true images ``(N, 1, 28, 28)`` in [-1, 1].
    num_steps : int
        Generator updates.
    batch_size : int
        Pairs per minibatch.
    lr : float
        Adam learning rate of both players (pix2pix: 2e-4).
    l1_weight, adv_weight : float
        λ of the L1 term (pix2pix: 100) and the weight of the adversarial term.
    loss : str
        A loss pair of :data:`ganlib.losses.LOSSES`.
    seed : int
        Seeds the minibatch draws (initialize the models yourself, e.g. after ``seed_everything``).
    log_every : int
        Steps between history rows.
    device : torch.device or str, optional
        Default :func:`ganlib.get_device`.

    Returns
    -------
    dict
        Lists by name, ``step``, ``d_loss``, ``g_adv``, ``g_l1`` (means over the steps since the last
        row) and ``seconds``.
    """
    _check_training(generator, discriminator, inputs, targets, num_steps, batch_size, lr, l1_weight,
                    adv_weight, log_every)
    adversarial = adv_weight > 0
    pair = get_loss(loss)
    device = get_device(device)
    generator.to(device).train()
    inputs, targets = inputs.to(device), targets.to(device)  # resident on the device, indexed there
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
    if adversarial:
        discriminator.to(device).train()
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    rng = seeded(seed, device)
    history: dict[str, list[float]] = {k: [] for k in ("step", "d_loss", "g_adv", "g_l1", "seconds")}
    sums, rows = torch.zeros(3, device=device), 0  # running d_loss, g_adv, g_l1: read only when logging
    start = time.perf_counter()
    for step in range(1, num_steps + 1):
        idx = torch.randint(len(inputs), (batch_size,), generator=rng, device=device)
        condition, x_real = inputs[idx], targets[idx]                                  # (B, C, 28, 28), (B, 1, 28, 28)
        d_loss = d_step(generator, discriminator, opt_d, condition, x_real, pair) if adversarial else sums[0] * 0
        g_adv, g_l1 = g_step(generator, discriminator, opt_g, condition, x_real, pair,
                             l1_weight=l1_weight, adv_weight=adv_weight)
        sums += torch.stack([d_loss, g_adv, g_l1])
        rows += 1
        if step % log_every == 0 or step == num_steps:
            for key, value in zip(("d_loss", "g_adv", "g_l1"), (sums / rows).tolist()):
                history[key].append(value)
            history["step"].append(step)
            history["seconds"].append(time.perf_counter() - start)
            sums, rows = torch.zeros(3, device=device), 0
    return history


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


def _check_training(generator, discriminator, inputs, targets, num_steps, batch_size, lr, l1_weight,
                    adv_weight, log_every) -> None:
    for name, value in (("num_steps", num_steps), ("batch_size", batch_size), ("log_every", log_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GanlibError(f"{name} must be a positive integer, got {value!r}")
    for name, value in (("lr", lr), ("l1_weight", l1_weight), ("adv_weight", adv_weight)):
        if not isinstance(value, (int, float)) or not value == value or value < 0 or (name == "lr" and value == 0):
            raise GanlibError(f"{name} must be a {'positive' if name == 'lr' else 'non-negative'} number, got {value!r}")
    if l1_weight == 0 and adv_weight == 0:
        raise GanlibError("l1_weight and adv_weight are both 0: G would have nothing to learn from")
    if adv_weight > 0 and discriminator is None:
        raise GanlibError("adv_weight > 0 needs a discriminator (pass adv_weight=0 for L1-only training)")
    _check_images(targets, "targets")
    channels = getattr(generator, "in_channels", inputs.shape[1] if isinstance(inputs, torch.Tensor) else 1)
    _check_condition(inputs, channels, "train_image2image")
    if len(inputs) != len(targets):
        raise GanlibError(f"inputs and targets must pair up: {len(inputs)} inputs, {len(targets)} targets")
    if batch_size > len(inputs):
        raise GanlibError(f"batch_size {batch_size} is larger than the data ({len(inputs)} pairs)")
    lo, hi = float(targets.min()), float(targets.max())
    if lo < -1.001 or hi > 1.001:
        raise GanlibError(f"targets must lie in [-1, 1] like the generator's tanh, got [{lo:g}, {hi:g}]")

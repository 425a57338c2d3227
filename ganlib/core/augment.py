"""Differentiable augmentation of the discriminator's input: DiffAugment's translation.

Holds :func:`translate`, :class:`Translated`, the wrapper that shows D every image, real and
fake alike, shifted by a few pixels, and :func:`check_shift`. It does not hold the models or the loop.

With few real images (the 5 000 offline digits) D learns them by heart and its verdicts stop
teaching G. Zhao et al. (2020, "Differentiable Augmentation for Data-Efficient GAN Training")
augment every input of D, real and generated, in both players' steps; the shift is differentiable
(it only moves pixels), so G's gradient flows through it and G is not taught to make shifted digits.
"""

from __future__ import annotations

import torch
from torch import nn

from .utils import GanlibError

__all__ = ["translate", "Translated", "check_shift"]


def check_shift(shift, name: str = "shift") -> None:
    """Raise :class:`GanlibError` unless ``shift`` is a whole number of pixels >= 0 (``name`` is in the message)."""
    if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
        raise GanlibError(f"{name} must be a non-negative whole number of pixels (0 = no shift), got {shift!r}")


def translate(x: torch.Tensor, shift: int, *, fill: float = -1.0, generator: torch.Generator | None = None
              ) -> torch.Tensor:
    """Shift every image of ``x`` by its own random whole number of pixels, ``-shift..shift`` on each axis.

    Parameters
    ----------
    x : torch.Tensor
        Images ``(B, C, H, W)``.
    shift : int
        The largest shift, in pixels; 0 returns ``x``.
    fill : float
        The value shifted in at the borders: the background, -1 for data in ``[-1, 1]`` (DiffAugment
        pads with 0, mid-grey there).
    generator : torch.Generator, optional
        Source of the shifts (on ``x``'s device); default: torch's global generator.

    Returns
    -------
    torch.Tensor
        ``(B, C, H, W)``, a differentiable function of ``x``.
    """
    if x.dim() != 4:
        raise GanlibError(f"translate expects images (B, C, H, W), got shape {tuple(x.shape)}")
    check_shift(shift)
    if shift == 0:
        return x
    b, c, h, w = x.shape
    padded = nn.functional.pad(x, (shift, shift, shift, shift), value=fill)  # (B, C, H + 2s, W + 2s)
    offsets = torch.randint(0, 2 * shift + 1, (2, b, 1, 1), device=x.device, generator=generator)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + offsets[0]      # (B, H, 1) rows of the padded image
    cols = torch.arange(w, device=x.device).view(1, 1, w) + offsets[1]      # (B, 1, W)
    index = (rows * (w + 2 * shift) + cols).view(b, 1, h * w).expand(b, c, h * w)
    return padded.flatten(2).gather(2, index).view(b, c, h, w)


class Translated(nn.Module):
    """A discriminator that, while training, judges its inputs shifted by up to ``shift`` pixels.

    In evaluation mode (``.eval()``) inputs pass unchanged, so D's verdict on a given image is
    deterministic after training.

    Parameters
    ----------
    discriminator : nn.Module
        D over images ``(B, C, H, W)``.
    shift : int
        The largest shift in pixels (:func:`translate`); 2 is 1/14 of a 28x28 digit.
    """

    def __init__(self, discriminator: nn.Module, shift: int = 2):
        super().__init__()
        check_shift(shift)
        self.discriminator, self.shift = discriminator, shift

    def forward(self, x: torch.Tensor, *args) -> torch.Tensor:
        if self.training:
            x = translate(x, self.shift)
        return self.discriminator(x, *args)

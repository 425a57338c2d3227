"""PacGAN's packing (Lin et al., 2018): a discriminator that judges ``m`` samples jointly.

Holds :class:`Packed` (the wrapper) and the packed MLP and DCGAN discriminators that
:func:`ganlib.build_models` builds for ``pack=m``. Chapter 7 uses them as a remedy for mode collapse
(:mod:`ganlib.variants.remedies` re-exports them).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .models import MNIST_SHAPE, DCGANDiscriminator, MLPDiscriminator, init_dcgan_weights
from .utils import GanlibError, check_positive

__all__ = ["PACK_SIZE", "Packed", "packed_mlp_discriminator", "packed_dcgan_discriminator"]

PACK_SIZE = 2       # PacGAN's m: the paper's experiments use 2 to 4


class Packed(nn.Module):
    """PacGAN's packing (Lin et al., 2018): D judges ``m`` samples of the same kind jointly.

    A batch ``(B, *shape)`` becomes ``B / m`` packs: flat samples ``(B, n)`` are concatenated into
    ``(B / m, m * n)``; images ``(B, C, H, W)`` along the channels into ``(B / m, m * C, H, W)``.
    The inner discriminator must accept that packed shape (see :func:`packed_mlp_discriminator`)
    and return ``(B / m,)`` logits. Consecutive samples form a pack; the batches of
    :func:`ganlib.train` are drawn at random, so packs are random too. A pack of a collapsed
    generator holds near-identical samples while a real pack holds different ones, which is easy to
    see jointly and impossible one sample at a time: the penalty on mode collapse.

    The losses average over the ``B / m`` verdicts, so they, ``d_step`` and ``g_step`` are unchanged.

    Parameters
    ----------
    discriminator : nn.Module
        D over packs.
    m : int
        Samples per pack (the paper: 2 to 4); ``m = 1`` is plain D.
    data_shape : sequence of int, optional
        Shape of one unpacked sample, stored as ``data_shape`` (for code that reads it).
    """

    def __init__(self, discriminator: nn.Module, m: int = PACK_SIZE, *, data_shape: Sequence[int] | None = None):
        super().__init__()
        check_positive("m", m, integer=True)
        self.discriminator, self.m = discriminator, m
        if data_shape is not None:
            self.data_shape = tuple(int(s) for s in data_shape)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """The packed batch: ``(B / m, m * n)`` for ``(B, n)`` input, ``(B / m, m * C, *rest)`` for ``(B, C, *rest)``."""
        if x.dim() < 2:
            raise GanlibError(f"packing needs a batch (B, *shape), got shape {tuple(x.shape)}")
        if len(x) % self.m:
            raise GanlibError(f"a batch of {len(x)} cannot be packed in groups of m = {self.m}: "
                              f"use a batch size divisible by {self.m}")
        if x.dim() == 2:
            return x.reshape(len(x) // self.m, -1)
        return x.reshape(len(x) // self.m, self.m * x.shape[1], *x.shape[2:])  # channel blocks, sample by sample

    def forward(self, x: torch.Tensor, *args) -> torch.Tensor:
        return self.discriminator(self.pack(x), *args)

    def extra_repr(self) -> str:
        return f"m={self.m}"


def packed_mlp_discriminator(m: int = PACK_SIZE, *, data_shape: Sequence[int] = (2,),
                             hidden: Sequence[int] = (128, 128)) -> Packed:
    """A packed MLP discriminator: :class:`ganlib.core.models.MLPDiscriminator` over ``m`` samples at once.

    As in PacGAN, only the input layer grows (``m`` times wider); the rest of D is unchanged.

    Parameters
    ----------
    m : int
        Samples per pack.
    data_shape : sequence of int
        Shape of one sample, ``(2,)`` for the 2-D toys, ``(1, 28, 28)`` for MNIST.
    hidden : sequence of int
        Widths of the hidden layers (the 2-D recipe: ``(128, 128)``).

    Returns
    -------
    Packed
        ``(B, *data_shape)`` to ``(B / m,)`` logits.
    """
    check_positive("m", m, integer=True)
    data_shape = tuple(int(s) for s in data_shape)
    inner_shape = (m * data_shape[0],) + data_shape[1:]
    return Packed(MLPDiscriminator(data_shape=inner_shape, hidden=hidden), m, data_shape=data_shape)


def packed_dcgan_discriminator(m: int = PACK_SIZE, *, width: int = 64) -> Packed:
    """A packed DCGAN discriminator for 28x28 digits: ``m`` digits stacked as ``m`` input channels.

    :class:`ganlib.core.models.DCGANDiscriminator` with a first convolution of ``m`` input channels
    (DCGAN's initialization); the rest is unchanged.

    Parameters
    ----------
    m : int
        Samples per pack.
    width : int
        Channels of D's first convolution, as in :class:`ganlib.core.models.DCGANDiscriminator`.

    Returns
    -------
    Packed
        ``(B, 1, 28, 28)`` to ``(B / m,)`` logits.
    """
    check_positive("m", m, integer=True)
    inner = DCGANDiscriminator(width=width)
    first = inner.net[0]
    inner.net[0] = nn.Conv2d(m, first.out_channels, first.kernel_size, stride=first.stride, padding=first.padding)
    init_dcgan_weights(inner.net[0])
    inner.data_shape = (m,) + MNIST_SHAPE[1:]
    return Packed(inner, m, data_shape=MNIST_SHAPE)

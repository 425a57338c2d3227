"""Conditional GAN networks for 28x28 digits: G(z, y) and D(x, y) with class labels y.

Holds :class:`ConditionalDCGANGenerator` (the label, one-hot, concatenated to the noise, as in
Mirza & Osindero's conditional GAN) and :class:`ConditionalDCGANDiscriminator` (a *projection*
discriminator: the label's embedding is multiplied with D's features, Miyato & Koyama, 2018). Both reuse
the DCGAN pair of :mod:`ganlib.core.models`. :func:`ganlib.train` passes labels to them when it is given
``labels=``; it does not hold the loop.

A conditional model is recognized by its ``num_classes`` attribute.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.models import DCGAN_INIT_STD, DCGANDiscriminator, DCGANGenerator, _check_data, _check_latent
from ..core.labels import check_labels, is_conditional
from ..core.zoo import dcgan_widths, no_extra_options, register_models

__all__ = ["ConditionalDCGANGenerator", "ConditionalDCGANDiscriminator", "is_conditional", "check_labels"]


class ConditionalDCGANGenerator(DCGANGenerator):
    """DCGAN generator of a chosen digit: ``G(z, y)``, the one-hot label concatenated to ``z``.

    Parameters
    ----------
    latent_dim : int
        Size of the noise ``z``.
    width : int
        As in :class:`~ganlib.models.DCGANGenerator`.
    num_classes : int
        Number of classes (10 digits).
    """

    def __init__(self, *, latent_dim: int = 100, width: int = 64, num_classes: int = 10):
        super().__init__(latent_dim=latent_dim + num_classes, width=width)  # the first layer sees z and y
        self.latent_dim = latent_dim
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_latent(z, self.latent_dim)
        y = check_labels(y, self.num_classes, len(z))
        zy = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], dim=1)  # (B, latent_dim + K)
        h = self.project(zy).view(-1, 2 * self.width, 7, 7)                      # (B, 2w, 7, 7)
        return self.upsample(h)                                                  # (B, 1, 28, 28)


class ConditionalDCGANDiscriminator(DCGANDiscriminator):
    """Projection discriminator ``D(x, y) = w . h(x) + embed(y) . h(x)`` on DCGAN's features ``h``.

    The projection term asks "do these features look like class y?"; concatenating the label to the
    input would leave D free to ignore it.

    Parameters
    ----------
    width : int
        As in :class:`~ganlib.models.DCGANDiscriminator`.
    num_classes : int
    """

    def __init__(self, *, width: int = 64, num_classes: int = 10):
        super().__init__(width=width)
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, self.net[-1].in_features)  # (K, 2w * 49)
        nn.init.normal_(self.embed.weight, 0.0, DCGAN_INIT_STD)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_data(x, self.data_shape)
        y = check_labels(y, self.num_classes, len(x))
        h = self.net[:-1](x)                                                # (B, 2w * 49) features
        return self.net[-1](h).squeeze(1) + (self.embed(y) * h).sum(dim=1)  # (B,) logits


def _conditional_pair(*, data_shape: tuple[int, ...], latent_dim: int, **options):
    g_width, d_width = dcgan_widths(data_shape, options)
    num_classes = int(options.pop("num_classes", 10))
    no_extra_options(options, "cdcgan")
    return (ConditionalDCGANGenerator(latent_dim=latent_dim, width=g_width, num_classes=num_classes),
            ConditionalDCGANDiscriminator(width=d_width, num_classes=num_classes))


register_models("cdcgan", _conditional_pair)

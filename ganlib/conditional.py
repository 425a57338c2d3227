"""Conditional GAN networks for 28x28 digits: G(z, y) and D(x, y) with class labels y.

Holds :class:`ConditionalDCGANGenerator` (the label, one-hot, concatenated to the noise, as in
Mirza & Osindero's conditional GAN) and :class:`ConditionalDCGANDiscriminator` (a *projection*
discriminator: the label's embedding is multiplied with D's features, Miyato & Koyama, 2018). Both reuse
the DCGAN pair of :mod:`ganlib.models`. :func:`ganlib.train` passes labels to them when it is given
``labels=``; it does not hold the loop.

A conditional model is recognized by its ``num_classes`` attribute.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .models import DCGAN_INIT_STD, DCGANDiscriminator, DCGANGenerator, _check_data, _check_latent
from .utils import GanlibError

__all__ = ["ConditionalDCGANGenerator", "ConditionalDCGANDiscriminator", "is_conditional", "check_labels"]


def is_conditional(module: nn.Module) -> bool:
    """True for a network that takes class labels (it has an integer ``num_classes``)."""
    return isinstance(getattr(module, "num_classes", None), int)


def check_labels(y, num_classes: int, n: int | None = None) -> torch.Tensor:
    """Return ``y`` as int64 labels in ``[0, num_classes)``; a clear error otherwise.

    Parameters
    ----------
    y : torch.Tensor
        ``(B,)`` integer class labels.
    num_classes : int
    n : int, optional
        The batch size ``y`` must have.
    """
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.is_floating_point() or y.is_complex():
        raise GanlibError(f"labels must be a 1-D integer tensor, got "
                          f"{getattr(y, 'dtype', type(y).__name__)} of shape {tuple(getattr(y, 'shape', ()))}")
    if n is not None and len(y) != n:
        raise GanlibError(f"expected {n} labels (one per example), got {len(y)}")
    # The value check reads the labels on the host: done for CPU tensors only, so a conditional model's
    # forward pass on a GPU never waits for a device-to-host copy (train() checks its labels once).
    if len(y) and y.device.type == "cpu" and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise GanlibError(f"labels must lie in [0, {num_classes}), got [{int(y.min())}, {int(y.max())}]")
    return y.long()


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

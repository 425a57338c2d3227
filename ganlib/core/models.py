"""Generator and discriminator networks: the source article's MLP pair and a DCGAN pair for 28x28.

Holds: :class:`MLPGenerator`, :class:`MLPDiscriminator`, :class:`DCGANGenerator`,
:class:`DCGANDiscriminator`, :func:`init_dcgan_weights`, :func:`apply_spectral_norm`,
:func:`drop_batchnorm` and :func:`mlp_hidden_layers`. It does not hold losses, the training loop or the
pairs by name (:mod:`ganlib.core.zoo`).

Every discriminator returns a *logit* ``(B,)``: D(x) = sigmoid(logit); the losses take logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .utils import GanlibError

__all__ = [
    "MLPGenerator", "MLPDiscriminator", "DCGANGenerator", "DCGANDiscriminator",
    "init_dcgan_weights", "apply_spectral_norm", "drop_batchnorm", "mlp_hidden_layers",
    "MNIST_SHAPE",
]

MNIST_SHAPE = (1, 28, 28)
LEAKY_SLOPE = 0.2      # LeakyReLU slope used by the article and by DCGAN (Radford et al., 2016)
DCGAN_INIT_STD = 0.02  # DCGAN's initialization: N(0, 0.02) for weights, N(1, 0.02) for BN scales


def mlp_hidden_layers(width: int, hidden: Sequence[int]) -> tuple[list[nn.Module], int]:
    """The hidden part of every MLP in ganlib: ``Linear, LeakyReLU(0.2)`` per width in ``hidden``.

    Parameters
    ----------
    width : int
        Inputs of the first layer.
    hidden : sequence of int
        Widths of the hidden layers.

    Returns
    -------
    layers : list of nn.Module
    width : int
        Outputs of the last layer (``width`` itself when ``hidden`` is empty).
    """
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.LeakyReLU(LEAKY_SLOPE)]
        width = h
    return layers, width


class MLPGenerator(nn.Module):
    """Multilayer-perceptron generator ``z -> x``: the article's model with its defaults.

    Parameters
    ----------
    latent_dim : int
        Size of the noise vector ``z``.
    data_shape : sequence of int
        Shape of one sample, e.g. ``(1, 28, 28)`` or ``(2,)``.
    hidden : sequence of int
        Widths of the hidden layers (the article: one layer of 128).
    out_activation : {"tanh", None}
        ``"tanh"`` for images in [-1, 1]; ``None`` for unbounded data such as the 2-D grid.
    """

    def __init__(self, *, latent_dim: int = 100, data_shape: Sequence[int] = MNIST_SHAPE,
                 hidden: Sequence[int] = (128,), out_activation: str | None = "tanh"):
        super().__init__()
        if out_activation not in ("tanh", None):
            raise GanlibError(f"out_activation must be 'tanh' or None, got {out_activation!r}")
        self.latent_dim = latent_dim
        self.data_shape = tuple(data_shape)
        layers, width = mlp_hidden_layers(latent_dim, hidden)
        layers.append(nn.Linear(width, math.prod(self.data_shape)))
        if out_activation == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_latent(z, self.latent_dim)
        return self.net(z).view(-1, *self.data_shape)  # (B, *data_shape)


class MLPDiscriminator(nn.Module):
    """Multilayer-perceptron discriminator ``x -> logit``: the article's model with its defaults.

    Parameters
    ----------
    data_shape : sequence of int
        Shape of one sample.
    hidden : sequence of int
        Widths of the hidden layers (the article: one layer of 128).
    """

    def __init__(self, *, data_shape: Sequence[int] = MNIST_SHAPE, hidden: Sequence[int] = (128,)):
        super().__init__()
        self.data_shape = tuple(data_shape)
        layers, width = mlp_hidden_layers(math.prod(self.data_shape), hidden)
        layers.insert(0, nn.Flatten())
        layers.append(nn.Linear(width, 1))  # a logit, not a probability: no sigmoid here
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_data(x, self.data_shape)
        return self.net(x).squeeze(1)  # (B,)


class DCGANGenerator(nn.Module):
    """DCGAN generator for 28x28 images (Radford et al., 2016), sized for a CPU.

    Parameters
    ----------
    latent_dim : int
        Size of the noise vector ``z``.
    width : int
        Channels of the last hidden layer; the first has ``2 * width``.
    refine : bool
        Upsample to 28x28 into ``width // 2`` channels (BatchNorm, ReLU) and draw the image with a
        3x3 convolution there, instead of drawing it with the last transposed convolution: every
        output pixel then sees its neighbours' features. The MNIST recipe uses it to keep every digit
        frequent among the samples (README, "The MNIST recipe against its target").
    """

    def __init__(self, *, latent_dim: int = 100, width: int = 64, refine: bool = False):
        super().__init__()
        if not isinstance(refine, bool):
            raise GanlibError(f"refine must be True or False, got {refine!r}")
        self.latent_dim = latent_dim
        self.data_shape = MNIST_SHAPE
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 7 * 7, bias=False),
            nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(),
        )
        self.width = width
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),   # (B, w, 14, 14)
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        if refine:
            layers += [nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1, bias=False),  # (B, w/2, 28, 28)
                       nn.BatchNorm2d(width // 2),
                       nn.ReLU(),
                       nn.Conv2d(width // 2, 1, 3, padding=1)]                              # (B, 1, 28, 28)
        else:
            layers.append(nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1))            # (B, 1, 28, 28)
        self.upsample = nn.Sequential(*layers, nn.Tanh())
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_latent(z, self.latent_dim)
        h = self.project(z).view(-1, 2 * self.width, 7, 7)  # (B, 2w, 7, 7)
        return self.upsample(h)  # (B, w, 14, 14) -> (B, 1, 28, 28)


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator for 28x28 images: strided convolutions, LeakyReLU, BatchNorm after the second.

    As in Radford et al. (2016), the first layer has no BatchNorm. D sees real and fake minibatches
    separately (as in pytorch/examples' DCGAN), so its BatchNorm statistics are those of one kind of
    batch at a time. On the 5 000 offline digits this D learns markedly faster than the same D without
    BatchNorm, which is why the layer is kept (the runs: ``benchmarks/results/NOTES.md``).

    Parameters
    ----------
    width : int
        Channels of the first convolution; the second has ``2 * width``.
    """

    def __init__(self, *, width: int = 64):
        super().__init__()
        self.data_shape = MNIST_SHAPE
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),                          # (B, w, 14, 14)
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),      # (B, 2w, 7, 7)
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Flatten(),                                                         # (B, 2w * 49)
            nn.Linear(2 * width * 7 * 7, 1),                                      # (B, 1) logit
        )
        init_dcgan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_data(x, self.data_shape)
        return self.net(x).squeeze(1)  # (B,)


def init_dcgan_weights(module: nn.Module) -> None:
    """Apply DCGAN's initialization to every layer of ``module`` (dispatch by ``isinstance``).

    Parameters
    ----------
    module : nn.Module
        Convolutions and linear layers get N(0, 0.02) weights and zero biases; BatchNorm layers
        get N(1, 0.02) scales and zero shifts.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, DCGAN_INIT_STD)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(layer.weight, 1.0, DCGAN_INIT_STD)
            nn.init.zeros_(layer.bias)


def apply_spectral_norm(discriminator: nn.Module) -> nn.Module:
    """Spectrally normalize every convolution and linear layer of ``discriminator`` (Miyato et al., 2018).

    Each weight is divided by an estimate of its largest singular value (one power-iteration step per
    forward pass), so its spectral norm stays near 1 (for a convolution, that of the kernel reshaped to a
    matrix, which approximates the layer's). BatchNorm layers are replaced by identities, as in
    SN-GAN's discriminator: normalization by batch statistics would undo the per-layer control.

    Parameters
    ----------
    discriminator : nn.Module
        Changed in place.

    Returns
    -------
    nn.Module
        The same module.
    """
    for layer in list(drop_batchnorm(discriminator).modules()):  # a snapshot: spectral_norm adds modules
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.utils.parametrizations.spectral_norm(layer)
    return discriminator


def drop_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer of ``module`` by an identity, in place.

    Chapters 6 and 7 use it for a discriminator whose output must not depend on the rest of its
    minibatch (a WGAN-GP critic, whose gradient penalty is taken per example; small-batch comparisons).

    Parameters
    ----------
    module : nn.Module
        Changed in place.

    Returns
    -------
    nn.Module
        The same module.
    """
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
                setattr(parent, name, nn.Identity())
    return module


def _check_latent(z: torch.Tensor, latent_dim: int) -> None:
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise GanlibError(f"the generator expects z of shape (B, {latent_dim}), got {tuple(z.shape)}")


def _check_data(x: torch.Tensor, data_shape: tuple[int, ...]) -> None:
    if tuple(x.shape[1:]) != data_shape:
        raise GanlibError(f"the discriminator expects inputs of shape (B, {', '.join(map(str, data_shape))}), "
                          f"got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise GanlibError(f"the discriminator expects floating-point inputs, got {x.dtype}")

"""Pairs of networks by name: :func:`build_models`, and :func:`register_models` for a variant's own pair.

The core registers ``"mlp"`` and ``"dcgan"`` (with their options: widths, ``refine``, ``pack``,
``translate``); a variant registers its pair when it is imported (``"cdcgan"`` in
:mod:`ganlib.variants.conditional`, ``"infogan"`` in :mod:`ganlib.variants.infogan`). Checkpoints store
the name and options, so :mod:`ganlib.core.checkpoint` rebuilds any registered pair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from .augment import Translated, check_shift
from .models import (MNIST_SHAPE, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator,
                     apply_spectral_norm)
from .packing import packed_dcgan_discriminator
from .utils import GanlibError

__all__ = ["build_models", "register_models", "model_names", "dcgan_widths", "no_extra_options"]


# Pairs by name. The core builds "mlp" and "dcgan" (and their "-sn" forms); a variant registers its own
# pair with register_models() when it is imported (ganlib's __init__ imports them all).
_BUILDERS: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {}


def register_models(name: str, builder: Callable[..., tuple[nn.Module, nn.Module]], *, spectral: bool = True) -> None:
    """Make ``build_models(name, ...)`` call ``builder(data_shape=..., latent_dim=..., **options)``.

    With ``spectral``, ``name + "-sn"`` builds the same pair with a spectrally normalized D."""
    _BUILDERS[name] = builder
    if spectral:
        _BUILDERS[name + "-sn"] = lambda **kw: _spectral(builder(**kw))


def model_names() -> tuple[str, ...]:
    """The names :func:`build_models` knows (the CLI's ``--model`` choices)."""
    return tuple(_BUILDERS)


def _spectral(pair: tuple[nn.Module, nn.Module]) -> tuple[nn.Module, nn.Module]:
    return pair[0], apply_spectral_norm(pair[1])


def build_models(name: str, *, data_shape: Sequence[int] = MNIST_SHAPE, latent_dim: int = 100,
                 **kwargs) -> tuple[nn.Module, nn.Module]:
    """Build a ``(generator, discriminator)`` pair by name.

    Parameters
    ----------
    name : str
        One of :func:`model_names`: ``"mlp"``, ``"dcgan"``, the variants' ``"cdcgan"``
        (:mod:`ganlib.variants.conditional`, option ``num_classes``) and ``"infogan"``
        (:mod:`ganlib.variants.infogan`), each also with ``"-sn"``: D spectrally normalized
        (:func:`apply_spectral_norm`).
    data_shape : sequence of int
        Shape of one sample; DCGAN only supports ``(1, 28, 28)``.
    latent_dim : int
        Size of ``z``.
    **kwargs
        ``hidden`` / ``g_hidden`` / ``d_hidden`` / ``out_activation`` for the MLP; ``width`` (or
        ``g_width`` / ``d_width``) for DCGAN, and for ``"dcgan"`` also ``refine``
        (:class:`DCGANGenerator`), ``pack`` (D judges packs of that many digits,
        :func:`ganlib.core.packing.packed_dcgan_discriminator`; 1 = plain D) and ``translate`` (D sees
        its inputs shifted by up to that many pixels while training, :class:`ganlib.core.augment.Translated`).

    Returns
    -------
    generator, discriminator : nn.Module
    """
    if name not in _BUILDERS:
        raise GanlibError(f"unknown model {name!r}; expected one of {model_names()}")
    return _BUILDERS[name](data_shape=tuple(int(s) for s in data_shape), latent_dim=latent_dim, **kwargs)


def _mlp_pair(*, data_shape: tuple[int, ...], latent_dim: int, **kwargs) -> tuple[nn.Module, nn.Module]:
    hidden = tuple(kwargs.pop("hidden", (128,)))
    g_hidden = tuple(kwargs.pop("g_hidden", hidden))
    d_hidden = tuple(kwargs.pop("d_hidden", hidden))
    out_activation = kwargs.pop("out_activation", "tanh" if len(data_shape) == 3 else None)
    no_extra_options(kwargs, "mlp")
    return (MLPGenerator(latent_dim=latent_dim, data_shape=data_shape, hidden=g_hidden, out_activation=out_activation),
            MLPDiscriminator(data_shape=data_shape, hidden=d_hidden))


def dcgan_widths(data_shape: tuple[int, ...], kwargs: dict) -> tuple[int, int]:
    """``(g_width, d_width)`` popped from a DCGAN builder's options; a clear error for other shapes."""
    if data_shape != MNIST_SHAPE:
        raise GanlibError(f"the DCGAN models are for 28x28 images {MNIST_SHAPE}, not {data_shape}; "
                          "use --model mlp for 2-D data")
    width = int(kwargs.pop("width", 64))
    return int(kwargs.pop("g_width", width)), int(kwargs.pop("d_width", width))


def _dcgan_pair(*, data_shape: tuple[int, ...], latent_dim: int, **kwargs) -> tuple[nn.Module, nn.Module]:
    g_width, d_width = dcgan_widths(data_shape, kwargs)
    refine, pack, shift = kwargs.pop("refine", False), kwargs.pop("pack", 1), kwargs.pop("translate", 0)
    no_extra_options(kwargs, "dcgan")
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        raise GanlibError(f"pack must be a positive integer (1 = plain D), got {pack!r}")
    check_shift(shift, "translate")
    if pack > 1:
        discriminator = packed_dcgan_discriminator(pack, width=d_width)
    else:
        discriminator = DCGANDiscriminator(width=d_width)
    if shift:
        discriminator = Translated(discriminator, shift)
    return DCGANGenerator(latent_dim=latent_dim, width=g_width, refine=refine), discriminator


register_models("mlp", _mlp_pair)
register_models("dcgan", _dcgan_pair)


def no_extra_options(kwargs: dict, name: str) -> None:
    if kwargs:
        raise GanlibError(f"model {name!r} takes no options {sorted(kwargs)}")

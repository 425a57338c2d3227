"""Chapter 7's remedies experiment: one run set up with one remedy, by name, so the remedies compare fairly.

:func:`prepare` builds a model spec's pair and applies one remedy of :data:`REMEDIES` (a loss, a wrapper
around D, an EMA of G or a learning-rate ratio), leaving everything else as the baseline's; the chapter's
remedies tables and exercise 7.5 train what it returns. It is a book-only helper: the remedies themselves
(:class:`~ganlib.variants.remedies.InstanceNoise`, :class:`~ganlib.core.packing.Packed`,
:class:`~ganlib.variants.remedies.MinibatchStdDev`, :class:`~ganlib.variants.remedies.EMA`) live in
:mod:`ganlib.variants.remedies`, and nothing in the library imports this module.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

from torch import nn

from ..core.models import MNIST_SHAPE
from ..core.packing import packed_dcgan_discriminator, packed_mlp_discriminator
from ..core.config import TrainConfig
from ..core.run import Run
from ..core.utils import GanlibError, check_positive
from ..core.zoo import build_models
from ..variants.remedies import (NOISE_SIGMA, EMA, InstanceNoise, mbstd_dcgan_discriminator,
                                 mbstd_mlp_discriminator)

__all__ = ["REMEDIES", "Prepared", "prepare", "TTUR_RATIO"]

TTUR_RATIO = 4.0    # lr_d / lr_g in prepare("ttur") (e.g. SAGAN's 4e-4 / 1e-4)

#: The remedies :func:`prepare` knows by name, ``"baseline"`` (none), ``"ns-smooth"``, ``"ns-r1"``,
#: ``"instance-noise"``, ``"pack2"``, ``"pack4"``, ``"mbstd"``, ``"ema"`` and ``"ttur"``.
REMEDIES = ("baseline", "ns-smooth", "ns-r1", "instance-noise", "pack2", "pack4", "mbstd", "ema", "ttur")


class Prepared(NamedTuple):
    """A run set up with one remedy: pass the first four to :func:`ganlib.train`, evaluate ``sampler``."""

    generator: nn.Module
    discriminator: nn.Module
    config: TrainConfig
    callback: Callable[[Run], None] | None
    sampler: nn.Module      # what to sample and evaluate: the generator, or its EMA copy
    ema: EMA | None = None


def prepare(remedy: str, model: dict, config: TrainConfig, *, noise_sigma: float = NOISE_SIGMA,
            ema_decay: float = 0.99, ema_start: int | None = None, ttur_ratio: float = TTUR_RATIO) -> Prepared:
    """Build the models of ``model`` and set up a run with one remedy of :data:`REMEDIES`.

    Parameters
    ----------
    remedy : str
        A name in :data:`REMEDIES`: ``"baseline"`` trains ``config`` as given; ``"ns-smooth"`` and
        ``"ns-r1"`` switch the loss; ``"instance-noise"`` wraps D in
        :class:`~ganlib.variants.remedies.InstanceNoise` annealed from ``noise_sigma`` to 0 over the run;
        ``"pack2"`` / ``"pack4"`` use a :class:`~ganlib.core.packing.Packed` D and ``"mbstd"`` a D with
        :class:`~ganlib.variants.remedies.MinibatchStdDev` (MLP and DCGAN models); ``"ema"`` samples an
        :class:`~ganlib.variants.remedies.EMA` of G; ``"ttur"`` keeps ``lr_d`` and sets
        ``lr_g = lr_d / ttur_ratio``.
    model : dict
        A model spec for :func:`ganlib.build_models`, e.g. ``ganlib.recipes.recipe("ring").model``.
    config : TrainConfig
        The baseline's training settings.
    noise_sigma : float
        Starting std of the instance noise.
    ema_decay : float
        Decay of the EMA (0.99: about 100 steps, for runs of a few thousand steps).
    ema_start : int, optional
        Step from which the EMA averages; default a quarter of ``config.num_steps``.
    ttur_ratio : float
        ``lr_d / lr_g`` for ``"ttur"``.

    Returns
    -------
    Prepared
    """
    if remedy not in REMEDIES:
        raise GanlibError(f"unknown remedy {remedy!r}; expected one of {REMEDIES}")
    if not isinstance(model, dict) or "name" not in model:
        raise GanlibError("model must be a model spec dict with a 'name', e.g. recipe('ring').model")
    spec = dict(model)
    generator, discriminator = build_models(**spec)
    callback, ema = None, None
    if remedy in ("ns-smooth", "ns-r1"):
        config = dataclasses.replace(config, loss=remedy)
    elif remedy == "instance-noise":
        discriminator = InstanceNoise(discriminator, noise_sigma, final_sigma=0.0, anneal_steps=config.num_steps)
        callback = discriminator.anneal
    elif remedy in ("pack2", "pack4", "mbstd"):
        discriminator = _batch_aware_discriminator(remedy, spec, config)
    elif remedy == "ema":
        start = config.num_steps // 4 if ema_start is None else ema_start
        ema = EMA(generator, ema_decay, start_step=start)
        callback = ema.update
    elif remedy == "ttur":
        check_positive("ttur_ratio", ttur_ratio)
        config = dataclasses.replace(config, lr_g=config.lr_d / ttur_ratio)
    return Prepared(generator, discriminator, config, callback, ema.generator if ema else generator, ema)


def _batch_aware_discriminator(remedy: str, spec: dict, config: TrainConfig) -> nn.Module:
    """The D of ``"pack2"``, ``"pack4"`` or ``"mbstd"`` for an MLP or DCGAN model spec."""
    if spec["name"] not in ("mlp", "dcgan"):
        raise GanlibError(f"prepare({remedy!r}) builds MLP and DCGAN discriminators only, not {spec['name']!r}")
    m = int(remedy[-1]) if remedy != "mbstd" else 1
    if config.batch_size % m:
        raise GanlibError(f"packing by {m} needs a batch size divisible by {m}, got {config.batch_size}")
    if spec["name"] == "dcgan":
        width = int(spec.get("d_width", spec.get("width", 64)))
        return (mbstd_dcgan_discriminator(width=width) if remedy == "mbstd"
                else packed_dcgan_discriminator(m, width=width))
    hidden = spec.get("d_hidden", spec.get("hidden", (128,)))
    data_shape = spec.get("data_shape", MNIST_SHAPE)
    return (mbstd_mlp_discriminator(data_shape=data_shape, hidden=hidden) if remedy == "mbstd"
            else packed_mlp_discriminator(m, data_shape=data_shape, hidden=hidden))

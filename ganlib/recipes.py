"""Recommended recipes: the model and training settings the book and the CLI use by default.

Holds: :data:`RECIPES` and :func:`recipe`. A recipe is chosen by measurement (the numbers are in
the book's chapters and in ``benchmarks/``) and lives here once, so the CLI and the chapters
cannot drift apart. It does not hold the loop or the models.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from .train import TrainConfig
from .utils import GanlibError

__all__ = ["Recipe", "RECIPES", "recipe"]


class Recipe(NamedTuple):
    """A model spec (for :func:`ganlib.build_models`) and a :class:`TrainConfig`."""

    model: dict
    config: TrainConfig


#: The recipes by ``(dataset, model)``, for ``("mnist", "dcgan")``, ``("mnist", "mlp")``,
#: ``("ring", "mlp")`` and ``("grid", "mlp")``; read one with :func:`recipe`.
#:
#: :meta hide-value:
RECIPES: dict[tuple[str, str], Recipe] = {
    # DCGAN on the 5 000 offline digits, chosen by measurement (seed 0, 2 000 samples, ganlib.metrics):
    # with BatchNorm in D and Adam at 1e-3 the share of confidently classified samples reaches its
    # plateau (~0.68) by step 1 500; lr 2e-4 was at 0.57, D without BatchNorm at 0.36 (step 500),
    # a twice-as-wide G gained 0.01 for 1.5x the time. About 2 minutes on a 2-core CPU.
    ("mnist", "dcgan"): Recipe(
        model={"name": "dcgan", "data_shape": (1, 28, 28), "latent_dim": 100, "width": 32},
        config=TrainConfig(num_steps=1500, batch_size=64, lr_g=1e-3, lr_d=1e-3, loss="ns",
                           log_every=50)),
    # The source article's MLP (one hidden layer of 128) with its 10 000 iterations of 64 images.
    ("mnist", "mlp"): Recipe(
        model={"name": "mlp", "data_shape": (1, 28, 28), "latent_dim": 100, "hidden": (128,)},
        config=TrainConfig(num_steps=10_000, batch_size=64, lr_g=2e-4, lr_d=2e-4, loss="ns",
                           log_every=100)),
    ("ring", "mlp"): Recipe(
        model={"name": "mlp", "data_shape": (2,), "latent_dim": 16, "hidden": (128, 128)},
        config=TrainConfig(num_steps=3000, batch_size=256, lr_g=1e-3, lr_d=1e-3, loss="ns",
                           log_every=100)),
    ("grid", "mlp"): Recipe(
        model={"name": "mlp", "data_shape": (2,), "latent_dim": 16, "hidden": (128, 128)},
        config=TrainConfig(num_steps=3000, batch_size=256, lr_g=1e-3, lr_d=1e-3, loss="ns",
                           log_every=100)),
}


def recipe(dataset: str, model: str | None = None, **config_changes) -> Recipe:
    """Return the recommended recipe for ``dataset`` (and ``model``), with optional config changes.

    Parameters
    ----------
    dataset : {"mnist", "ring", "grid"}
    model : {"dcgan", "mlp", "cdcgan", "dcgan-sn", "mlp-sn", "cdcgan-sn"}, optional
        Default: ``"dcgan"`` for MNIST, ``"mlp"`` for the 2-D toys. ``"cdcgan"`` (conditional) takes
        the DCGAN recipe. A ``"-sn"`` model (spectrally
        normalized D) takes the recipe of its plain model with the hinge loss, SN-GAN's pairing
        (Miyato et al., 2018); it is not tuned separately.
    **config_changes
        Fields of :class:`TrainConfig` to change, e.g. ``num_steps=500``.

    Returns
    -------
    Recipe
    """
    model = model or ("dcgan" if dataset == "mnist" else "mlp")
    if model == "cdcgan":  # the conditional pair trains with the DCGAN recipe (not tuned separately)
        base = recipe(dataset, "dcgan", **config_changes)
        return Recipe({**base.model, "name": model}, base.config)
    if isinstance(model, str) and model.endswith("-sn"):
        base = recipe(dataset, model[:-3])
        changes = {"loss": "hinge", **config_changes}
        return Recipe({**base.model, "name": model}, dataclasses.replace(base.config, **changes))
    try:
        found = RECIPES[(dataset, model)]
    except KeyError:
        known = ", ".join(f"{d}/{m}" for d, m in RECIPES)
        raise GanlibError(f"no recipe for dataset {dataset!r} with model {model!r}; known: {known}") from None
    return Recipe(dict(found.model), dataclasses.replace(found.config, **config_changes))

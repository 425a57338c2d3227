"""Recommended recipes: the model and training settings the book and the CLI use by default.

Holds: :data:`RECIPES` and :func:`recipe`. A recipe is chosen by measurement and lives here once, so
the CLI and the chapters cannot drift apart. The comments say why each setting is there; the numbers
are in the README (from ``benchmarks/mnist_recipe.py`` and ``benchmarks/toy_recipes.py``) and in
``benchmarks/results/NOTES.md``. It does not hold the loop or the models.
"""

from __future__ import annotations

from typing import NamedTuple

from .config import LRDecay, Regularization, TrainConfig, with_changes
from .utils import GanlibError

__all__ = ["Recipe", "RECIPES", "PLAIN_DCGAN", "recipe"]


class Recipe(NamedTuple):
    """A model spec (for :func:`ganlib.build_models`) and a :class:`TrainConfig`."""

    model: dict
    config: TrainConfig


#: The plain DCGAN pair on MNIST and its settings before the recipe's additions. The conditional
#: pair ("cdcgan") trains with these (build_models offers refine, pack and translate for "dcgan"
#: only), and ``benchmarks/mnist_recipe.py`` compares the recipe with them.
#:
#: :meta hide-value:
PLAIN_DCGAN = Recipe(model={"name": "dcgan", "data_shape": (1, 28, 28), "latent_dim": 100, "width": 32},
                     config=TrainConfig(num_steps=1500, batch_size=64, lr_g=1e-3, lr_d=1e-3, loss="ns",
                                        log_every=50))
_TOY_MODEL = {"name": "mlp", "data_shape": (2,), "latent_dim": 4, "hidden": (128, 128, 128)}
_TOY_CONFIG = TrainConfig(num_steps=32_000, batch_size=256, lr_g=1e-3, lr_d=2e-3, loss="ns-r1-0.1", log_every=100,
                          regularization=Regularization(penalty_every=4),
                          lr_decay=LRDecay(start=16_000, end=32_000, factor=0.01))

#: The recipes by ``(dataset, model)``, for ``("mnist", "dcgan")``, ``("mnist", "mlp")``,
#: ``("ring", "mlp")`` and ``("grid", "mlp")``; read one with :func:`recipe`.
#:
#: :meta hide-value:
RECIPES: dict[tuple[str, str], Recipe] = {
    # DCGAN on the 5 000 offline digits. The plain pair (`PLAIN_DCGAN`) plateaus short of the target (70 %
    # confidently classified samples, every digit >= 5 %); each addition is there for one reason: D packed by
    # two (PacGAN) and a 32-number z, for class balance; D's inputs shifted by up to 2 px (DiffAugment), since
    # D can learn 5 000 digits by heart; G drawing at 28x28 with a 3x3 convolution (`refine`), so that no
    # digit becomes rare; D's learning rate twice G's, which raised the share of confident samples; both
    # decaying to a tenth over the last 1 400 steps, which holds the gains instead of letting them drift back;
    # and, for speed, G's step judging the D step's fakes (reuse_fakes: one forward pass of G fewer a step,
    # the same quality within the spread over seeds). Measured in benchmarks/mnist_recipe.py (README); what
    # did not help is in benchmarks/results/NOTES.md.
    ("mnist", "dcgan"): Recipe(
        model={**PLAIN_DCGAN.model, "latent_dim": 32, "refine": True, "pack": 2, "translate": 2},
        config=with_changes(PLAIN_DCGAN.config, num_steps=3600, lr_d=2e-3, lr_decay_start=2200,
                            lr_decay_end=3600, lr_decay_factor=0.1, reuse_fakes=True)),
    # The source article's MLP (one hidden layer of 128) with its 10 000 iterations of 64 images.
    ("mnist", "mlp"): Recipe(
        model={"name": "mlp", "data_shape": (1, 28, 28), "latent_dim": 100, "hidden": (128,)},
        config=TrainConfig(num_steps=10_000, batch_size=64, lr_g=2e-4, lr_d=2e-4, loss="ns",
                           log_every=100)),
    # The 2-D toys. How many samples land near a mode (HQ) is set by how long the learning rates fall: at a
    # constant rate G circles the equilibrium, and a linear decay to 1 % over the second half of the run
    # sharpens the modes and thins the bridges between them, so the run is as long as fits well within the 5
    # CPU-minutes a run may take. D's learning rate is twice G's, which helped the grid. Three hidden layers,
    # a 4-D latent and R1 with gamma 0.1 beat the alternatives tried; R1 is applied lazily (penalty_every=4:
    # every fourth D update, four times as strong, as in StyleGAN2), as good as on every update for less CPU
    # time. Measured in benchmarks/toy_recipes.py (README, appendix A2 and the stored
    # ganlib/assets/toy_benchmark.json); the single runs behind each choice, and what did not help, are in
    # benchmarks/results/NOTES.md.
    ("ring", "mlp"): Recipe(model=_TOY_MODEL, config=_TOY_CONFIG),
    ("grid", "mlp"): Recipe(model=_TOY_MODEL, config=_TOY_CONFIG),
}


def recipe(dataset: str, model: str | None = None, **config_changes) -> Recipe:
    """Return the recommended recipe for ``dataset`` (and ``model``), with optional config changes.

    Parameters
    ----------
    dataset : {"mnist", "ring", "grid"}
    model : {"dcgan", "mlp", "cdcgan", "dcgan-sn", "mlp-sn", "cdcgan-sn"}, optional
        Default: ``"dcgan"`` for MNIST, ``"mlp"`` for the 2-D toys. ``"cdcgan"`` (conditional) takes
        the plain DCGAN pair's settings, without the refinement, packing and augmentation of
        ``"dcgan"``. A ``"-sn"`` model (spectrally normalized D) takes the recipe of its plain model
        with the hinge loss, SN-GAN's pairing (Miyato et al., 2018); it is not tuned separately.
    **config_changes
        Fields of :class:`TrainConfig` to change, e.g. ``num_steps=500``. A learning-rate decay is
        set in steps of the run (``lr_decay_start``, ``lr_decay_end``): a new ``num_steps`` does not
        move it, so a run continued with ``--resume`` follows the same schedule as one uninterrupted run.

    Returns
    -------
    Recipe
    """
    model = model or ("dcgan" if dataset == "mnist" else "mlp")
    if model == "cdcgan":  # the conditional pair trains with the plain DCGAN settings (not tuned separately)
        recipe(dataset, "dcgan")  # the same error for a dataset without a DCGAN recipe
        return Recipe({**PLAIN_DCGAN.model, "name": model}, with_changes(PLAIN_DCGAN.config, **config_changes))
    if isinstance(model, str) and model.endswith("-sn"):
        base = recipe(dataset, model[:-3])
        changes = {"loss": "hinge", **config_changes}
        return Recipe({**base.model, "name": model}, with_changes(base.config, **changes))
    try:
        found = RECIPES[(dataset, model)]
    except KeyError:
        known = ", ".join(f"{d}/{m}" for d, m in RECIPES)
        raise GanlibError(f"no recipe for dataset {dataset!r} with model {model!r}; known: {known}") from None
    return Recipe(dict(found.model), with_changes(found.config, **config_changes))

"""Recommended recipes: the model and training settings the book and the CLI use by default.

Holds: :data:`RECIPES` and :func:`recipe`. A recipe is chosen by measurement (the numbers are in
the book's chapters and in ``benchmarks/``) and lives here once, so the CLI and the chapters
cannot drift apart. It does not hold the loop or the models.
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
    # DCGAN on the 5 000 offline digits, chosen by measurement (2 000 samples, ganlib.metrics; the table
    # over five seeds and what each addition did are in the README, from `benchmarks/mnist_recipe.py`).
    # The plain pair (`PLAIN_DCGAN` above) plateaus at ~0.65-0.67 confidently classified samples with
    # its rarest digit at 4-5 %; lr 2e-4 was at 0.57, D without BatchNorm at 0.36, EMA of G,
    # minibatch-std and a twice-as-wide G gained <= 0.01. The recipe adds: D packed by two (PacGAN) and a
    # 32-number z, for class balance; D's inputs shifted by up to 2 px (DiffAugment), since D can learn
    # 5 000 digits by heart; G drawing at 28x28 with a 3x3 convolution (`refine`); D's learning rate
    # twice G's; both decaying to a tenth over the last 1 400 steps; and, for speed, G's step judging the
    # D step's fakes (reuse_fakes: one forward pass of G fewer a step). Over seeds 0-4: 0.712 +- 0.002
    # confident, rarest digit 0.057 +- 0.001, target (0.70 and 5 %) met 5 of 5, ~1.9 min on a 2-core CPU;
    # with G's step on fresh noise: 0.711 +- 0.006, 0.065 +- 0.004, 4 of 5, ~2.5 min.
    ("mnist", "dcgan"): Recipe(
        model={**PLAIN_DCGAN.model, "latent_dim": 32, "refine": True, "pack": 2, "translate": 2},
        config=with_changes(PLAIN_DCGAN.config, num_steps=3600, lr_d=2e-3, lr_decay_start=2200,
                            lr_decay_end=3600, lr_decay_factor=0.1, reuse_fakes=True)),
    # The source article's MLP (one hidden layer of 128) with its 10 000 iterations of 64 images.
    ("mnist", "mlp"): Recipe(
        model={"name": "mlp", "data_shape": (1, 28, 28), "latent_dim": 100, "hidden": (128,)},
        config=TrainConfig(num_steps=10_000, batch_size=64, lr_g=2e-4, lr_d=2e-4, loss="ns",
                           log_every=100)),
    # The 2-D toys, chosen by measurement (seed 1, 2 500 samples, ganlib.metrics2d, one CPU thread; five
    # seeds of both are kept in ganlib/assets/toy_benchmark.json by benchmarks/toy_recipes.py, and the
    # book's appendix A2 shows them). The share of high-quality (HQ) samples is set by how long the
    # learning rates fall: at a constant rate G circles the equilibrium (12-40 % HQ on the ring at step
    # 3 000, seeds 0-4), and a linear decay to 1 % over the second half of the run sharpens the modes and
    # thins the bridges between them. Ring / grid HQ with that decay: 6 000 steps (the recipe until
    # 2026-11-30) 80 % / 29 %, 12 000 steps 87 % / 55 %, 20 000 steps 90 % / 78 %; with lr_d = 2e-3 (twice
    # lr_g) 24 000 steps 92 % / 89 % and these 32 000 steps 94 % / 90 % in ~190 CPU-s (40 000: 95 % / 93 %
    # in ~270 CPU-s, too close to the 5 CPU-minutes a run may take). lr_d = 2e-3 alone, at 12 000 steps:
    # 86 % / 72 % against 87 % / 55 %. Batches of 512 or 1 024 helped the grid about as much per CPU-second
    # as more steps did (512, 16 000 steps: 89 % / 82 %, 175 s). Not better: lr_d = 4e-3 (91 % / 86 % at
    # 24 000), Adam's betas (0, 0.99) (94 % / 88 %), packing D by two (93 % / 80 %), the decay from a third
    # of the run (92 % / 87 %), R1 gamma 0.03 (the grid lost 5 modes), an EMA of G (6 000 steps, 79 % / 20 %),
    # G three layers of 256 (12 000 steps, 87 % / 64 %, 1.3x the time).
    # Earlier, at 6 000 steps: three hidden layers and a 4-D latent beat two layers and 16-D; R1 with
    # gamma 0.1 beat 0.01 and 1 on the grid; R1 applied lazily (penalty_every=4: every fourth D update,
    # four times as strong, as in StyleGAN2) was as good as on every update in 72 % of the CPU time.
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

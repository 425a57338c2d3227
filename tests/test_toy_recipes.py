"""Fast checks of the 2-D toy recipes (ring/mlp, grid/mlp) in ganlib.recipes.

The recipes' quality (modes, high-quality samples, reverse KL over seeds) is measured by
``benchmarks/toy_recipes.py``, which takes minutes; these tests only check that the recipes build,
fit their data and train without blowing up, in a few seconds.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from ganlib import build_models, sample_toy, seed_everything
from ganlib.data import grid_means
from ganlib.recipes import RECIPES, recipe
from ganlib.train import HISTORY_KEYS, train
from ganlib.utils import GanlibError

TOYS = ("ring", "grid")
SMOKE_STEPS = 50


@pytest.mark.parametrize("dataset", TOYS)
def test_toy_recipe_is_the_cli_default_and_builds(dataset):
    plan = recipe(dataset)  # the CLI's `train --dataset ring|grid` takes this one
    assert plan is not RECIPES[(dataset, "mlp")] and plan.model == RECIPES[(dataset, "mlp")].model
    assert plan.model["name"] == "mlp" and tuple(plan.model["data_shape"]) == (2,)
    seed_everything(0)
    generator, discriminator = build_models(**plan.model)
    z = torch.randn(7, generator.latent_dim)
    x = generator(z)
    assert x.shape == (7, 2)
    assert discriminator(x).shape == (7,)


def test_grid_generator_has_no_tanh():
    # the grid's modes sit at +-4: a tanh output (range (-1, 1)) could not reach any but the centre
    generator, _ = build_models(**recipe("grid").model)
    assert not any(isinstance(m, nn.Tanh) for m in generator.modules())
    assert float(grid_means().abs().max()) == 4.0


@pytest.mark.parametrize("dataset", TOYS)
def test_toy_recipe_smoke_run_has_finite_history(dataset):
    plan = recipe(dataset, num_steps=SMOKE_STEPS, log_every=10, progress=False, seed=0)
    assert plan.config.num_steps == SMOKE_STEPS
    seed_everything(0)
    generator, discriminator = build_models(**plan.model)
    data = sample_toy(dataset, max(2048, plan.config.batch_size), generator=torch.Generator().manual_seed(0))
    run = train(generator, discriminator, data, plan.config, device="cpu")
    assert run.step == SMOKE_STEPS
    assert len(run.history["step"]) == SMOKE_STEPS // 10
    for key in HISTORY_KEYS:
        assert all(math.isfinite(v) for v in run.history[key]), key
    assert all(torch.isfinite(p).all() for p in generator.parameters())


def test_recipe_config_changes_leave_the_table_alone():
    before = RECIPES[("ring", "mlp")]
    changed = recipe("ring", num_steps=SMOKE_STEPS, lr_g=5e-4)
    assert changed.config == dataclasses.replace(before.config, num_steps=SMOKE_STEPS, lr_g=5e-4)
    assert RECIPES[("ring", "mlp")] is before
    with pytest.raises(GanlibError, match="num_steps"):
        recipe("ring", num_steps=0)


def test_protocol_run_is_the_cli_run_and_is_reproducible():
    from ganlib.benchmark2d import run_protocol, run_protocols

    one = run_protocol("ring", 1, num_steps=20)
    assert one["points"].shape == (2500, 2) and one["total_modes"] == 8 and one["method"] == "recipe"
    again, vanilla = run_protocols([("ring", 1, "recipe"), ("ring", 1, "vanilla")], num_steps=20, workers=1)
    assert torch.equal(again["points"], one["points"]), "same dataset, seed and method: same samples"
    assert not torch.equal(vanilla["points"], one["points"])
    with pytest.raises(Exception, match="unknown method"):
        run_protocol("ring", 1, "tuned")

"""Fast checks of the 2-D toy recipes (ring/mlp, grid/mlp) in ganlib.recipes.

The recipes' quality (modes, high-quality samples, reverse KL over seeds) is measured by
``benchmarks/toy_recipes.py``, which takes minutes; these tests only check that the recipes build,
fit their data and train without blowing up, in a few seconds, that the script saves what it prints,
and that its stored output (the book's table) was measured with the recipes as they are now.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from ganlib import build_models, sample_toy, seed_everything
from ganlib.eval.benchmark2d import METHODS, STORED_PATH, stored_benchmark
from ganlib.core.data import grid_means
from ganlib.core.recipes import RECIPES, recipe
from ganlib.core.run import HISTORY_KEYS
from ganlib.core.train import train
from ganlib.core.utils import GanlibError

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
    from ganlib.eval.benchmark2d import run_protocol, run_protocols

    one = run_protocol("ring", 1, num_steps=20)
    assert one["points"].shape == (2500, 2) and one["total_modes"] == 8 and one["method"] == "recipe"
    again, vanilla = run_protocols([("ring", 1, "recipe"), ("ring", 1, "vanilla")], num_steps=20, workers=1)
    assert torch.equal(again["points"], one["points"]), "same dataset, seed and method: same samples"
    assert not torch.equal(vanilla["points"], one["points"])
    with pytest.raises(Exception, match="unknown method"):
        run_protocol("ring", 1, "tuned")


@pytest.fixture
def toy_recipes_script(load_script):
    return load_script("benchmarks/toy_recipes.py")


def test_stored_benchmark_was_measured_with_todays_recipes():
    # a recipe change without `benchmarks/toy_recipes.py --save` again makes this fail: the book's table
    # would show numbers of settings that no longer exist
    stored = stored_benchmark()
    assert stored["steps"] is None and len(stored["seeds"]) >= 5
    for dataset in TOYS:
        for method in METHODS:
            rows = [r for r in stored["runs"] if r["dataset"] == dataset and r["method"] == method]
            assert sorted(r["seed"] for r in rows) == sorted(stored["seeds"])
            for metric in ("modes", "hq_fraction", "reverse_kl"):  # the summary is the mean of the rows
                mean = sum(r[metric] for r in rows) / len(rows)
                assert stored[f"{dataset}/{method}"][metric][0] == pytest.approx(mean, abs=1e-4)


def test_stored_benchmark_refuses_other_settings_and_bad_files(tmp_path):
    stored = json.loads(STORED_PATH.read_text())
    stored["grid/recipe"]["config"]["lr_d"] /= 2
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(stored))
    with pytest.raises(GanlibError, match="other settings for grid/recipe"):
        stored_benchmark(changed)
    broken = tmp_path / "broken.json"
    broken.write_text(STORED_PATH.read_text()[:100])
    with pytest.raises(GanlibError, match="cannot read"):
        stored_benchmark(broken)


def test_toy_recipes_script_saves_what_it_prints(toy_recipes_script, tmp_path, capsys):
    script = toy_recipes_script
    out = tmp_path / "quick.json"
    summary = script.main(["--seeds", "1", "--datasets", "ring", "--steps", "3", "--save", str(out)])
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(summary)) and saved["steps"] == 3 and len(saved["runs"]) == 1
    assert saved["ring/recipe"]["config"]["num_steps"] == 3
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["ring/recipe"] == saved["ring/recipe"] and "runs" not in printed
    with pytest.raises(GanlibError, match="no full-length"):
        stored_benchmark(out)  # a quick check is never taken for the book's table


@pytest.mark.parametrize("args", [["--workers", "0"], ["--steps", "0"]])
def test_toy_recipes_script_refuses_bad_counts(toy_recipes_script, args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        toy_recipes_script.main(args)
    assert exit_info.value.code == 2 and "must be a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("text", ['[1, 2]', '{"ring/recipe": 3}', '{"ring/recipe/x": {}}', '{"seeds": [1]}'])
def test_stored_benchmark_refuses_files_not_shaped_as_written(tmp_path, text):
    path = tmp_path / "odd.json"
    path.write_text(text)
    with pytest.raises(GanlibError, match="cannot read|no full-length"):
        stored_benchmark(path)

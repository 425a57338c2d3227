"""Tests of ganlib.diagnose: real failure recipes trained here on the 2-D toys, and the rules at their edges.

Each recipe is a short run (about 1-4 s on one thread) that really shows its pathology; the
hand-made histories below are only for ``diverged``, ``too_short`` and the thresholds' boundaries.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

import ganlib
from ganlib import TrainConfig, build_models, sample_toy, seed_everything, train
from ganlib import diagnose as doctor
from ganlib.eval.diagnose import Diagnosis, diagnose
from ganlib.eval.quality import evaluator
from ganlib.core.utils import GanlibError

# name -> (data set, model changes, config changes). Hidden (32, 32), latent 4, batch 64, a row every 10 steps.
RECIPES = {
    "healthy": ("grid", {}, dict(num_steps=500, lr_g=1e-3, lr_d=1e-3, eval_every=250)),
    # a big, fast D taking k = 5 steps per step of an (almost) frozen G
    "d_overpowering": ("ring", {"d_hidden": (64, 64)}, dict(num_steps=100, lr_g=1e-6, lr_d=1e-3, d_steps=5)),
    "saturation": ("ring", {"d_hidden": (64, 64)},
                   dict(num_steps=100, lr_g=1e-6, lr_d=1e-3, d_steps=5, loss="minimax")),
    # TTUR the wrong way round with a deep D: G falls onto one of the grid's 25 modes
    "mode_collapse": ("grid", {"d_hidden": (128, 128, 128)},
                      dict(num_steps=500, lr_g=1e-4, lr_d=1e-3, eval_every=250)),
    # Adam at 5e-2 with beta1 0.9: the players overshoot each other (at 2e-2, 2 seeds of 10 settled;
    # at 5e-2, 12 of 12 oscillated: a recipe must show its pathology for any GANLIB_SEED_OFFSET)
    "oscillation": ("ring", {}, dict(num_steps=500, lr_g=5e-2, lr_d=5e-2, betas=(0.9, 0.999))),
}


def _train(name: str, seed: int) -> ganlib.Run:
    dataset, model, changes = RECIPES[name]
    seed_everything(seed)
    generator, discriminator = build_models("mlp", data_shape=(2,), latent_dim=4, hidden=(32, 32), **model)
    data = sample_toy(dataset, 2048, generator=ganlib.rng(seed))
    config = TrainConfig(batch_size=64, log_every=10, progress=False, seed=seed, **changes)
    return train(generator, discriminator, data, config, device="cpu",
                 evaluate=evaluator(dataset) if config.eval_every else None)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(RECIPES))
def test_recipe_is_diagnosed_as_itself(name, seed):
    run = _train(name, seed)
    found = diagnose(run)
    assert found.name == name, str(found)
    assert found.all_findings[0].name == name
    # the CLI's history.json gives the same answer (the loss is then passed by hand)
    as_json = json.loads(json.dumps({**run.history, "evaluations": run.evaluations}))
    assert diagnose(as_json, loss=run.config.loss).name == name
    if name == "saturation":  # with the minimax loss, an overpowering D is *also* the reason
        assert [f.name for f in found.all_findings] == ["saturation", "d_overpowering"]


def _history(n=30, d_real=0.5, d_fake=0.5, g_loss=0.7, evaluations=None):
    rows = range(n)
    h = {"step": [10.0 * (i + 1) for i in rows], "d_loss": [1.38] * n, "g_loss": [g_loss] * n,
         "d_real": [d_real] * n, "d_fake": [d_fake] * n, "seconds": [0.1 * i for i in rows]}
    return {**h, "evaluations": evaluations or []}


def test_diverged_and_too_short():
    h = _history()
    h["d_loss"][7] = math.nan
    found = diagnose(h)
    assert found.name == "diverged" and found.evidence["step"] == 80.0 and found.evidence["keys"] == "d_loss"
    h["d_loss"][7] = None  # JSON null
    assert diagnose(h).name == "diverged"
    assert diagnose(_history(n=doctor.MIN_ROWS - 1)).name == "too_short"
    assert diagnose(_history(n=doctor.MIN_ROWS)).name == "healthy"


@pytest.mark.parametrize("delta, fires", [(0.0, True), (1e-3, False)])
def test_overpowering_boundary(delta, fires):
    found = diagnose(_history(d_real=doctor.D_REAL_HIGH - delta, d_fake=doctor.D_FAKE_LOW))
    assert (found.name == "d_overpowering") is fires
    found = diagnose(_history(d_real=doctor.D_REAL_HIGH, d_fake=doctor.D_FAKE_LOW + delta))
    assert (found.name == "d_overpowering") is fires


def test_saturation_needs_minimax_and_a_flat_g_loss():
    h = _history(d_real=0.9, d_fake=doctor.D_FAKE_LOW, g_loss=-doctor.SATURATION_G_LOSS)
    assert diagnose(h, loss="minimax").name == "saturation"
    assert diagnose(h, loss="ns").name != "saturation"
    assert diagnose({**h, "g_loss": [-2 * doctor.SATURATION_G_LOSS] * 30}, loss="minimax").name != "saturation"


@pytest.mark.parametrize("modes, reverse_kl, collapsed", [
    (2, 0.1, True),                             # 2 of 8 = MODE_SHARE_LOW
    (3, 0.1, False),
    (6, doctor.REVERSE_KL_HIGH * math.log(8), True),
    (6, 0.99 * doctor.REVERSE_KL_HIGH * math.log(8), False),
    (0, math.log(8), False),                    # nothing near any mode: not a collapse onto some
])
def test_mode_collapse_boundary_2d(modes, reverse_kl, collapsed):
    last = {"step": 300, "modes": modes, "total_modes": 8, "reverse_kl": reverse_kl}
    found = diagnose(_history(evaluations=[{**last, "modes": 1, "reverse_kl": 2.0}, last]))
    assert (found.name == "mode_collapse") is collapsed


@pytest.mark.parametrize("coverage, min_share, collapsed", [
    (1.0, doctor.MIN_CLASS_SHARE, True), (1.0, 0.03, False), (0.9, 0.05, True)])
def test_mode_collapse_boundary_mnist(coverage, min_share, collapsed):
    evals = [{"step": 100, "fid": 50.0}, {"step": 200, "fid": 40.0, "class_coverage": coverage,
                                          "min_class_share": min_share}]
    assert (diagnose(_history(evaluations=evals)).name == "mode_collapse") is collapsed


@pytest.mark.parametrize("amplitude, fires", [(0.15, True), (0.05, False)])
def test_oscillation_boundary(amplitude, fires):
    h = _history(n=60)
    # a square wave of +-amplitude/2 has std amplitude/2: 0.075 fires, 0.025 stays under OSCILLATION_STD
    h["d_fake"] = [0.5 + (amplitude / 2) * (-1) ** (i // 2) for i in range(60)]
    assert (diagnose(h).name == "oscillation") is fires
    h["d_fake"] = [0.5] * 60
    h["d_fake"][50] = 0.9  # one spike (detrended std ~0.09, but 2 sign changes) is not a swing
    assert diagnose(h).name != "oscillation"


def test_not_healthy_without_a_named_pathology():
    assert diagnose(_history(d_real=0.9, d_fake=0.1)).name == "no_progress"
    worse = [{"step": 100, "modes": 6, "total_modes": 8, "reverse_kl": 0.2},
             {"step": 200, "modes": 3, "total_modes": 8, "reverse_kl": 0.9}]
    assert diagnose(_history(evaluations=worse)).name == "no_progress"


def test_diagnosis_prints_and_renders():
    found = diagnose(_history(d_real=0.999, d_fake=0.001))
    assert isinstance(found, Diagnosis)
    assert "d_overpowering" in str(found) and found.see in str(found) and "0.999" in str(found)
    assert found._repr_markdown_().startswith("**d_overpowering**")
    assert ganlib.diagnose.diagnose is diagnose and "diagnose" in ganlib.__all__  # the module, like ganlib.exercises


@pytest.mark.parametrize("bad, words", [
    ([1, 2, 3], "Run or a history dict"),
    ({"step": [1]}, "lacks"),
    ({**_history(), "d_real": "0.5"}, "list of numbers"),
    ({**_history(), "d_real": [0.5] * 29 + ["x"]}, "only numbers"),
    ({**_history(), "d_real": [0.5] * 29}, "differ in length"),
    (_history(n=0), "empty"),
    ({**_history(), "evaluations": [{"modes": "many"}]}, "evaluations"),
])
def test_bad_input_gives_one_clear_error(bad, words):
    with pytest.raises(GanlibError, match=words):
        diagnose(bad)
    with pytest.raises(GanlibError, match="unknown loss"):
        diagnose(_history(), loss="nope")


def test_every_pointer_names_a_section_of_chapter_7():
    """SEE's MyST labels exist in the chapter (its pages 07_ and 07b_), so a reader who follows a finding
    finds the section."""
    import re
    from pathlib import Path

    chapter = "".join(p.read_text(encoding="utf-8") for p in (Path(__file__).parents[1] / "chapters").glob("07*.ipynb"))
    for name, see in doctor.SEE.items():
        labels = re.findall(r"\((ch07-[a-z0-9-]+)\)", see)
        assert labels, f"SEE[{name!r}] names no chapter-7 label: {see}"
        for label in labels:
            assert f"({label})=" in chapter, f"SEE[{name!r}] points to ({label}), which chapter 7 does not define"
        for number, title in re.findall(r"(7\.\d) '([^']+)'", see):  # the section's heading, as the page has it
            assert f"## {number} {title}" in chapter.replace("\\n", "\n"), f"SEE[{name!r}]: no section {number} {title!r}"
    title = re.search(r"Chapter 7 \(([^)]+)\)", doctor.SEE["healthy"]).group(1)
    assert f"# 7. {title}" in chapter, f"chapter 7's title is not {title!r}"


# Chapter 7 pairs each failure recipe with a "fixed twin" that changes one setting; the twins must be
# diagnosed healthy (same small sizes as RECIPES above).
TWINS = {
    "d_overpowering": {"lr_g": 1e-3},        # G learns at D's rate (D still takes k = 5 steps)
    "mode_collapse": {"lr_g": 1e-3},         # G learns at D's rate
    "oscillation": {"loss": "ns-r1"},        # the R1 penalty damps the rotation
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(TWINS))
def test_fixed_twin_is_healthy(name, seed):
    dataset, model, changes = RECIPES[name]
    seed_everything(seed)
    generator, discriminator = build_models("mlp", data_shape=(2,), latent_dim=4, hidden=(32, 32), **model)
    data = sample_toy(dataset, 2048, generator=ganlib.rng(seed))
    config = TrainConfig(batch_size=64, log_every=10, progress=False, seed=seed, **{**changes, **TWINS[name]})
    run = train(generator, discriminator, data, config, device="cpu",
                evaluate=evaluator(dataset) if config.eval_every else None)
    found = diagnose(run)
    assert found.name == "healthy", str(found)


def _saturation_run(loss: str, seed: int) -> ganlib.Run:
    """Chapter 7's saturation recipe: the 1-D toy N(4, 0.5^2) with D at k = 5 steps and 10x G's learning rate."""
    seed_everything(seed)
    generator, discriminator = build_models("mlp", data_shape=(1,), latent_dim=4, hidden=(32, 32))
    data = ganlib.gaussian_1d(10_000, mean=4.0, std=0.5, generator=torch.Generator().manual_seed(seed))
    config = TrainConfig(num_steps=200, batch_size=64, lr_g=1e-3, lr_d=1e-2, d_steps=5, loss=loss,
                         log_every=10, progress=False, seed=seed)
    return train(generator, discriminator, data, config, device="cpu")


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_discriminator_saturates_the_minimax_loss_only(seed):
    minimax, non_saturating = _saturation_run("minimax", seed), _saturation_run("ns", seed)
    assert [f.name for f in diagnose(minimax).all_findings] == ["saturation", "d_overpowering"]
    assert diagnose(non_saturating).name == "healthy"
    with torch.no_grad():  # the minimax G never left its start near 0; the non-saturating one reached the data
        assert abs(float(minimax.generator(minimax.fixed_z).mean())) < 1.0
        assert 3.0 < float(non_saturating.generator(non_saturating.fixed_z).mean()) < 5.0


def test_no_progress_names_the_condition_that_failed():
    out_of_band = diagnose(_history(d_real=0.9, d_fake=0.1))
    assert "healthy band" in out_of_band.message and "not improving" not in out_of_band.message
    worse = [{"step": 100, "modes": 6, "total_modes": 8, "reverse_kl": 0.2},
             {"step": 200, "modes": 3, "total_modes": 8, "reverse_kl": 0.9}]
    stalled = diagnose(_history(evaluations=worse))
    assert "not improving" in stalled.message and "healthy band" not in stalled.message

"""Quality on a schedule: train(evaluate=, stop_when=), ganlib.quality.evaluator and parse_target."""

from __future__ import annotations

import dataclasses

import pytest

import ganlib
from ganlib import quality
from ganlib.core.utils import GanlibError


def test_parse_target_reads_clauses_and_checks_all_of_them():
    target = quality.parse_target("modes>=8, hq_fraction>0.9,reverse_kl<=0.05")
    assert str(target) == "modes>=8,hq_fraction>0.9,reverse_kl<=0.05"
    assert target({"modes": 8, "hq_fraction": 0.95, "reverse_kl": 0.01})
    assert not target({"modes": 7, "hq_fraction": 0.95, "reverse_kl": 0.01})
    assert not target({"modes": 8, "hq_fraction": 0.9, "reverse_kl": 0.01})   # > is strict
    assert not target({"modes": 8, "hq_fraction": 0.95, "reverse_kl": 0.06})


@pytest.mark.parametrize("text", ["", "modes", "modes=>8", "modes>=x", "modes>=nan", "modes>=8,,hq>1", "8<=modes"])
def test_parse_target_rejects_what_it_cannot_read(text):
    with pytest.raises(GanlibError):
        quality.parse_target(text)


def test_a_target_on_an_unmeasured_metric_is_a_clear_error():
    with pytest.raises(GanlibError, match="'fid' is not measured"):
        quality.parse_target("fid<=10")({"modes": 8.0})


def test_evaluator_on_the_ring_gives_the_protocol_metrics(make_models):
    generator, _ = make_models()
    metrics = quality.evaluator("ring", 500)(generator)
    assert metrics["n_samples"] == 500 and metrics["total_modes"] == 8
    assert quality.evaluator("ring", 500)(generator) == metrics, "the evaluator's noise is fixed"
    with pytest.raises(GanlibError):
        quality.evaluator("cifar")
    with pytest.raises(GanlibError):
        quality.evaluator("ring", 1)


def test_train_evaluates_on_schedule_and_at_the_end(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    calls = []

    def evaluate(g):
        calls.append(g.training)
        return {"score": float(len(calls))}

    config = dataclasses.replace(tiny_config, num_steps=23, eval_every=10)
    run = ganlib.train(generator, discriminator, ring_data, config, device="cpu", evaluate=evaluate)
    assert [e["step"] for e in run.evaluations] == [10, 20, 23]
    assert [e["score"] for e in run.evaluations] == [1.0, 2.0, 3.0]
    assert all(e["seconds"] > 0 for e in run.evaluations) and not run.target_met
    assert generator.training, "the generator is back in training mode after evaluating"


def test_train_stops_when_the_target_is_met(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    config = dataclasses.replace(tiny_config, num_steps=100, eval_every=5)
    scores = iter(range(100))
    run = ganlib.train(generator, discriminator, ring_data, config, device="cpu",
                       evaluate=lambda g: {"score": float(next(scores))},
                       stop_when=quality.parse_target("score>=3"))
    assert run.step == 20 and run.target_met
    assert [e["score"] for e in run.evaluations] == [0.0, 1.0, 2.0, 3.0]


def test_evaluation_time_is_not_counted_as_training_time(make_models, ring_data, tiny_config):
    import time

    generator, discriminator = make_models()
    config = dataclasses.replace(tiny_config, num_steps=10, eval_every=5)

    def slow(g):
        time.sleep(0.5)
        return {"score": 0.0}

    run = ganlib.train(generator, discriminator, ring_data, config, device="cpu", evaluate=slow)
    assert run.seconds < 0.5, f"{run.seconds:.2f} s of training includes the 1 s spent evaluating"


def test_eval_settings_without_an_evaluator_are_refused(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    with pytest.raises(GanlibError, match="no evaluate"):
        ganlib.train(generator, discriminator, ring_data, dataclasses.replace(tiny_config, eval_every=5),
                     device="cpu")
    with pytest.raises(GanlibError, match="stop_when needs evaluate"):
        ganlib.train(generator, discriminator, ring_data, tiny_config, device="cpu", stop_when=lambda m: True)


def test_evaluations_survive_a_checkpoint(make_models, ring_data, tiny_config, tmp_path):
    generator, discriminator = make_models()
    config = dataclasses.replace(tiny_config, num_steps=10, eval_every=5)
    run = ganlib.train(generator, discriminator, ring_data, config, device="cpu",
                       evaluate=lambda g: {"score": 1.5})
    run.model_spec = {"name": "mlp", "data_shape": (2,), "latent_dim": 4, "hidden": (16,)}
    path = ganlib.checkpoint.save_checkpoint(tmp_path / "c.pt", run)
    assert ganlib.checkpoint.restore_run(path).evaluations == run.evaluations

"""benchmarks/mnist_recipe.py in a few steps: each candidate trains as named and is scored; the ladder
climbs from the plain pair to the recipe one addition at a time; --save writes what chapter 5 reads.

The measurement itself (minutes per run) is the script's job; this only keeps it from rotting.
"""
import json

import pytest

from ganlib.core.config import with_changes
from ganlib.core.recipes import PLAIN_DCGAN, recipe


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("benchmarks/mnist_recipe.py")  # it imports toy_recipes beside it


@pytest.mark.parametrize("name", ["recipe", "plain", "fresh", "+shift"])
def test_each_candidate_trains_and_is_scored(bench, name):
    row = bench.run_candidate(name, 0, num_steps=2)
    assert row["candidate"] == name and row["steps"] == 2
    shares = [row[f"share_{c}"] for c in range(10)]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3) and row["min_class_share"] == pytest.approx(min(shares), abs=1e-4)
    assert 0.0 <= row["confident_fraction"] <= 1.0 and row["fid"] > 0


def test_the_target_needs_both_numbers(bench):
    assert bench.meets_target({"confident_fraction": 0.70, "min_class_share": 0.05})
    assert not bench.meets_target({"confident_fraction": 0.69, "min_class_share": 0.10})
    assert not bench.meets_target({"confident_fraction": 0.90, "min_class_share": 0.049})


def test_a_bad_step_count_is_one_line_and_status_2(bench, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--steps", "0"])
    assert exit_info.value.code == 2
    assert "--steps must be a positive integer" in capsys.readouterr().err


def test_the_ladder_climbs_from_plain_to_the_recipe_one_rung_at_a_time(bench):
    names = [rung[0] for rung in bench.LADDER]
    assert names[0] == "plain" and names[-2:] == ["fresh", "recipe"] and set(names) <= set(bench.CANDIDATES)
    plans = [bench._ladder_plan(name) for name in names]
    assert plans[0] == (PLAIN_DCGAN.model, PLAIN_DCGAN.config)
    assert plans[-1] == recipe("mnist", "dcgan") and plans[-2] == recipe("mnist", "dcgan", reuse_fakes=False)
    for (before, after), (_, _, model_changes, config_changes) in zip(zip(plans, plans[1:]), bench.LADDER[1:]):
        assert before != after  # each rung adds to the one before it, and only its own changes
        assert after.model == {**before.model, **model_changes}
        assert after.config == with_changes(before.config, **config_changes)


def test_save_writes_every_run_and_the_summary_seed_by_seed(bench, monkeypatch, tmp_path):
    def fake_run(name, seed, *, num_steps=None):
        score = 0.6 + 0.1 * (name == "recipe") + 0.01 * seed
        return {"candidate": name, "seed": seed, "steps": 1, "train_s": 1.0, "confident_fraction": score,
                "min_class_share": 0.06, "fid": 100.0, **{f"share_{c}": 0.1 for c in range(10)}}

    monkeypatch.setattr(bench, "run_candidate", fake_run)
    path = tmp_path / "ladder.json"
    bench.main(["--ladder", "--seeds", "0", "1", "--steps", "1", "--save", str(path)])
    saved = json.loads(path.read_text())
    names = [rung[0] for rung in bench.LADDER]
    assert list(saved["adds"]) == names and saved["seeds_done"] == [0, 1] and len(saved["runs"]) == 2 * len(names)
    assert saved["runs"][0]["seed"] == 0 and saved["runs"][-1]["seed"] == 1  # seed by seed
    assert saved["recipe"]["confident_fraction"] == [pytest.approx(0.705), pytest.approx(0.005)]
    assert saved["recipe"]["target_met"] == 2 and saved["plain"]["target_met"] == 0
    assert {"command", "date", "torch", "threads", "note"} <= set(saved) and "--ladder" in saved["command"]

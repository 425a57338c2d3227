"""benchmarks/mnist_recipe.py in a few steps: each candidate trains as named and is scored.

The measurement itself (minutes per run) is the script's job; this only keeps it from rotting.
"""
import pytest


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("benchmarks/mnist_recipe.py")  # it imports toy_recipes beside it


@pytest.mark.parametrize("name", ["recipe", "plain", "fresh"])
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

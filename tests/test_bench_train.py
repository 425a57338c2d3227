"""benchmarks/bench_train.py in a few steps: the three loops run, the last line is the JSON it promises.

The measurement itself (minutes) is the script's job; this only keeps it from rotting.
"""
import json

import pytest


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("benchmarks/bench_train.py")


def test_a_short_run_prints_the_promised_json_last(bench, capsys):
    result = bench.main(["--rounds", "2", "--steps", "2", "--warmup", "1", "--max-steps", "2", "--eval-every", "1",
                         "--device", "cpu"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == result
    assert set(last["ms_per_step"]) == {"baseline", "ganlib", "bare"} and all(v > 0 for v in last["ms_per_step"].values())
    ms = last["ms_per_step"]
    assert last["ratio_vs_baseline"] == pytest.approx(ms["baseline"] / ms["ganlib"], rel=0.01)
    assert last["overhead_vs_bare"] == pytest.approx(ms["ganlib"] / ms["bare"], rel=0.01)
    # two steps reach neither target: the seconds are null, and the run says how far it got
    assert last["seconds_to_quality"] is None and last["seconds_to_recipe_target"] is None
    assert last["quality_steps_run"] == 2 and 0 <= last["best_confident_fraction"] <= 1


def test_the_loops_train_the_same_networks_the_same_way(bench):
    import ganlib
    import torch
    from ganlib.core.recipes import recipe

    plan = recipe("mnist", progress=False)
    x, _ = ganlib.load_mnist()
    pixels = ((x[:256] + 1) * 127.5).round().to(torch.uint8).reshape(256, -1).numpy()
    loops = [bench.Baseline(plan, pixels, torch.device("cpu")), bench.Ganlib(plan, x, torch.device("cpu")),
             bench.Bare(plan, x, torch.device("cpu"))]
    names = [[n for n, _ in loop.generator.named_parameters()] for loop in loops]
    assert names[0] == names[1] == names[2]
    assert loops[2].reuse_fakes == plan.config.speed.reuse_fakes  # the limit follows ganlib's algorithm


def test_unknown_options_exit_2(bench, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--options", "fp8", "--max-steps", "0", "--rounds", "1", "--steps", "1"])
    assert exit_info.value.code == 2
    assert "unknown --options" in capsys.readouterr().err

"""Tests of the command line (DESIGN.md section 4): ``python -m ganlib train | sample``.

The end-to-end contract runs the real entry point in a subprocess (``python -m ganlib``): exit
status, files written, stderr. Starting Python with torch costs ~4 s of CPU a process on the test
machine, so the long table of bad arguments calls :func:`ganlib.cli.main` in-process (the same
code path minus the interpreter start), and a few of its rows are repeated in a subprocess.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from cli_helpers import TIMEOUT_S, assert_one_line_error, cli, cli_env, main_in_process
from ganlib.core.checkpoint import load_checkpoint, load_generator
from ganlib.core.losses import LOSSES
from ganlib.core.run import sample


# --- fixtures: one real training run, shared by the module ------------------------------------

@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    """``train --dataset ring --steps 6`` through the real entry point; returns (folder, process)."""
    cwd = tmp_path_factory.mktemp("cli")
    proc = cli("train", "--dataset", "ring", "--steps", 6, "--seed", 0, "--quiet", "--out", "run", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd / "run", proc


@pytest.fixture
def garbage_checkpoint(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint\n" * 10)
    return path


def _samples(run_dir, n=32, seed=0) -> torch.Tensor:
    """What ``sample`` draws, computed in-process."""
    return sample(load_generator(run_dir / "checkpoint.pt"), n, seed=seed)


# --- train and sample -------------------------------------------------------------------------

def test_train_writes_checkpoint_and_history(ring_run):
    run_dir, proc = ring_run
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "history.json"]
    state = load_checkpoint(run_dir / "checkpoint.pt")
    assert state["step"] == 6 and state["dataset"] == "ring"
    assert state["model_spec"]["name"] == "mlp"
    history = json.loads((run_dir / "history.json").read_text())
    assert set(history) == {"step", "d_loss", "g_loss", "d_real", "d_fake", "seconds", "evaluations", "target_met",
                            "run_id", "stopped_by"}
    assert history["step"][-1] == 6 and history["evaluations"] == [] and history["target_met"] is False
    assert history["run_id"] == state["run_id"] and len(state["run_id"]) == 12 and history["stopped_by"] is None
    mode = (run_dir / "history.json").stat().st_mode & 0o777
    assert mode == (run_dir / "checkpoint.pt").stat().st_mode & 0o777, "history.json gets the usual permissions"
    summary = json.loads(proc.stdout.strip().splitlines()[-1])  # one JSON line on stdout
    assert summary["step"] == 6 and np.isfinite(summary["d_loss"])


def test_sample_ring_shape_and_seeds(ring_run, capsys):
    run_dir, _ = ring_run
    cwd = run_dir.parent
    proc = cli("sample", "--checkpoint", "run/checkpoint.pt", "--n", 50, "--seed", 1, "--out", "s1.npy", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["shape"] == [50, 2]
    for seed, name in ((1, "s1b.npy"), (2, "s2.npy")):  # in-process: a second Python start costs seconds
        code, _, err = main_in_process(["sample", "--checkpoint", run_dir / "checkpoint.pt", "--n", 50,
                                        "--seed", seed, "--out", cwd / name], capsys)
        assert code == 0, err
    a, b, c = (np.load(cwd / name) for name in ("s1.npy", "s1b.npy", "s2.npy"))
    assert a.shape == (50, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)   # same seed, another process: the same samples
    assert not np.array_equal(a, c)       # another seed: other samples
    np.testing.assert_array_equal(a, _samples(run_dir, 50, seed=1).numpy())  # and what sample() draws
    assert not list(cwd.glob("*.tmp"))


def test_mnist_dcgan_end_to_end(tmp_path, capsys):
    proc = cli("train", "--dataset", "mnist", "--model", "dcgan", "--steps", 2, "--batch-size", 8,
               "--quiet", "--out", "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and (tmp_path / "run" / "history.json").is_file()
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model_spec"]["name"] == "dcgan"
    code, out, err = main_in_process(["sample", "--checkpoint", tmp_path / "run" / "checkpoint.pt", "--n", 6,
                                      "--out", tmp_path / "x.npy"], capsys)
    assert code == 0, err
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (6, 1, 28, 28) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert json.loads(out)["shape"] == [6, 1, 28, 28]


def test_unrolling_the_mnist_recipe_sets_its_fake_reuse_aside(tmp_path, capsys):
    from ganlib.core.checkpoint import restore_run

    code, _, err = main_in_process(["train", "--dataset", "mnist", "--unroll-steps", "1", "--steps", "2",
                                    "--batch-size", "8", "--quiet", "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    config = restore_run(tmp_path / "o" / "checkpoint.pt").config
    assert (config.regularization.unroll_steps, config.speed.reuse_fakes) == (1, False)


def test_mnist_infogan_trains_samples_and_resumes(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, out, err = main_in_process(["train", "--dataset", "mnist", "--model", "infogan", "--steps", 2,
                                      "--batch-size", 8, "--quiet", "--out", run_dir], capsys)
    assert code == 0, err
    state = load_checkpoint(run_dir / "checkpoint.pt")
    assert state["model_spec"]["name"] == "infogan" and state["step"] == 2
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history["info_loss"]) == len(history["mi_cat"]) == len(history["step"]) >= 1
    code, out, err = main_in_process(["sample", "--checkpoint", run_dir / "checkpoint.pt", "--n", 5,
                                      "--out", tmp_path / "x.npy"], capsys)
    assert code == 0, err
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1.0 and x.max() <= 1.0
    code, out, err = main_in_process(["train", "--resume", "--steps", 3, "--quiet", "--out", run_dir], capsys)
    assert code == 0, err
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == 3


def test_resume_continues_to_steps_and_equals_one_run(ring_run, tmp_path, capsys):
    run_dir, _ = ring_run  # 6 steps in one call (seed 0)
    out = tmp_path / "split"
    code, _, err = main_in_process(["train", "--dataset", "ring", "--steps", 3, "--quiet", "--out", out], capsys)
    assert code == 0, err
    code, _, err = main_in_process(["train", "--resume", "--steps", 6, "--quiet", "--out", out], capsys)
    assert code == 0, err
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 6
    # histories differ by design (a partial log row at step 3), so compare what the runs generate
    torch.testing.assert_close(_samples(out), _samples(run_dir), rtol=0, atol=0)


def test_resume_of_a_seeded_run_equals_one_run(tmp_path, capsys):
    whole, split = tmp_path / "whole", tmp_path / "split"
    for argv in (["train", "--dataset", "ring", "--steps", 6, "--seed", 3, "--quiet", "--out", whole],
                 ["train", "--dataset", "ring", "--steps", 3, "--seed", 3, "--quiet", "--out", split],
                 ["train", "--resume", "--steps", 6, "--quiet", "--out", split]):
        code, _, err = main_in_process(argv, capsys)
        assert code == 0, err
    torch.testing.assert_close(_samples(split), _samples(whole), rtol=0, atol=0)


def test_train_help_lists_the_losses(capsys):
    code, out, _ = main_in_process(["train", "--help"], capsys)
    assert code == 0
    assert "{" + ",".join(LOSSES) + "}" in out  # argparse lists the choices of --loss: {ns,minimax,...}
    assert "--resume" in out


# --- bad arguments: exit 2, one line on stderr, no traceback ----------------------------------

BAD = [  # (id, argv); {run}: a folder with a 6-step ring checkpoint; {garbage}: a file of junk
    ("no-command", []),
    ("unknown-command", ["evaluat"]),
    ("unknown-dataset", ["train", "--dataset", "cifar", "--out", "{tmp}/o"]),
    ("unknown-model", ["train", "--model", "resnet", "--out", "{tmp}/o"]),
    ("unknown-loss", ["train", "--loss", "wgan", "--out", "{tmp}/o"]),
    ("steps-0", ["train", "--steps", "0", "--out", "{tmp}/o"]),
    ("steps-negative", ["train", "--steps", "-3", "--out", "{tmp}/o"]),
    ("steps-abc", ["train", "--steps", "abc", "--out", "{tmp}/o"]),
    ("batch-size-0", ["train", "--batch-size", "0", "--out", "{tmp}/o"]),
    ("batch-size-odd-for-packed-d", ["train", "--batch-size", "63", "--out", "{tmp}/o"]),
    ("lr-g-negative", ["train", "--lr-g", "-1", "--out", "{tmp}/o"]),
    ("lr-g-nan", ["train", "--lr-g", "nan", "--out", "{tmp}/o"]),
    ("lr-d-inf", ["train", "--lr-d", "inf", "--out", "{tmp}/o"]),
    ("d-steps-0", ["train", "--d-steps", "0", "--out", "{tmp}/o"]),
    ("seed-negative", ["train", "--seed", "-1", "--out", "{tmp}/o"]),
    ("missing-out", ["train", "--dataset", "ring"]),
    ("no-recipe", ["train", "--dataset", "ring", "--model", "dcgan", "--out", "{tmp}/o"]),
    ("out-has-checkpoint", ["train", "--dataset", "ring", "--steps", "3", "--out", "{run}"]),
    ("resume-nothing", ["train", "--resume", "--steps", "3", "--out", "{tmp}/empty"]),
    ("resume-already-there", ["train", "--resume", "--steps", "6", "--out", "{run}"]),
    ("sample-missing-checkpoint", ["sample", "--checkpoint", "{tmp}/none.pt", "--out", "{tmp}/s.npy"]),
    ("sample-garbage-checkpoint", ["sample", "--checkpoint", "{garbage}", "--out", "{tmp}/s.npy"]),
    ("sample-not-npy", ["sample", "--checkpoint", "{run}/checkpoint.pt", "--out", "{tmp}/s.txt"]),
    ("sample-n-0", ["sample", "--checkpoint", "{run}/checkpoint.pt", "--n", "0", "--out", "{tmp}/s.npy"]),
    ("sample-missing-checkpoint-arg", ["sample", "--out", "{tmp}/s.npy"]),
    ("sample-seed-negative", ["sample", "--checkpoint", "{run}/checkpoint.pt", "--seed", "-2", "--out", "{tmp}/s.npy"]),
    ("resume-with-other-loss", ["train", "--resume", "--loss", "hinge", "--steps", "9", "--out", "{run}"]),
    ("target-without-eval-every", ["train", "--dataset", "ring", "--target", "modes>=8", "--out", "{tmp}/o"]),
    ("target-unreadable", ["train", "--dataset", "ring", "--eval-every", "5", "--target", "modes=8", "--out", "{tmp}/o"]),
    ("eval-every-negative", ["train", "--dataset", "ring", "--eval-every", "-5", "--out", "{tmp}/o"]),
    ("unroll-steps-negative", ["train", "--dataset", "ring", "--unroll-steps", "-1", "--out", "{tmp}/o"]),
    ("precision-unknown", ["train", "--dataset", "ring", "--precision", "fp16", "--out", "{tmp}/o"]),
    ("compile-with-r1-recipe", ["train", "--dataset", "ring", "--compile", "--steps", "2", "--out", "{tmp}/o"]),
    ("unroll-steps-with-wgan-gp", ["train", "--dataset", "ring", "--loss", "wgan-gp", "--unroll-steps", "2",
                                   "--steps", "2", "--out", "{tmp}/o"]),
    ("resume-with-unroll-steps", ["train", "--resume", "--unroll-steps", "2", "--steps", "9", "--out", "{run}"]),
    ("unroll-steps-conditional", ["train", "--model", "cdcgan", "--unroll-steps", "2", "--out", "{tmp}/o"]),
    ("unroll-steps-infogan", ["train", "--model", "infogan", "--unroll-steps", "1", "--out", "{tmp}/o"]),
    ("infogan-on-ring", ["train", "--dataset", "ring", "--model", "infogan", "--out", "{tmp}/o"]),
    ("evaluate-missing-file", ["evaluate", "--samples", "{tmp}/none.npy", "--dataset", "mnist"]),
    ("evaluate-garbage-file", ["evaluate", "--samples", "{garbage}", "--dataset", "mnist"]),
    ("evaluate-unknown-dataset", ["evaluate", "--samples", "{tmp}/none.npy", "--dataset", "cifar"]),
    ("evaluate-wrong-shape", ["evaluate", "--samples", "{points}", "--dataset", "mnist"]),
    ("evaluate-nan", ["evaluate", "--samples", "{nan_points}", "--dataset", "ring"]),
    ("evaluate-out-of-range", ["evaluate", "--samples", "{bright_images}", "--dataset", "mnist"]),
]
if not torch.cuda.is_available():
    BAD.append(("device-cuda-missing", ["train", "--dataset", "ring", "--device", "cuda", "--out", "{tmp}/o"]))

MORE_BAD = [  # paths and values only ganlib (not argparse) can judge
    pytest.param(["train", "--dataset", "ring", "--steps", "2", "--out", "{tmp}/a-file"], id="out-is-a-file"),
    pytest.param(["train", "--dataset", "ring", "--steps", "2", "--device", "bogus", "--out", "{tmp}/o"],
                 id="device-bogus"),
    pytest.param(["sample", "--checkpoint", "{pickle}", "--out", "{tmp}/s.npy"], id="sample-plain-pickle"),
]


def _fill(argv, ring_run, tmp_path, garbage):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))  # a pickle, not a checkpoint
    arrays = {"points": np.zeros((200, 2), np.float32),                        # ring-shaped, not images
              "nan_points": np.full((200, 2), np.nan, np.float32),
              "bright_images": np.full((200, 1, 28, 28), 255.0, np.float32)}   # pixels not scaled to [-1, 1]
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
    names = {"run": ring_run[0], "tmp": tmp_path, "garbage": garbage, "pickle": tmp_path / "plain.pkl",
             **{name: tmp_path / f"{name}.npy" for name in arrays}}
    return [a.format(**names) for a in argv]


@pytest.mark.parametrize("argv", [pytest.param(argv, id=name) for name, argv in BAD] + MORE_BAD)
def test_bad_arguments_exit_2_with_one_line(argv, ring_run, tmp_path, garbage_checkpoint, capsys):
    before = (ring_run[0] / "checkpoint.pt").read_bytes()
    code, out, err = main_in_process(_fill(argv, ring_run, tmp_path, garbage_checkpoint), capsys)
    assert_one_line_error(code, err)
    assert "error" in err
    assert not (tmp_path / "o").exists()  # nothing written for a refused command
    assert (ring_run[0] / "checkpoint.pt").read_bytes() == before  # and the existing run untouched


def test_an_existing_run_is_not_overwritten_without_resume(ring_run, capsys):
    code, _, err = main_in_process(["train", "--dataset", "ring", "--out", ring_run[0]], capsys)
    assert code == 2 and "--resume" in err


@pytest.mark.parametrize("name", ["steps-0", "sample-garbage-checkpoint"])
def test_bad_arguments_through_the_real_entry_point(name, ring_run, tmp_path, garbage_checkpoint):
    argv = _fill(dict(BAD)[name], ring_run, tmp_path, garbage_checkpoint)
    proc = cli(*argv, cwd=tmp_path)
    assert_one_line_error(proc.returncode, proc.stderr)
    assert proc.stdout == ""


def test_evaluate_prints_one_json_object_that_tells_digits_from_noise(tmp_path, capsys):
    from ganlib.eval.metrics import heldout_mnist

    real = heldout_mnist()[0][::2].numpy()  # 50 of each class (the held-out set is sorted by class)
    noise = np.random.default_rng(0).uniform(-1, 1, real.shape).astype(np.float32)
    scores = {}
    for name, array in (("real", real), ("noise", noise)):
        np.save(tmp_path / f"{name}.npy", array)
        code, out, err = main_in_process(["evaluate", "--samples", tmp_path / f"{name}.npy",
                                          "--dataset", "mnist"], capsys)
        assert code == 0, err
        lines = out.strip().splitlines()
        assert len(lines) == 1
        scores[name] = json.loads(lines[0])
    assert scores["real"]["fid"] < 3 * scores["real"]["fid_floor"] < scores["noise"]["fid"]
    assert scores["real"]["confident_fraction"] > 0.9 > scores["noise"]["confident_fraction"]


def test_evaluate_ring_samples_from_the_cli(ring_run, tmp_path, capsys):
    run_dir, _ = ring_run
    code, _, err = main_in_process(["sample", "--checkpoint", run_dir / "checkpoint.pt", "--n", 300,
                                    "--out", tmp_path / "p.npy"], capsys)
    assert code == 0, err
    code, out, err = main_in_process(["evaluate", "--samples", tmp_path / "p.npy", "--dataset", "ring"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["dataset"] == "ring" and 0 <= result["modes"] <= 8


def test_train_stops_on_a_target_and_records_evaluations(tmp_path, capsys):
    argv = ["train", "--dataset", "ring", "--steps", "60", "--eval-every", "10", "--target", "modes>=0",
            "--quiet", "--out", str(tmp_path / "t")]
    code, out, _ = main_in_process(argv, capsys)
    summary = json.loads(out)
    assert code == 0 and summary["step"] == 10 and summary["target_met"]
    history = json.loads((tmp_path / "t" / "history.json").read_text())
    assert history["target_met"] and [e["step"] for e in history["evaluations"]] == [10]
    assert {"modes", "hq_fraction", "reverse_kl"} <= set(history["evaluations"][0])


def test_kill_9_during_training_leaves_a_checkpoint_that_samples_and_a_lock_the_next_run_takes_over(tmp_path,
                                                                                                 capsys):
    import signal
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "ganlib", "train", "--dataset", "ring", "--steps", "100000",
                             "--checkpoint-every", "1", "--quiet", "--out", str(out)],
                            cwd=tmp_path, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (out / "checkpoint.pt").exists():  # the first save: training is under way
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.05)
        time.sleep(0.7)  # mid-run, with a save every step: the kill lands during or between writes
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] >= 1
    samples = sample(load_generator(out / "checkpoint.pt"), 16, seed=0)
    assert samples.shape == (16, 2) and torch.isfinite(samples).all()
    assert (out / "run.lock").exists()  # SIGKILL runs no clean-up: the lock stays, naming a dead process
    code, _, err = main_in_process(["train", "--resume", "--steps", state["step"] + 2, "--quiet", "--out", out],
                                   capsys)
    assert code == 0, err
    assert err.startswith(f"python -m ganlib train: warning: took over {out}/run.lock: run ") and "no longer runs" in err
    assert not (out / "run.lock").exists()


def test_precision_is_a_run_setting_saved_with_the_run_and_changeable_on_resume(tmp_path, capsys):
    from ganlib.core.checkpoint import restore_run

    out = tmp_path / "o"
    base = ["train", "--dataset", "ring", "--loss", "ns", "--quiet", "--out", out]
    assert main_in_process([*base, "--steps", "4", "--precision", "bf16"], capsys)[0] == 0
    assert restore_run(out / "checkpoint.pt").config.speed.precision == "bf16"
    code, _, err = main_in_process(["train", "--resume", "--steps", "8", "--precision", "fp32", "--quiet",
                                    "--out", out], capsys)
    assert code == 0, err
    run = restore_run(out / "checkpoint.pt")
    assert (run.step, run.config.speed.precision, run.config.speed.compile) == (8, "fp32", False)

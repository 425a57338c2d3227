"""Tests of data-parallel training (:mod:`ganlib.core.distributed`) with two CPU processes (gloo).

One ``torchrun --standalone --nproc_per_node=2`` launch runs the real CLI in each process: 20 steps,
then ``--resume`` to 40, in one process group (making a second group in the same processes can hang
in gloo's rendezvous). A test-only wrapper around
``ganlib.cli.train`` (in the launched script, not in ganlib) saves each rank's final models, so the
test can check that both ranks hold the same model and that it is the checkpoint rank 0 wrote.
Starting Python with torch costs ~4 s of CPU a process here, so the launch runs once per module.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

import ganlib
from ganlib.core.checkpoint import load_checkpoint
from ganlib.core.distributed import PairDiscriminator, launched, rank, world_size

TIMEOUT_S = 240  # generous: the machine is shared; a hang (a rank waiting forever) must still end
STEPS, RESUME_STEPS, BATCH = 20, 40, 32  # per-rank batch; the global batch is 2 * BATCH
LR_D = "1e-3"  # D's learning rate as G's (the ring recipe's D learns at twice G's rate)

# Runs in every rank: the CLI as `python -m ganlib` runs it, with cli.train wrapped to keep each
# rank's final models (the wrapper is test-only: ganlib itself writes nothing from ranks > 0).
WORKER = textwrap.dedent("""
    import os, sys, torch
    import ganlib.cli as cli
    from ganlib import distributed

    real_train = cli.train

    def train_and_keep(generator, discriminator, *args, **kwargs):
        run = real_train(generator, discriminator, *args, **kwargs)
        torch.save({"generator": generator.state_dict(), "discriminator": discriminator.state_dict()},
                   os.path.join(os.environ["DUMP_DIR"], f"rank{os.environ['RANK']}.pt"))
        return run

    cli.train = train_and_keep
    resume = ["train", "--out", sys.argv[-1], "--resume", "--steps", os.environ["RESUME_STEPS"], "--quiet"]
    with distributed.process_group("cpu"):  # one group for both runs (the CLI joins it)
        for argv in (sys.argv[1:], resume):
            code = cli.main(argv)
            if code:
                sys.exit(code)
""")


# Runs in every rank for the stop test: the CLI, with cli.train wrapped to say when training starts (this
# rank's pid) and, at the end, how the rank's run ended and its exit status.
SIGNAL_WORKER = textwrap.dedent("""
    import json, os, sys
    import ganlib.cli as cli

    real_train = cli.train
    dump, rank, ended = os.environ["DUMP_DIR"], os.environ["RANK"], {}

    def train_and_record(*args, **kwargs):
        with open(os.path.join(dump, f"pid{rank}"), "w") as f:
            f.write(str(os.getpid()))
        run = real_train(*args, **kwargs)
        ended.update(step=run.step, stopped_by=run.stopped_by)
        return run

    cli.train = train_and_record
    code = cli.main(sys.argv[1:])
    with open(os.path.join(dump, f"rank{rank}.json"), "w") as f:
        json.dump({**ended, "code": code}, f)
    sys.exit(code)
""")


def _env(**extra) -> dict:
    env = dict(os.environ)
    env.pop("GANLIB_BUDGET", None)
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg", **extra)
    return env


@pytest.fixture(scope="module")
def launched_run(tmp_path_factory):
    """Two ranks train the ring for STEPS, then resume to RESUME_STEPS; returns the folder."""
    folder = tmp_path_factory.mktemp("ddp")
    worker = folder / "worker.py"
    worker.write_text(WORKER)
    out = folder / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker),
           "train", "--dataset", "ring", "--loss", "ns", "--lr-d", LR_D, "--steps", str(STEPS),
           "--batch-size", str(BATCH), "--seed", "0", "--checkpoint-every", "10", "--quiet", "--out", str(out)]
    done = subprocess.run(cmd, cwd=folder, env=_env(DUMP_DIR=str(folder), RESUME_STEPS=str(RESUME_STEPS)),
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, done


def test_two_ranks_complete_and_only_rank0_reports(launched_run):
    folder, done = launched_run
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [s["step"] for s in lines] == [STEPS, RESUME_STEPS]  # one summary per run: rank 0's only
    assert all(s["processes"] == 2 for s in lines)
    history = json.loads((folder / "run" / "history.json").read_text())
    assert history["step"][-1] == RESUME_STEPS
    assert all(np.isfinite(history["d_loss"]))


def test_ranks_hold_the_same_model_and_rank0_saved_it(launched_run):
    folder, _ = launched_run
    rank0, rank1 = (torch.load(folder / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = load_checkpoint(folder / "run" / "checkpoint.pt")
    assert saved["step"] == RESUME_STEPS
    for player in ("generator", "discriminator"):
        for name, value in rank0[player].items():
            assert torch.equal(value, rank1[player][name]), f"{player}.{name} differs between ranks"
            assert torch.equal(value, saved[player][name]), f"{player}.{name} is not what rank 0 saved"


# Two ranks of B against one process of 2B, in float64. The two add the same numbers in another order, so
# they agree only up to rounding. In float32 that is no usable bound: Adam divides each gradient by its own
# running size, so the rounding of a small gradient becomes a visible step, and on another CPU (other
# kernels, other sums) weights ended 3.4e-4 apart after 40 steps. In float64 the bound below holds.
PARITY = textwrap.dedent("""
    import os, sys, torch
    import ganlib
    from ganlib import distributed

    torch.set_default_dtype(torch.float64)
    steps, batch = int(sys.argv[1]), int(sys.argv[2])
    plan = ganlib.recipes.recipe("ring", seed=0, num_steps=steps, batch_size=batch, loss="ns", progress=False)
    with distributed.process_group("cpu"):
        ganlib.seed_everything(0)
        generator, discriminator = ganlib.build_models(**plan.model)
        x, _ = ganlib.load_dataset("ring", seed=0)
        run = ganlib.train(generator, discriminator, x.double(), plan.config, device="cpu")
        if distributed.rank() == 0:
            torch.save({"generator": generator.state_dict(), "discriminator": discriminator.state_dict()},
                       os.path.join(os.environ["DUMP_DIR"], "parity.pt"))
""")


def parity_tolerance(steps: int, terms: int, lr: float, dtype: torch.dtype = torch.float64) -> float:
    """How far two runs that add the same numbers in another order may drift apart, per weight.

    Reordering a sum of ``terms`` numbers changes it by about ``terms * eps`` of its size; Adam moves a
    weight by at most about ``lr`` a step, so a step's error is about ``lr * terms * eps``, and over
    ``steps`` steps these errors add up. The factor 100 allows for their growth through the layers and
    Adam's division by the gradients' running size (measured: 2.4e-15, against a bound of 1.1e-13 here);
    a real difference between the two runs (a wrong slice, a missing average) is of order ``lr``.
    """
    return 100 * steps * lr * terms * torch.finfo(dtype).eps


def test_two_ranks_of_b_equal_one_process_of_2b(tmp_path):
    """Each rank takes its slice of one global draw and DDP averages: the same sums as one process."""
    worker = tmp_path / "parity.py"
    worker.write_text(PARITY)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker),
           str(RESUME_STEPS), str(BATCH)]
    done = subprocess.run(cmd, cwd=tmp_path, env=_env(DUMP_DIR=str(tmp_path)), capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = torch.load(tmp_path / "parity.pt", weights_only=True)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        plan = ganlib.recipes.recipe("ring", seed=0, num_steps=RESUME_STEPS, batch_size=2 * BATCH, loss="ns",
                                      progress=False)
        ganlib.seed_everything(0)
        generator, discriminator = ganlib.build_models(**plan.model)
        x, _ = ganlib.load_dataset("ring", seed=0)
        run = ganlib.train(generator, discriminator, x.double(), plan.config, device="cpu")
    finally:
        torch.set_default_dtype(default)
    tolerance = parity_tolerance(RESUME_STEPS, terms=2 * BATCH, lr=max(plan.config.lr_g, plan.config.lr_d))
    worst = 0.0
    for player, module in (("generator", run.generator), ("discriminator", run.discriminator)):
        for name, value in module.state_dict().items():
            assert ranks[player][name].dtype == torch.float64 or not value.is_floating_point()
            if value.is_floating_point():
                worst = max(worst, (ranks[player][name] - value).abs().max().item())
    assert worst <= tolerance, f"two ranks of B drifted {worst:.3g} from one process of 2B (bound {tolerance:.3g})"


def test_the_checkpoint_samples_with_the_ordinary_cli(launched_run):
    folder, _ = launched_run
    done = subprocess.run([sys.executable, "-m", "ganlib", "sample", "--checkpoint", "run/checkpoint.pt",
                           "--n", "100", "--out", "s.npy"], cwd=folder, env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    samples = np.load(folder / "s.npy")
    assert samples.shape == (100, 2) and samples.dtype == np.float32 and np.isfinite(samples).all()


def test_sigterm_to_one_rank_stops_every_rank_at_the_same_step_and_rank0_saves(tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(SIGNAL_WORKER)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker),
           "train", "--dataset", "ring", "--loss", "ns", "--steps", "100000", "--batch-size", str(BATCH),
           "--checkpoint-every", "50", "--quiet", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(DUMP_DIR=str(tmp_path)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (out / "checkpoint.pt").exists():  # step 50 saved: both ranks are training
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.05)
        os.kill(int((tmp_path / "pid1").read_text()), signal.SIGTERM)  # rank 1 only: rank 0 learns it from rank 1
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1], err[-3000:]
    assert ranks[0]["stopped_by"] == "SIGTERM" and ranks[0]["code"] == 143
    state = load_checkpoint(out / "checkpoint.pt")
    history = json.loads((out / "history.json").read_text())
    assert state["step"] == history["step"][-1] == ranks[0]["step"] >= 50
    assert history["run_id"] == state["run_id"] and history["stopped_by"] == "SIGTERM"
    assert not (out / "run.lock").exists()


def test_one_process_is_not_distributed(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert not launched() and rank() == 0 and world_size() == 1


def test_pair_discriminator_scores_each_batch_separately():
    """One forward, two verdicts: the same logits as two calls (BatchNorm sees one kind at a time)."""
    torch.manual_seed(0)
    discriminator = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
    x_real, x_fake = torch.randn(16, 2), torch.randn(16, 2) + 3
    d_real, d_fake = PairDiscriminator(discriminator)(x_real, x_fake)
    torch.testing.assert_close(d_real, discriminator(x_real))
    torch.testing.assert_close(d_fake, discriminator(x_fake))

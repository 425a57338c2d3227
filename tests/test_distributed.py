"""Tests of data-parallel training (:mod:`ganlib.core.distributed`) with two CPU processes (gloo).

One ``torchrun --standalone --nproc_per_node=2`` launch runs the real CLI in each process: 20 steps,
then ``--resume`` to 40, in one process group (making a second group in the same processes can hang
in gloo's rendezvous). A test-only wrapper around
``ganlib.cli.train`` (in the launched script, not in ganlib) saves each rank's final models, so the
test can check that both ranks hold the same model and that it is the checkpoint rank 0 wrote.
Another launch (``_ddp_parity_worker.py``) makes a short run for every loss of ``ganlib.LOSSES`` and for
conditional pairs, reuse_fakes and unrolling, which must match one process of twice the batch.
Starting Python with torch costs ~4 s of CPU a process here, so each launch runs once per module.
Every launched process imports the ganlib of this checkout (``PYTHONPATH``), not an installed one.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import ganlib
import _ddp_parity_worker as parity
from ganlib.core.checkpoint import load_checkpoint
from ganlib.core.distributed import PairDiscriminator, launched, rank, world_size
from ganlib.core.losses import LOSSES, d_loss_ragan, g_loss_ragan
from ganlib.core.steps_shared import batch_slice, d_step_with, d_verdicts, rand_per_example

REPO = Path(__file__).resolve().parents[1]  # the launched processes import this checkout's ganlib
TIMEOUT_S = 240  # generous: the machine is shared; a hang (a rank waiting forever) must still end
STEPS, RESUME_STEPS, BATCH = 20, 40, 32  # per-rank batch; the global batch is 2 * BATCH
LR_D = "1e-3"  # D's learning rate as G's (the ring recipe's D learns at twice G's rate)

# Runs in every rank: the CLI as `python -m ganlib` runs it, with cli.train wrapped to keep each
# rank's final models (the wrapper is test-only: ganlib itself writes nothing from ranks > 0).
WORKER = textwrap.dedent("""
    import os, sys, torch
    import ganlib.cli as cli
    from ganlib.core import distributed

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
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _torchrun(cwd, *args, timeout: int = TIMEOUT_S, env: dict | None = None) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=2 ARGS`` in ``cwd``; asserts that every rank succeeded."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *map(str, args)]
    done = subprocess.run(cmd, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


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
ADAM_EPS = 1e-8  # torch.optim.Adam's default eps, which every run here uses
# Losses with batch statistics: one process of 2B matches two ranks of B when these are taken per half
# (as DDP keeps BatchNorm per rank). The losses' own (d, g) pairs, split by _ddp_parity_worker.split_batch.
PER_RANK_STATISTICS = {"ragan": (d_loss_ragan, g_loss_ragan)}  # RaGAN: each side against the *mean* other


def parity_tolerance(steps: int, terms: int, lr: float, dtype: torch.dtype = torch.float64) -> float:
    """How far two runs that add the same numbers in another order may drift apart, per weight.

    Reordering a sum of ``terms`` numbers changes it by about ``terms * eps`` of its size; Adam moves a
    weight by at most about ``lr`` a step, so a step's error is about ``lr * terms * eps``, and over
    ``steps`` steps these errors add up. The factor 100 allows for their growth through the layers and
    Adam's division by the gradients' running size (measured over the losses: 2.4e-15 at most, against a
    bound of 3.4e-14 for their 12 steps); a real difference between the two runs (a wrong slice, a missing
    average) is of order ``lr``.
    """
    return 100 * steps * lr * terms * torch.finfo(dtype).eps


def loss_tolerance(name: str, steps: int, terms: int, lr: float) -> float:
    """:func:`parity_tolerance`, widened by ``1 / ADAM_EPS`` for the relativistic losses.

    Those compare D's verdicts on real and fake data, so adding a constant to every verdict changes
    nothing: the gradient of D's output bias (and of the bias of a hidden unit that is active on the whole
    batch) is exactly zero. Computed, it is rounding noise of about ``terms * eps`` (gradients here are of
    order 1), and Adam divides it by its ``eps`` (1e-8), not by its own size: such a weight moves by
    about ``lr * terms * eps / ADAM_EPS`` a step, in a direction set by the rounding (measured for RaGAN:
    1.1e-11 on D's output bias, 1.6e-13 at most elsewhere). The bound stays far below a real error (~lr).
    """
    bound = parity_tolerance(steps, terms, lr)
    return bound / ADAM_EPS if LOSSES[name].g_uses_real else bound


def _one_process(case: str, monkeypatch) -> dict:
    """Case ``case`` of the parity worker in this process, with batches of 2B, in float64."""
    if case in PER_RANK_STATISTICS:
        d, g = (parity.split_batch(f, 2) for f in PER_RANK_STATISTICS[case])
        monkeypatch.setitem(LOSSES, f"{case}-per-half", LOSSES[case]._replace(d=d, g=g))
        case = f"{case}-per-half"
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return parity.run_case(case, 2 * parity.BATCH)
    finally:
        torch.set_default_dtype(default)


def _assert_ranks_equal(ranks: list[dict], case: str) -> None:
    for player in ("generator", "discriminator"):
        for name, value in ranks[0][case][player].items():
            assert torch.equal(value, ranks[1][case][player][name]), f"{case}: {player}.{name} differs between ranks"


def _assert_parity(ranks: list[dict], case: str, reference: dict, tolerance: float) -> None:
    """Rank 0's models (equal to rank 1's) within ``tolerance`` of the one-process run ``reference``."""
    worst = 0.0
    for player in ("generator", "discriminator"):
        for name, value in reference[player].items():
            assert ranks[0][case][player][name].dtype == value.dtype == torch.float64
            worst = max(worst, (ranks[0][case][player][name] - value).abs().max().item())
    assert worst <= tolerance, (f"{case}: two ranks of B drifted {worst:.3g} from one process of 2B "
                                f"(bound {tolerance:.3g})")


def _launch_parity(folder: Path, *cases: str) -> list[dict]:
    _torchrun(folder, Path(parity.__file__), folder, *cases)
    return [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


@pytest.fixture(scope="module")
def parity_ranks(tmp_path_factory) -> list[dict]:
    """Each rank's final models for every case of the parity worker, from one two-rank launch (~12 s)."""
    return _launch_parity(tmp_path_factory.mktemp("parity"))


@pytest.mark.parametrize("name", tuple(LOSSES))
def test_two_ranks_of_b_equal_one_process_of_2b_for_every_loss(parity_ranks, name, monkeypatch):
    """Every loss trains data-parallel through ``ganlib.train``: the ring's recipe, 12 steps, the penalty
    (R1, WGAN-GP) on every other D update. Each rank takes its slice of one global draw (batches, noise and
    WGAN-GP's interpolation weights alike) and DDP averages D's gradients, the penalty's included, and G's:
    the same sums as one process of 2B, so the weights agree within the rounding bound. RaGAN's mean
    verdicts are batch statistics, kept per rank: its one-process run takes them per half batch.
    """
    _assert_ranks_equal(parity_ranks, name)
    plan = ganlib.recipes.recipe("ring")
    tolerance = loss_tolerance(name, parity.STEPS, 2 * parity.BATCH, max(plan.config.lr_g, plan.config.lr_d))
    _assert_parity(parity_ranks, name, _one_process(name, monkeypatch), tolerance)


@pytest.mark.parametrize("case", ["conditional", "conditional-reuse_fakes", "reuse_fakes"])
def test_update_d_and_update_g_take_labels_and_reused_fakes(parity_ranks, case, monkeypatch):
    """``data_parallel``'s steps take ``d_step`` / ``g_step``'s keywords: labels (a tiny conditional MLP,
    RSGAN, so G's step also reads real data with its labels) and ``keep_fakes`` / ``x_fake`` (G's step
    backs through the fakes G's DDP wrapper made in D's step, so G's gradients are averaged too).
    Through ``ganlib.train`` in both: two ranks of B against one process of 2B.
    """
    _assert_ranks_equal(parity_ranks, case)
    loss = next(m[1] for m in parity.MANUAL if m[0] == case)
    tolerance = loss_tolerance(loss, parity.STEPS, 2 * parity.BATCH, parity.LR)
    _assert_parity(parity_ranks, case, _one_process(case, monkeypatch), tolerance)


def test_unrolled_g_steps_average_g_over_the_ranks(parity_ranks):
    """Unrolled G steps through DDP. Each rank unrolls D on its own B samples, and K Adam steps on B are
    not the mean of those on two halves, so there is no one-process run to match; the property checked:
    the ranks, which saw different data, still hold the same trained models (G's gradients were
    averaged), and training moved G and kept every loss finite."""
    _assert_ranks_equal(parity_ranks, "unroll")
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        start, _ = parity.manual_models(conditional=False)  # the weights both ranks started from
    finally:
        torch.set_default_dtype(default)
    trained = parity_ranks[0]["unroll"]
    assert all(np.isfinite(parity_ranks[r]["unroll"]["d_losses"]).all() for r in (0, 1))
    moved = max((trained["generator"][n] - p).abs().max().item() for n, p in start.state_dict().items())
    assert moved > parity.LR  # Adam moves each weight by about lr a step


def test_compiled_players_train_data_parallel(tmp_path, monkeypatch):
    """Both players compiled in place (as ``train`` does with ``compile=True``), then wrapped in DDP: the
    same results as one eager process of 2B. Its own launch and compile cache. Compiled with the
    ``aot_eager`` backend (dynamo and AOTAutograd, whose backward DDP's gradient hooks must see), as
    inductor's kernels take ~1 CPU-minute to build here; ``GANLIB_TEST_COMPILE_BACKEND=inductor`` runs
    ``train``'s own backend (it passed: 2.4e-16 apart)."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # as in test_train's compile test
    ranks = _launch_parity(tmp_path, "compile")
    _assert_ranks_equal(ranks, "compile")
    tolerance = parity_tolerance(parity.STEPS, 2 * parity.BATCH, parity.LR)
    _assert_parity(ranks, "compile", _one_process("compile", monkeypatch), tolerance)


def test_the_default_2d_recipe_trains_under_torchrun(tmp_path):
    """``torchrun --standalone --nproc_per_node=2 -m ganlib train --dataset ring``: the recipe's loss has a
    penalty (R1, lazily every fourth D update), which DDP used to refuse."""
    done = _torchrun(tmp_path, "-m", "ganlib", "train", "--dataset", "ring", "--steps", 8, "--quiet", "--out", "run")
    summary = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(summary) == 1 and summary[0]["step"] == 8 and summary[0]["processes"] == 2
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["step"] == 8 and state["config"]["loss"] == "ns-r1-0.1" and state["config"]["regularization"]["penalty_every"] == 4
    assert all(np.isfinite(state["history"]["d_loss"]))


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
    d_real, d_fake, term = PairDiscriminator(discriminator)(x_real, x_fake)
    torch.testing.assert_close(d_real, discriminator(x_real))
    torch.testing.assert_close(d_fake, discriminator(x_fake))
    assert term is None


def test_pair_discriminator_returns_the_penalty_in_the_graph_of_d():
    """With the loss's penalty, the same forward also returns its term, which trains D's weights."""
    torch.manual_seed(0)
    discriminator = ganlib.build_models("mlp", data_shape=(2,), latent_dim=2, hidden=(8,))[1]
    x_real, x_fake = torch.randn(16, 2), torch.randn(16, 2)
    _, _, term = PairDiscriminator(discriminator)(x_real, x_fake, LOSSES["ns-r1"].penalty)
    torch.testing.assert_close(term, LOSSES["ns-r1"].penalty(discriminator, x_real, x_fake))
    term.backward()  # (not into D's output bias: D's input gradients do not depend on it)
    assert sum(p.grad.abs().sum() for p in discriminator.parameters() if p.grad is not None) > 0


@pytest.mark.parametrize("name", tuple(LOSSES))
def test_the_shared_d_step_is_d_step(name, make_models, ring_data):
    """distributed.py's D step is steps_shared.d_step_with; in one process it computes ganlib.d_step exactly."""
    runs = []
    for _ in range(2):
        generator, discriminator = make_models()
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
        runs.append((generator, discriminator, opt_d, torch.Generator().manual_seed(0)))
    z = torch.randn(32, generator.latent_dim)
    x_real = ring_data[:32]
    (g1, d1, o1, r1), (g2, d2, o2, r2) = runs
    for _ in range(2):
        out1 = ganlib.d_step(g1, d1, o1, x_real, z, LOSSES[name], rng=r1, keep_fakes=True)
        out2 = d_step_with(g2, functools.partial(d_verdicts, d2), o2, x_real, z, LOSSES[name], rng=r2, keep_fakes=True)
        assert out1.keys() == out2.keys()
        for key in out1:
            assert torch.equal(out1[key], out2[key]), key
    for name_, value in d1.state_dict().items():
        assert torch.equal(value, d2.state_dict()[name_])


def test_rank_slices_of_a_per_example_draw_are_the_draw_of_the_global_batch():
    """WGAN-GP's interpolation weights under DDP: rank r of K keeps numbers r*B to (r+1)*B of the global
    draw, and every rank's stream moves on as one process's does (the next batches stay the same)."""
    one_process = torch.Generator().manual_seed(0)
    whole = rand_per_example(torch.zeros(16, 1, 4, 4), one_process)  # one process of 2B
    parts = []
    for r in (0, 1):
        rng = torch.Generator().manual_seed(0)  # every rank holds the same stream
        with batch_slice(r, 2):
            parts.append(rand_per_example(torch.zeros(8, 1, 4, 4), rng))
        assert torch.equal(rng.get_state(), one_process.get_state())
    assert parts[0].shape == (8, 1, 1, 1) and torch.equal(torch.cat(parts), whole)
    assert rand_per_example(torch.zeros(8, 2)).shape == (8, 1)  # outside batch_slice: a plain draw of B

"""The 2-D mode-collapse benchmark end to end: train as the CLI does, sample 2 500 points, evaluate.

Holds :func:`run_protocol` (one dataset, one seed, one training configuration) and
:func:`run_protocols` (many of them, in parallel worker processes). The book's appendix on the
benchmark and ``benchmarks/toy_recipes.py`` both call these, so they report the same thing. It does
not hold the metrics (:mod:`ganlib.metrics2d`) or the recipes (:mod:`ganlib.recipes`).

A run of :func:`run_protocol` is what ``python -m ganlib train --dataset D --seed S`` followed by
``python -m ganlib sample --n 2500`` does: the same recipe, the same seeding of the weights, the same
training set, the same sampling noise.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from .data import load_dataset
from .metrics2d import PROTOCOL_SAMPLES, evaluate_points
from .models import build_models
from .recipes import recipe
from .train import TrainConfig, new_run, sample, train
from .utils import GanlibError, seed_everything

__all__ = ["run_protocol", "run_protocols", "SAMPLE_SEED", "METHODS"]

SAMPLE_SEED = 0  # the CLI's default `sample --seed`
METHODS = ("recipe", "vanilla")  # the recommended recipe; the same networks with TrainConfig()'s defaults


def run_protocol(dataset: str, seed: int, method: str = "recipe", *, num_steps: int | None = None,
                 threads: int = 1) -> dict:
    """Train one GAN on ``dataset`` with ``seed`` and evaluate 2 500 samples with the protocol.

    Parameters
    ----------
    dataset : {"ring", "grid"}
    seed : int
        Seeds the weights, the training set and the batches, as ``train --seed`` does.
    method : {"recipe", "vanilla"}
        ``"recipe"``: :func:`ganlib.recipes.recipe` for the dataset. ``"vanilla"``: the same networks
        and number of steps with :class:`~ganlib.train.TrainConfig`'s defaults (DCGAN's Adam settings,
        batch 64): a GAN with no tuning for the task.
    num_steps : int, optional
        Override the number of generator steps (e.g. ``ganlib.steps(...)`` for a smoke run).
    threads : int
        Torch intra-op threads for this run (tiny MLPs are fastest on one).

    Returns
    -------
    dict
        ``dataset``, ``seed``, ``method``, the metrics of :func:`~ganlib.metrics2d.evaluate_points`,
        ``cpu_s`` (CPU seconds of training) and ``points`` (the ``(2500, 2)`` samples, a tensor).
    """
    if method not in METHODS:
        raise GanlibError(f"unknown method {method!r}; expected one of {METHODS}")
    torch.set_num_threads(threads)
    plan = recipe(dataset, seed=seed, progress=False, **({} if num_steps is None else {"num_steps": num_steps}))
    config = plan.config if method == "recipe" else TrainConfig(num_steps=plan.config.num_steps, seed=seed,
                                                                progress=False)
    seed_everything(seed)                              # the models' initial weights, as in the CLI
    generator, discriminator = build_models(**plan.model)
    run = new_run(generator, discriminator, config, torch.device("cpu"))
    x, _ = load_dataset(dataset, seed=seed)            # the CLI's training set for this seed
    cpu = time.process_time()
    train(generator, discriminator, x, config, run=run)
    cpu = time.process_time() - cpu
    points = sample(generator, PROTOCOL_SAMPLES, seed=SAMPLE_SEED)
    return {"dataset": dataset, "seed": seed, "method": method, **evaluate_points(points, dataset),
            "cpu_s": cpu, "points": points}


def _run_job(job: tuple) -> dict:
    dataset, seed, method, num_steps = job
    return run_protocol(dataset, seed, method, num_steps=num_steps)


def run_protocols(jobs: list[tuple[str, int, str]], *, num_steps: int | None = None,
                  workers: int | None = None) -> list[dict]:
    """Run many :func:`run_protocol` jobs ``(dataset, seed, method)``, one per CPU core at a time.

    Parameters
    ----------
    jobs : list of tuple
        ``(dataset, seed, method)`` for each run.
    num_steps : int, optional
        Passed to every job.
    workers : int, optional
        Worker processes (default: the CPU count); 1 runs the jobs here, one after the other.

    Returns
    -------
    list of dict
        The results, in the order of ``jobs``.
    """
    workers = workers or os.cpu_count() or 1
    full = [(d, s, m, num_steps) for d, s, m in jobs]
    if workers == 1 or len(full) == 1:
        return [_run_job(job) for job in full]
    # "spawn": a fresh interpreter per worker, safe after torch has started its thread pools here
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_run_job, full))

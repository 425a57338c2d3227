"""The 2-D mode-collapse benchmark end to end: train as the CLI does, sample 2 500 points, evaluate.

Holds :func:`run_protocol` (one dataset, one seed, one training configuration),
:func:`run_protocols` (many of them, in parallel worker processes) and :func:`stored_benchmark` (the
five-seed table as ``benchmarks/toy_recipes.py --save`` last measured it, refused once the recipe has
changed). The book's appendix on the benchmark and the script both call these, so they report the same
thing. It does not hold the metrics (:mod:`ganlib.eval.metrics2d`) or the recipes (:mod:`ganlib.core.recipes`).

A run of :func:`run_protocol` is what ``python -m ganlib train --dataset D --seed S`` followed by
``python -m ganlib sample --n 2500`` does: the same recipe, the same seeding of the weights, the same
training set, the same sampling noise.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from ..core.data import load_dataset
from .metrics2d import PROTOCOL_SAMPLES, evaluate_points
from ..core.zoo import build_models
from ..core.recipes import recipe
from ..core.config import TrainConfig, knob
from ..core.run import new_run, sample
from ..core.train import train
from ..core.utils import GanlibError, seed_everything

__all__ = ["run_protocol", "run_protocols", "protocol_plan", "protocol_settings", "stored_benchmark",
           "SAMPLE_SEED", "METHODS", "SETTINGS", "STORED_PATH"]

SAMPLE_SEED = 0  # the CLI's default `sample --seed`
METHODS = ("recipe", "vanilla")  # the recommended recipe; the same networks with TrainConfig()'s defaults
#: The :class:`~ganlib.core.config.TrainConfig` fields a stored result records (not the seed or logging).
SETTINGS = ("num_steps", "batch_size", "lr_g", "lr_d", "betas", "loss", "penalty_every", "lr_decay_start",
            "lr_decay_end", "lr_decay_factor")
#: ``toy_benchmark.json`` in the package's ``assets`` folder, written by ``benchmarks/toy_recipes.py --save``.
#:
#: :meta hide-value:
STORED_PATH = Path(__file__).parents[1] / "assets" / "toy_benchmark.json"


def run_protocol(dataset: str, seed: int, method: str = "recipe", *, num_steps: int | None = None,
                 threads: int = 1) -> dict:
    """Train one GAN on ``dataset`` with ``seed`` and evaluate 2 500 samples with the protocol.

    Parameters
    ----------
    dataset : {"ring", "grid"}
    seed : int
        Seeds the weights, the training set and the batches, as ``train --seed`` does.
    method : {"recipe", "vanilla"}
        ``"recipe"``: :func:`ganlib.core.recipes.recipe` for the dataset. ``"vanilla"``: the same networks
        and number of steps with :class:`~ganlib.core.config.TrainConfig`'s defaults (DCGAN's Adam settings,
        batch 64): a GAN with no tuning for the task.
    num_steps : int, optional
        Override the number of generator steps (e.g. ``ganlib.steps(...)`` for a smoke run).
    threads : int
        Torch intra-op threads for this run (tiny MLPs are fastest on one).

    Returns
    -------
    dict
        ``dataset``, ``seed``, ``method``, the metrics of :func:`~ganlib.eval.metrics2d.evaluate_points`,
        ``cpu_s`` (CPU seconds of training) and ``points`` (the ``(2500, 2)`` samples, a tensor).
    """
    torch.set_num_threads(threads)
    model, config = protocol_plan(dataset, method, seed=seed, num_steps=num_steps)
    seed_everything(seed)                              # the models' initial weights, as in the CLI
    generator, discriminator = build_models(**model)
    run = new_run(generator, discriminator, config, torch.device("cpu"))
    x, _ = load_dataset(dataset, seed=seed)            # the CLI's training set for this seed
    cpu = time.process_time()
    train(generator, discriminator, x, config, run=run)
    cpu = time.process_time() - cpu
    points = sample(generator, PROTOCOL_SAMPLES, seed=SAMPLE_SEED)
    return {"dataset": dataset, "seed": seed, "method": method, **evaluate_points(points, dataset),
            "cpu_s": cpu, "points": points}


def protocol_plan(dataset: str, method: str = "recipe", *, seed: int = 0,
                  num_steps: int | None = None) -> tuple[dict, TrainConfig]:
    """The model spec and the training settings of one :func:`run_protocol` run (arguments as there)."""
    if method not in METHODS:
        raise GanlibError(f"unknown method {method!r}; expected one of {METHODS}")
    plan = recipe(dataset, seed=seed, progress=False, **({} if num_steps is None else {"num_steps": num_steps}))
    if method == "recipe":
        return plan.model, plan.config
    return plan.model, TrainConfig(num_steps=plan.config.num_steps, seed=seed, progress=False)


def protocol_settings(dataset: str, method: str = "recipe", *, num_steps: int | None = None) -> dict:
    """What a stored result records of :func:`protocol_plan`: ``{"model": ..., "config": ...}`` as JSON values.

    ``config`` holds the :data:`SETTINGS` fields (not the seed, logging or progress bar).
    """
    model, config = protocol_plan(dataset, method, num_steps=num_steps)
    return {"model": {k: _plain(v) for k, v in model.items()},
            "config": {k: _plain(knob(config, k)) for k in SETTINGS}}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value  # a tuple as JSON stores it


def stored_benchmark(path: str | os.PathLike | None = None) -> dict:
    """The benchmark as last run by ``benchmarks/toy_recipes.py --save`` (kept in ``ganlib/assets/``).

    Parameters
    ----------
    path : path-like, optional
        The file; default :data:`STORED_PATH`.

    Returns
    -------
    dict
        The script's summary: ``"ring/recipe"``-style keys with the mean and standard error of each
        metric, ``"runs"`` with every run's row, and the machine, torch version and date.

    Raises
    ------
    GanlibError
        When the file is missing or unreadable, or was measured with other networks or settings than
        :func:`protocol_settings` gives now (the recipe changed since: run the script again).
    """
    path = STORED_PATH if path is None else path
    try:
        with open(path, encoding="utf-8") as file:
            stored = json.load(file)
        groups = {key: key.split("/") for key in stored if "/" in key}  # "ring/recipe" -> ["ring", "recipe"]
        if not groups or stored.get("steps") is not None:
            raise GanlibError(f"{str(path)!r} holds no full-length benchmark rows")
        for key, (dataset, method) in groups.items():
            now = protocol_settings(dataset, method)
            if {k: stored[key].get(k) for k in now} != now:
                raise GanlibError(f"{str(path)!r} was measured with other settings for {key} than ganlib's now; run "
                                  f"`python benchmarks/toy_recipes.py --methods recipe vanilla --save {path}` again")
    except GanlibError:
        raise
    except (OSError, ValueError, TypeError, AttributeError) as error:  # missing, not JSON, or not shaped as written
        raise GanlibError(f"cannot read the stored 2-D benchmark {str(path)!r}: {error}") from None
    return stored


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

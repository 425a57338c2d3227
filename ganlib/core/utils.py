"""Small helpers every chapter needs: device choice, seeding, the run budget, runs side by side.

Holds: :func:`get_device`, :func:`seed_everything`, :func:`rng`, :func:`seed_offset`, :func:`budget`,
:func:`steps`, :func:`map_in_threads`, :func:`file_sha256` (the shipped assets' check) and the library's
error type :class:`GanlibError`. It does not hold
anything that trains or plots.

The run budget is the one switch that decides how long every training run in the book is::

    GANLIB_BUDGET=smoke    # a few steps: notebook tests (nbval) finish in seconds
    GANLIB_BUDGET=default  # (or unset) the book's published run, sized for a 2-core CPU
    GANLIB_BUDGET=4        # a number: the default run times that factor (a GPU, Colab)

A second switch redraws every experiment: ``GANLIB_SEED_OFFSET=k`` adds ``k`` to every seed that goes
through :func:`seed_everything`, :func:`rng`, ``TrainConfig.seed`` and ``sample(seed=...)``, so a build
with another offset is a fresh draw of every run in the book. No offset is special: a claim the book
checks must hold for any of them.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

__all__ = ["GanlibError", "get_device", "seed_everything", "seed_offset", "rng", "budget", "steps",
           "map_in_threads", "file_sha256", "BUDGET_ENV", "SEED_OFFSET_ENV"]

BUDGET_ENV = "GANLIB_BUDGET"  # the one environment variable that sets the run budget
SEED_OFFSET_ENV = "GANLIB_SEED_OFFSET"  # shifts every seed: a fresh draw of every experiment


class GanlibError(ValueError):
    """Bad input to ganlib: the message says what was expected and what was given."""


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then the CPU.

    Parameters
    ----------
    prefer : str, optional
        Force a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); ``None`` picks automatically.

    Returns
    -------
    torch.device
    """
    if prefer is not None:
        try:
            device = torch.device(prefer)
        except (RuntimeError, TypeError):
            raise GanlibError(f"unknown device {prefer!r}; expected 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise GanlibError(f"device {prefer!r} was asked for but CUDA is not available here")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise GanlibError(f"device {prefer!r} was asked for but MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_offset() -> int:
    """Return ``GANLIB_SEED_OFFSET`` (0 when unset): what every seed of the book is shifted by.

    Returns
    -------
    int
        A non-negative integer.
    """
    raw = os.environ.get(SEED_OFFSET_ENV, "").strip()
    if not raw:
        return 0
    try:
        offset = int(raw)
    except ValueError:
        offset = -1
    if offset < 0:
        raise GanlibError(f"{SEED_OFFSET_ENV} must be a non-negative integer, got {raw!r}")
    return offset


def _shifted(seed: int) -> int:
    # the seed as used: checked, then shifted by GANLIB_SEED_OFFSET
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise GanlibError(f"seed must be a non-negative integer, got {seed!r}")
    return seed + seed_offset()


def rng(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Return a random stream for ``seed`` (shifted by ``GANLIB_SEED_OFFSET``) on ``device``.

    Use it instead of ``torch.Generator().manual_seed(seed)`` so that a build with another offset
    draws this stream afresh too.

    Parameters
    ----------
    seed : int
        Any non-negative integer.
    device : torch.device or str
        Where the stream draws (``"cpu"`` by default).

    Returns
    -------
    torch.Generator
    """
    return torch.Generator(device=device).manual_seed(_shifted(seed))


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so a run can be repeated.

    The seed is shifted by ``GANLIB_SEED_OFFSET`` first (see :func:`seed_offset`).

    Parameters
    ----------
    seed : int
        Any non-negative integer.

    Returns
    -------
    torch.Generator
        A CPU generator seeded with the same (shifted) seed, for code that wants its own random stream.
    """
    seed = _shifted(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def budget() -> float:
    """Return the run budget from ``GANLIB_BUDGET``: 0 for ``smoke``, 1 for the default, or a factor.

    Returns
    -------
    float
        ``0.0`` means smoke (a few steps); ``1.0`` the book's published run; ``k`` scales it k times.
    """
    raw = os.environ.get(BUDGET_ENV, "").strip().lower()
    if raw in ("", "default", "full"):
        return 1.0
    if raw == "smoke":
        return 0.0
    try:
        factor = float(raw)
    except ValueError:
        factor = float("nan")
    if not math.isfinite(factor) or factor <= 0:
        raise GanlibError(f"{BUDGET_ENV} must be 'smoke', 'default' or a positive number, got {raw!r}")
    return factor


def steps(default: int, smoke: int = 5) -> int:
    """Return how many steps a run should take under the current budget.

    Parameters
    ----------
    default : int
        Steps of the book's published run (sized for a 2-core CPU).
    smoke : int
        Steps under ``GANLIB_BUDGET=smoke``: just enough to exercise the code.

    Returns
    -------
    int
    """
    factor = budget()
    return int(smoke) if factor == 0.0 else max(1, int(round(default * factor)))


def map_in_threads(fn: Callable, items: Iterable, workers: int | None = None) -> list:
    """``[fn(item) for item in items]``, computed ``workers`` items at a time (default: the CPU count).

    For many small training runs on a CPU. PyTorch releases Python's global lock inside its kernels, so
    runs in threads use the cores in parallel; each gets one intra-op thread (``torch.set_num_threads(1)``
    for the duration, restored after), which for small networks is faster than giving one run all cores.
    A run's numbers depend only on its own inputs: build models and draw seeds *before* mapping, since
    the global random state is shared by the threads. Results come back in the order of ``items``.
    """
    items = list(items)
    workers = workers or os.cpu_count() or 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(min(workers, max(1, len(items)))) as pool:
            return list(pool.map(fn, items))
    finally:
        torch.set_num_threads(threads)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (how ganlib checks the files it ships in ``assets/``)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_positive(name: str, value, *, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or value <= 0:
        kind = "integer" if integer else "finite number"
        raise GanlibError(f"{name} must be a positive {kind}, got {value!r}")

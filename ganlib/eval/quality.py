"""Quality during training: measure a generator on a schedule and stop when a target is met.

Holds :func:`evaluator` (``generator -> metrics``, for ``train(..., evaluate=)``) and
:func:`parse_target` (``"modes>=8,hq_fraction>=0.9"`` -> a ``stop_when`` predicate). GAN losses do
not say when samples are good (the source article's "train until realistic" has no stopping rule);
these let a run stop on a measured quality instead. It does not hold the metrics themselves
(:mod:`ganlib.eval.metrics`, :mod:`ganlib.eval.metrics2d`).
"""

from __future__ import annotations

import math
import operator
import re
from typing import Callable

from torch import nn

from ..core.utils import GanlibError

__all__ = ["evaluator", "parse_target", "Target", "EVAL_SAMPLES"]

#: Samples per evaluation for each data set (for the 2-D toys, the protocol's number).
EVAL_SAMPLES = {"mnist": 2000, "ring": 2500, "grid": 2500}  # samples per evaluation (2-D: the protocol's)
EVAL_SEED = 0  # the same noise at every evaluation, so successive numbers differ only by training
_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_CLAUSE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


def evaluator(dataset: str, n: int | None = None, *, seed: int = EVAL_SEED) -> Callable[[nn.Module], dict]:
    """Return ``evaluate(generator) -> metrics`` for ``dataset``, sampling ``n`` points each call.

    Parameters
    ----------
    dataset : {"mnist", "ring", "grid"}
    n : int, optional
        Samples per evaluation; default :data:`EVAL_SAMPLES` of the data set.
    seed : int
        Seed of the sampling noise (fixed, so evaluations are comparable).

    Returns
    -------
    callable
        ``generator -> dict`` of :func:`ganlib.eval.metrics.evaluate`.
    """
    from .metrics import evaluate  # the classifier is loaded only when quality is measured
    from ..core.run import sample

    if dataset not in EVAL_SAMPLES:
        raise GanlibError(f"unknown dataset {dataset!r}; expected one of {tuple(EVAL_SAMPLES)}")
    n = EVAL_SAMPLES[dataset] if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise GanlibError(f"n must be an integer >= 2, got {n!r}")

    def evaluate_generator(generator: nn.Module) -> dict[str, float]:
        device = next(generator.parameters()).device
        return evaluate(sample(generator, n, seed=seed), dataset,
                        **({"device": device} if dataset == "mnist" else {}))

    return evaluate_generator


class Target:
    """A quality target: every clause ``metric op number`` must hold. Call it on a metrics dict."""

    def __init__(self, clauses: list[tuple[str, str, float]]):
        self.clauses = clauses

    def __call__(self, metrics: dict[str, float]) -> bool:
        for name, op, value in self.clauses:
            if name not in metrics:
                raise GanlibError(f"target metric {name!r} is not measured; measured: {sorted(metrics)}")
            if not _OPS[op](metrics[name], value):
                return False
        return True

    def __str__(self) -> str:
        return ",".join(f"{name}{op}{value:g}" for name, op, value in self.clauses)


def parse_target(text: str) -> Target:
    """Parse ``"metric>=x,metric<=y"`` into a :class:`Target` (all clauses must hold).

    Parameters
    ----------
    text : str
        Comma-separated clauses, each a metric name, one of ``>= <= > <`` and a finite number, e.g.
        ``"confident_fraction>=0.8,min_class_share>=0.05"`` or ``"modes>=8,hq_fraction>=0.9"``.

    Returns
    -------
    Target
    """
    if not isinstance(text, str) or not text.strip():
        raise GanlibError("a target is clauses like 'modes>=8,hq_fraction>=0.9', got an empty one")
    clauses = []
    for part in text.split(","):
        match = _CLAUSE.match(part)
        if match is None:
            raise GanlibError(f"cannot read target clause {part.strip()!r}; expected like 'hq_fraction>=0.9'")
        name, op, number = match.groups()
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise GanlibError(f"target clause {part.strip()!r} needs a finite number")
        clauses.append((name, op, value))
    return Target(clauses)

"""What every exercise checker shares: the result, the registry, the fixed seeds and the comparisons.

``CheckResult`` is what a checker returns; ``_checker`` registers a checker in ``CHECKERS`` under its
exercise label and runs it with the book's seed offset ignored; ``_run`` calls the reader's function on a
checker's cases. The comparisons that several chapters use are here too (one number, one array); a
comparison that only one chapter uses stays in that chapter's module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Callable

from ..core.utils import SEED_OFFSET_ENV, GanlibError

__all__ = ["CheckResult", "CHECKERS"]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one checker: ``passed`` plus a one-line message (and a hint when it failed)."""

    exercise: str   # the exercise label, e.g. "ex-4-1"
    passed: bool    # True when every case agreed with the reference
    message: str    # what was checked, or what went wrong
    hint: str = ""  # a nudge towards the answer, shown only on failure

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return f"✅ {self.exercise} passed: {self.message}"
        return f"❌ {self.exercise}: {self.message}" + (f" — hint: {self.hint}" if self.hint else "")

    def _repr_markdown_(self) -> str:  # a notebook shows the line, not the dataclass
        return str(self)


CHECKERS: dict[str, Callable[..., CheckResult]] = {}  # exercise label -> checker, filled by @_checker


@contextlib.contextmanager
def _fixed_seeds():
    # A checker's cases are fixed, like a unit test's: GANLIB_SEED_OFFSET redraws the book's experiments,
    # not the cases (a reader who seeds a torch.Generator with config.seed must match ganlib.train).
    saved = os.environ.pop(SEED_OFFSET_ENV, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[SEED_OFFSET_ENV] = saved


def _checker(label: str):
    """Register a checker under its exercise label (``"ex-4-1"``); its cases ignore ``GANLIB_SEED_OFFSET``."""

    def register(fn):
        @functools.wraps(fn)
        def checked(*args, **kwargs):
            with _fixed_seeds():
                return fn(*args, **kwargs)

        CHECKERS[label] = checked
        return checked

    return register


def _require_callable(label: str, fn) -> None:
    if not callable(fn):
        raise GanlibError(f"{label}: expected your function (a callable), got {type(fn).__name__}")


def _run(label: str, fn, cases, hint: str) -> CheckResult:
    """Call ``fn`` on each ``(description, args, expected, compare)`` case; first failure wins.

    ``compare(got, expected)`` returns ``None`` when they agree, else a short description of the
    difference. An exception raised by the reader's code is reported as a failure, not re-raised.
    """
    _require_callable(label, fn)
    for description, args, expected, compare in cases:
        try:
            got = fn(*args)
        except Exception as error:  # the reader's code failing is a result, not a crash
            return CheckResult(label, False, f"{description}: your code raised {type(error).__name__}: {error}",
                               hint)
        problem = compare(got, expected)
        if problem:
            return CheckResult(label, False, f"{description}: {problem}", hint)
    return CheckResult(label, True, f"{len(cases)} cases agree with the reference")


# --- comparisons shared by several chapters --------------------------------------------------------

def _as_float(got) -> float | None:
    """A reader's scalar answer (float, int, 0-d tensor or array) as a float, or None if it is not one."""
    try:
        value = float(got.item() if hasattr(got, "item") else got)
    except (TypeError, ValueError, RuntimeError):
        return None
    return value


def _scalar_close(atol: float):
    def compare(got, expected):
        value = _as_float(got)
        if value is None:
            return f"expected one number, got {type(got).__name__}"
        if abs(value - expected) > atol:
            return f"got {value:.6g}, expected {expected:.6g}"
        return None

    return compare


def _scalar_gap(got, expected: float, atol: float, if_not_finite: str) -> str | None:
    try:
        got = float(got)
    except (TypeError, ValueError, RuntimeError):
        return f"expected one number, got {type(got).__name__}"
    if got != got or abs(got) == float("inf"):
        return f"got {got}, expected {expected:.6f}: {if_not_finite}"
    return None if abs(got - expected) <= atol else f"got {got:.6f}, expected {expected:.6f}"


def _array_gap(got, expected, atol: float) -> str | None:
    import numpy as np

    try:
        got = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"expected an array of numbers, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"expected shape {expected.shape}, got {got.shape}"
    if not np.all(np.isfinite(got)):
        return "the result has NaN or infinite values"
    gap = float(np.max(np.abs(got - expected))) if got.size else 0.0
    return None if gap <= atol else f"largest difference from the reference {gap:.3g}"

"""Exercise checkers: ``check.ex_4_1(your_function)`` runs a reader's answer against the book's own.

Holds one function per code exercise, named ``ex_<chapter>_<number>`` after the exercise's label in the
chapter (``ex-4-1`` → :func:`ex_4_1`). Each calls the reader's code on a few seeded cases, compares with
a reference computed here (never a hand-typed number) and returns a :class:`CheckResult` that prints as
one friendly line: ``✅ ex-4-1 passed`` or ``❌ ex-4-1: <what went wrong> — hint: <a nudge>``.
A checker never raises because the answer is wrong; it raises :class:`~ganlib.utils.GanlibError` only
when it is called with something that is not an answer at all (e.g. not callable).

It does not hold the solutions' prose (that lives, hidden, in the chapters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .utils import GanlibError

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


def _checker(label: str):
    """Register a checker under its exercise label (``"ex-4-1"``) and make it print its result."""

    def register(fn):
        CHECKERS[label] = fn
        return fn

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


# --- Chapters 1 and 2 -------------------------------------------------------------------------------


# --- Chapters 3 and 4 -------------------------------------------------------------------------------


# --- Chapter 5 onwards ------------------------------------------------------------------------------

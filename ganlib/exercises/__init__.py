"""Exercise checkers: ``ganlib.exercises.ex_4_1(your_function)`` runs a reader's answer against the book's own.

What belongs here: the chapters' exercise checkers and the other helpers that only the book uses, such
as :mod:`.remedy_trials`, chapter 7's experiment that sets up a run with one remedy by name. Nothing in
``ganlib.core``, ``ganlib.variants`` or ``ganlib.eval`` imports this package; it imports them.

There is one function per code exercise, named ``ex_<chapter>_<number>`` after the exercise's label in
the chapter (``ex-4-1`` → :func:`ex_4_1`). Each calls the reader's code on a few seeded cases, compares
with a reference computed from the library (never a hand-typed number) and returns a :class:`CheckResult`
that prints as one friendly line: ``✅ ex-4-1 passed`` or ``❌ ex-4-1: <what went wrong> — hint: <a nudge>``.
A checker never raises because the answer is wrong; it raises :class:`~ganlib.core.utils.GanlibError`
only when it is called with something that is not an answer at all (e.g. not callable).
``CHECKERS`` maps every label to its checker.

Where a checker goes: in the module of its chapter (:mod:`.ch01_02`, :mod:`.ch03`, :mod:`.ch04`,
:mod:`.ch06`, :mod:`.ch07`, :mod:`.ch08_09`), decorated with ``@_checker("ex-<chapter>-<number>")``
from :mod:`._common`, which also holds the comparisons that several chapters share. A new chapter's
checkers go in a new module ``ch<NN>.py`` (each module stays under 300 lines), imported and re-exported
below. The solutions' prose is not here: it lives, hidden, in the chapters.
"""

from __future__ import annotations

from . import remedy_trials
from ._common import CHECKERS, CheckResult
from .ch01_02 import ex_1_2, ex_2_2, ex_2_3
from .ch03 import ex_3_2, ex_3_3
from .ch04 import ex_4_1, ex_4_2, ex_4_3
from .ch06 import ex_6_1, ex_6_2, ex_6_3
from .ch07 import ex_7_3, ex_7_4
from .ch08_09 import ex_8_1, ex_9_1

__all__ = ["CheckResult", "CHECKERS", "remedy_trials",
           "ex_1_2", "ex_2_2", "ex_2_3", "ex_3_2", "ex_3_3", "ex_4_1", "ex_4_2", "ex_4_3",
           "ex_6_1", "ex_6_2", "ex_6_3", "ex_7_3", "ex_7_4", "ex_8_1", "ex_9_1"]

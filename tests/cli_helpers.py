"""How the CLI tests run ``python -m ganlib``: in a subprocess (the real entry point) or in-process.

Shared by test_cli.py and test_cli_faults.py (a plain module: pytest collects only ``test_*.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

from ganlib.cli import main

TIMEOUT_S = 180  # generous: the machine is shared; a hang must still end the test


def cli_env() -> dict:
    """The environment of a ``python -m ganlib`` subprocess."""
    env = dict(os.environ)
    env.pop("GANLIB_BUDGET", None)  # the CLI's lengths come from its arguments, not the budget
    env["OMP_NUM_THREADS"] = "1"    # tiny models on a shared 2-core machine: one thread is fastest
    env["MPLBACKEND"] = "Agg"
    return env


def cli(*args, cwd) -> subprocess.CompletedProcess:
    """Run ``python -m ganlib ARGS`` in ``cwd`` and return the finished process (text output)."""
    return subprocess.run([sys.executable, "-m", "ganlib", *map(str, args)], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def _print_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def main_in_process(argv, capsys) -> tuple[int, str, str]:
    """Call ``ganlib.cli.main(argv)``; return (exit status, stdout, stderr) as the process would.

    pytest records warnings instead of printing them; here they are printed to stderr with
    Python's default filters, as they would be in ``python -m ganlib``.
    """
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")
        warnings.showwarning = _print_warning
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse exits; main returns
            code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, expected: int = 2):
    """The process failed with status ``expected`` and one line on stderr, no traceback."""
    assert code == expected, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"expected one line on stderr, got {err!r}"

"""Wall time of every chapter on this machine: each notebook's code cells, run in a fresh process.

A chapter runs as the book build runs it (from ``chapters/``, the budget taken from ``GANLIB_BUDGET``),
but in an IPython shell instead of a Jupyter kernel, so it needs only IPython, not the Jupyter stack:
the figures are those of the training and plotting, without the kernel's start-up (about a second).
A cell that raises fails its chapter. The chapters' pages quote the result of one run on a GPU machine
(``benchmarks/results/``; ``tests/test_timings.py`` checks that the pages and the file agree).

::

    python benchmarks/time_chapters.py --out times.json                 # every chapter, one at a time
    python benchmarks/time_chapters.py --jobs 3 --timeout 400 05_mnist_project a2_toy_benchmark

The last line is one JSON object: machine, torch, device, jobs, and per chapter ``seconds`` and ``ok``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"

# Runs in the child process: execute the notebook's code cells in order in one IPython shell.
_CHILD = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.display_formatter.formatters["text/plain"].for_type_by_name(  # Markdown tables as their text in the log
    "IPython.core.display", "Markdown", lambda obj, printer, cycle: printer.text(obj.data))
for i, cell in enumerate(json.load(open(sys.argv[1]))["cells"]):
    if cell["cell_type"] != "code":
        continue
    result = shell.run_cell("".join(cell["source"]), store_history=False)
    if not result.success:
        print(f"cell {i} failed", file=sys.stderr)
        sys.exit(1)
"""


def time_chapter(name: str, timeout: float, logs: Path | None = None) -> dict:
    """Run one chapter in a fresh process; its wall seconds, whether it ran to the end, its last lines.

    With ``logs``, the chapter's whole output goes to ``logs/NAME.log``."""
    path = CHAPTERS / f"{name}.ipynb"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    tick = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], cwd=CHAPTERS, env=env,
                              capture_output=True, text=True, timeout=timeout)
        ok, output = proc.returncode == 0, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as stopped:
        ok, output = False, f"{stopped.stdout or ''}\nstopped after {timeout:g} s"
    if logs is not None:
        (logs / f"{name}.log").write_text(output)
    tail = output[-600:]
    seconds = time.perf_counter() - tick
    print(f"{name:24} {seconds:7.1f} s  {'ok' if ok else 'FAILED'}", flush=True)
    return {"seconds": round(seconds, 1), "ok": ok, **({} if ok else {"tail": tail})}


def machine() -> dict:
    import torch
    info = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "budget": os.environ.get("GANLIB_BUDGET", "default"), "gpu": None}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter names without .ipynb (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="chapters run at the same time (default 1)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a chapter is stopped")
    parser.add_argument("--out", help="also write the JSON object to this file")
    parser.add_argument("--logs", type=Path, help="write each chapter's output to LOGS/NAME.log")
    args = parser.parse_args(argv)
    names = args.chapters or sorted(p.stem for p in CHAPTERS.glob("*.ipynb"))
    if missing := [n for n in names if not (CHAPTERS / f"{n}.ipynb").exists()]:
        parser.error(f"no such chapter: {', '.join(missing)}")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    with ThreadPoolExecutor(args.jobs) as pool:
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
        times = dict(zip(names, pool.map(lambda n: time_chapter(n, args.timeout, args.logs), names)))
    result = {"benchmark": "time_chapters", **machine(), "jobs": args.jobs,
              "date": time.strftime("%Y-%m-%d"), "chapters": times}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

"""Execute every chapter of the book, several at a time, into the cache that ``jupyter-book build`` reads.

``make book`` runs this first, then ``jupyter-book build``. The build's ``execute_notebooks: cache``
takes each chapter's outputs from this run, so every build still executes every chapter with the code
of that build: the cache is emptied before the chapters run. On a 2-core CPU two chapters with one
torch thread each do more work than one chapter with two (a DCGAN step of chapter 5 takes 63 ms on two
threads and 85 ms on one), so the chapters share the machine, each with an equal share of the cores
(``OMP_NUM_THREADS``), except those that fill every core themselves (``RUNS_ALONE``).

A chapter whose cell raises or times out fails this script (exit 1) with its traceback, as a failing
cell fails ``jupyter-book build``; the chapters still running are stopped.

::

    python book/execute_chapters.py                 # every chapter, two at a time
    python book/execute_chapters.py --jobs 1        # one at a time
    python book/execute_chapters.py --only 07_pitfalls --keep out/   # some chapters; executed copies in out/
    GANLIB_SEED_OFFSET=1 python book/execute_chapters.py --keep out/ # a fresh draw, leaving the cache alone

Writes one line per chapter (its wall seconds) and a last line with the total.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"  # where jupyter-book's myst-nb looks by default
# Started first so that the longest chapters do not run alone at the end: the order of their times when
# last executed on the 2-core CPU (2026-12-02: 05 245 s, 09 217 s, 07b 179 s, 06 132 s, 08 104 s, a1 62 s,
# 02 40 s). The other chapters follow in the table of contents' order.
LONGEST_FIRST = ["05_mnist_project", "09_gan_vs_vae", "07b_remedies", "06_variants", "08_applications",
                 "a1_scaling_out", "02_core_concepts"]
# Chapters that train on every core themselves (appendix A2: a pool of one process per core, 548 s in
# that build). Sharing the machine would only slow them down, so they run last, with nothing beside them.
RUNS_ALONE = ["a2_toy_benchmark"]


def toc_notebooks() -> list[Path]:
    """The notebooks in ``_toc.yml`` in the order they are started: ``LONGEST_FIRST``, the others,
    ``RUNS_ALONE``."""
    def files(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            for value in node.values():
                yield from files(value)
        elif isinstance(node, list):
            for item in node:
                yield from files(item)

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    found = [ROOT / f"{name}.ipynb" for name in files(toc) if (ROOT / f"{name}.ipynb").exists()]
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    rank.update({name: len(found) + i for i, name in enumerate(RUNS_ALONE)})
    return sorted(found, key=lambda path: rank.get(path.stem, len(LONGEST_FIRST)))


def execute_one(path: Path, out: Path, timeout: int) -> int:
    """Run one notebook in its own folder, as myst-nb's cache mode does, and write it with its outputs to
    ``out``. Returns 0, or 1 (with the traceback on stderr) if a cell raised or timed out."""
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.read(path, as_version=4)
    result = single_nb_execution(notebook, cwd=str(path.parent), timeout=timeout, allow_errors=False)
    if result.err is not None:
        print(result.exc_string, file=sys.stderr)
        return 1
    nbformat.write(notebook, out)
    return 0


def execute_all(notebooks: list[Path], jobs: int, timeout: int, work: Path, keep: Path | None = None) -> list[str]:
    """Run the notebooks in order, ``jobs`` at a time (those in ``RUNS_ALONE`` with nothing beside them),
    each in a child process (its own session, so that it can be stopped with its kernel); cache each one
    that succeeds (or, with ``keep``, write it there instead and leave the cache alone). Returns the names
    of those that failed; on the first failure the others still running are stopped.

    A chapter that shares the machine gets an equal share of the cores for its torch (and the libraries
    under it) through ``OMP_NUM_THREADS``, unless that is set already; one that runs alone gets them all."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(CACHE))
    shared_env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // jobs)), **os.environ}
    waiting, running, failed = list(notebooks), {}, []
    while (waiting or running) and not failed:
        while waiting and len(running) < jobs:
            alone = waiting[0].stem in RUNS_ALONE
            if running and (alone or any(p.stem in RUNS_ALONE for p, *_ in running.values())):
                break
            path = waiting.pop(0)
            out, log = work / f"{path.stem}.ipynb", open(work / f"{path.stem}.log", "w")
            child = subprocess.Popen([sys.executable, __file__, "--one", str(path), "--into", str(out),
                                      "--timeout", str(timeout)], stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=os.environ if alone else shared_env)
            running[child] = (path, out, log, time.perf_counter())
        time.sleep(0.5)
        for child in [c for c in running if c.poll() is not None]:
            path, out, log, tick = running.pop(child)
            seconds = time.perf_counter() - tick
            log.close()
            name = str(path.relative_to(ROOT))
            if child.returncode != 0:
                print(f"FAILED {name} after {seconds:.0f} s:\n{(work / f'{path.stem}.log').read_text()}",
                      file=sys.stderr, flush=True)
                failed.append(name)
                continue
            print(f"{seconds:7.0f} s  {name}", flush=True)
            if keep is not None:
                shutil.copy(out, keep / out.name)
                continue
            record = cache.add_nb_to_project(str(path))
            cache.cache_notebook_bundle(CacheBundleIn(nbformat.read(out, as_version=4), record.uri,
                                                      data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
    for child, (_, _, log, _) in running.items():  # only after a failure: the build fails anyway
        os.killpg(child.pid, signal.SIGTERM)
        child.wait()
        log.close()
    return failed


def main(argv: list[str] | None = None) -> int:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["execute"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="chapters run at a time (default: 2, or 1 on a 1-core machine)")
    parser.add_argument("--timeout", type=int, default=config["timeout"],
                        help=f"seconds allowed per cell (default: _config.yml's, {config['timeout']})")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these chapters (e.g. 07_pitfalls)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="write the executed notebooks to DIR and leave the build's cache alone")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)   # internal: run one notebook ...
    parser.add_argument("--into", type=Path, help=argparse.SUPPRESS)  # ... and write it here
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.timeout < 1:
        parser.error("--jobs and --timeout must be positive")
    if args.one:
        return execute_one(args.one, args.into, args.timeout)

    notebooks = toc_notebooks()
    if args.only:
        unknown = set(args.only) - {path.stem for path in notebooks}
        if unknown:
            parser.error(f"no chapter named {', '.join(sorted(unknown))} in _toc.yml")
        notebooks = [path for path in notebooks if path.stem in args.only]
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    else:
        shutil.rmtree(CACHE, ignore_errors=True)  # a stale output never reaches the book
    print(f"executing {len(notebooks)} chapters, {args.jobs} at a time ({', '.join(RUNS_ALONE)} alone)", flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        failed = execute_all(notebooks, args.jobs, args.timeout, Path(work), args.keep)
    if failed:
        print(f"chapter failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(notebooks)} chapters executed in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

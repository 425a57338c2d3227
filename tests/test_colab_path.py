"""The Colab path: a chapter run where ganlib is not installed, so its setup cell must install it.

A fresh virtual environment would take minutes, so the test fakes only what differs on Colab and runs
the real chapter in a real Jupyter kernel (nbclient), under ``GANLIB_BUDGET=smoke``:

- ganlib is hidden: a ``sitecustomize`` on ``PYTHONPATH`` wraps every import finder so that no copy of
  ganlib is found except one installed into a temporary ``site`` folder (on ``sys.path``, empty at
  first), the way Colab's site-packages has none until the setup cell installs it;
- ``google.colab`` is importable (an empty stand-in), as on Colab;
- ``subprocess.run`` is shimmed: a ``pip install "ganlib @ git+URL"`` is recorded, and pip really
  runs, with the requirement replaced by a copy of this checkout and ``--no-deps --target site``
  (the network is not needed, and torch and the other dependencies are already there, as on Colab).

The test checks that ganlib cannot be imported before the setup cell, that the setup cell installs
it exactly once from ``repository.url`` of ``_config.yml``, that the chapter then uses the installed
copy (not this checkout), and that every cell of the chapter runs to the end.
"""
import json
import os
import re
import shutil
import textwrap
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "chapters" / "05_mnist_project.ipynb"  # the shortest chapter under the smoke budget
TIME_LIMIT_S = 600  # per cell; the whole test takes well under a minute on 2 CPU cores

SITECUSTOMIZE = '''
"""Colab stand-in for tests/test_colab_path.py (loaded through PYTHONPATH)."""
import json
import os
import subprocess
import sys

_SITE = os.environ["COLAB_TEST_SITE"]          # the only place ganlib may be imported from
_LOG = os.environ["COLAB_TEST_LOG"]            # one JSON line per pip install of ganlib
_SOURCE = os.environ["COLAB_TEST_SOURCE"]      # a copy of the checkout, installed instead of the URL
sys.path.append(_SITE)                         # like site-packages: on the path, empty until an install


class _HideGanlib:
    """Wraps an import finder: a ganlib found anywhere but in _SITE is not found."""

    def __init__(self, finder):
        self._finder = finder

    def find_spec(self, name, path=None, target=None):
        find = getattr(self._finder, "find_spec", None)
        spec = find(name, path, target) if find else None
        if spec is not None and (name == "ganlib" or name.startswith("ganlib.")):
            origin = spec.origin or (list(spec.submodule_search_locations or [""]) + [""])[0]
            if not os.path.abspath(str(origin)).startswith(os.path.abspath(_SITE) + os.sep):
                return None
        return spec

    def __getattr__(self, attr):
        return getattr(self._finder, attr)


sys.meta_path[:] = [_HideGanlib(finder) for finder in sys.meta_path]

_real_run = subprocess.run


def _run(args, *rest, **kwargs):
    """subprocess.run, except that pip installing ganlib from a URL installs the local copy."""
    argv = [str(a) for a in args] if isinstance(args, (list, tuple)) else None
    if argv and argv[1:4] == ["-m", "pip", "install"] and any(a.startswith("ganlib @") for a in argv):
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps(argv) + "\\n")
        options = [a for a in argv[4:] if a.startswith("-")]
        extra = os.environ.get("COLAB_TEST_PIP_OPTIONS", "").split()
        argv = argv[:4] + options + extra + ["--no-deps", "--target", _SITE, _SOURCE]
        args = argv
    return _real_run(args, *rest, **kwargs)


subprocess.run = _run
'''

BEFORE_SETUP = """\
import importlib.util, sys
assert importlib.util.find_spec("ganlib") is None, "ganlib is importable before the setup cell"
assert "ganlib" not in sys.modules
import google.colab  # the stand-in: the chapter runs as on Colab
"""

AFTER_SETUP = """\
import json as _json
_installs = [_json.loads(line) for line in open({log!r}, encoding="utf-8")]
assert [a for a in _installs[0] if a.startswith("ganlib @")] == [{requirement!r}], _installs
import ganlib as _installed
assert _installed.__file__.startswith({site!r}), f"ganlib was imported from {{_installed.__file__}}"
"""


def _config_repository_url() -> str:
    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, flags=re.M)
    assert match, "_config.yml has no repository.url"
    return match.group(1)


def _setuptools_builds_ganlib() -> bool:
    """Whether this environment's setuptools meets pyproject.toml's build requirement."""
    required = re.search(r'"setuptools>=([\d.]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    try:
        from importlib.metadata import version
        have = tuple(int(part) for part in version("setuptools").split(".")[:2])
    except Exception:  # not installed, or a version string that is not plain numbers
        return False
    return bool(required) and have >= tuple(int(part) for part in required.group(1).split(".")[:2])


def _copy_checkout(destination: Path) -> None:
    """What pip needs to build ganlib: pyproject, readme, license and the package (no caches)."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, destination / name)
    shutil.copytree(ROOT / "ganlib", destination / "ganlib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def test_chapter_runs_on_colab_after_its_setup_cell_installs_ganlib(tmp_path):
    site, source, work, hooks = (tmp_path / name for name in ("site", "source", "work", "hooks"))
    for folder in (site, work, hooks):
        folder.mkdir()
    _copy_checkout(source)
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE), encoding="utf-8")
    (hooks / "google" / "colab").mkdir(parents=True)  # no google/__init__.py: a namespace, like Colab's
    (hooks / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab."""\n', encoding="utf-8")
    log = tmp_path / "pip_installs.jsonl"

    nb = nbformat.read(CHAPTER, as_version=4)
    first = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    assert nb.cells[first].source.startswith("# Setup"), "the first code cell must be the setup cell"
    requirement = f"ganlib @ git+{_config_repository_url()}"
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(  # fails fast, right after the setup cell
        AFTER_SETUP.format(log=str(log), requirement=requirement, site=str(site))))
    nb.cells.insert(first, nbformat.v4.new_code_cell(BEFORE_SETUP))

    env = {**os.environ, "GANLIB_BUDGET": "smoke", "PYTHONPATH": str(hooks), "COLAB_TEST_SITE": str(site),
           "COLAB_TEST_LOG": str(log), "COLAB_TEST_SOURCE": str(source),
           # building in this environment is quicker and needs no network, when its setuptools can
           "COLAB_TEST_PIP_OPTIONS": "--no-build-isolation" if _setuptools_builds_ganlib() else ""}
    start = time.perf_counter()
    client = nbclient.NotebookClient(nb, timeout=TIME_LIMIT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    client.execute(env=env)  # raises CellExecutionError, naming the cell, if any cell fails
    seconds = time.perf_counter() - start

    installs = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    assert len(installs) == 1, f"the setup cell ran pip install of ganlib {len(installs)} times, expected once"
    installed = [a for a in installs[0] if a.startswith("ganlib @")]
    assert installed == [requirement], f"the setup cell installs {installed}; _config.yml says {requirement!r}"
    assert (site / "ganlib" / "__init__.py").exists(), "pip did not install ganlib into the stand-in site"
    print(f"Colab path: {CHAPTER.name} ran in {seconds:.0f} s, of which the setup cell (pip install) "
          f"{_cell_seconds(nb.cells[first + 1]):.0f} s")


def _cell_seconds(cell) -> float:
    """A cell's run time from the timing nbclient records in its metadata."""
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        from datetime import datetime
        begin, end = (datetime.fromisoformat(timing[key].replace("Z", "+00:00"))
                      for key in ("iopub.execute_input", "shell.execute_reply"))
    except (KeyError, ValueError):
        return float("nan")
    return (end - begin).total_seconds()

"""The Colab path for real: every generated Colab notebook, run in a fresh virtual environment.

The environment stands in for a Colab runtime: a new ``python -m venv`` with what Colab has installed
before a notebook starts (torch, ipykernel, IPython and ipywidgets at Colab's versions; torch is this
machine's own CPU wheel, as Colab's is its CUDA build) and no ganlib. A wheel built from this checkout
stands in for the release: each notebook's first cell, ``%pip install "ganlib @ git+<url>@v<version>"``,
is pointed at it (``"ganlib @ file://<wheel>"``) and nothing else is changed, so ganlib and the
dependencies it declares come only from that cell (numpy, matplotlib and tqdm from the package
registry). The first notebook runs where ganlib is not installed and must install it; the others (whose
first cell is the same line) then run two at a time. Each runs in a kernel of that environment
(nbclient), in an empty folder, at ``GANLIB_BUDGET=smoke``, and must have no MyST left
(``book/colab.py``'s check).

It needs the package registry (skips without one) and this machine's local torch wheel (skips without
one: a torch from the registry would be gigabytes of CUDA libraries). It takes minutes, not seconds,
so it runs only with ``GANLIB_COLAB_TEST=1``: ``.ci/run`` runs it as a step of its own.
"""
import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(path.stem for path in (ROOT / "chapters").glob("*.ipynb"))
CELL_TIMEOUT_S = 600
# Colab's kernel and widgets (googlecolab/backend-info, pip-freeze.gpu.txt, 2026-08-19); see test_colab_deps.py.
COLAB_PREINSTALLED = ["ipykernel==6.17.1", "ipython==7.34.0", "ipython-genutils==0.2.0"]
# ipywidgets without its front-end packages (widgetsnbextension pulls in the whole notebook server; a
# kernel never imports them): a minute less to set up
COLAB_WIDGETS = "ipywidgets==7.7.1"
KERNEL = "colab-stand-in"
PARALLEL = 2  # notebooks run at a time

pytestmark = pytest.mark.skipif(os.environ.get("GANLIB_COLAB_TEST") != "1",
                                reason="minutes long: set GANLIB_COLAB_TEST=1 (.ci/run does)")


def _pip(python: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True, env=env)
    assert not check or result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


def _local_torch() -> str:
    """``torch==<this torch>`` when its wheel lies on this machine's disk (pip's find-links), else a skip."""
    import torch

    spec = f"torch=={torch.__version__}"
    probe = _pip(Path(sys.executable), "install", "--dry-run", "--no-index", "--no-deps", "--ignore-installed",
                 "--quiet", spec, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no {spec} wheel on this machine's disk; from the registry torch is gigabytes")
    return spec


@pytest.fixture(scope="module")
def wheel(checkout_copy, tmp_path_factory) -> Path:
    """A wheel of this checkout: the release the notebooks install."""
    out = tmp_path_factory.mktemp("wheel")
    _pip(Path(sys.executable), "wheel", "--no-deps", "--quiet", str(checkout_copy), "-w", str(out))  # isolated build
    (built,) = out.glob("ganlib-*.whl")
    return built


@pytest.fixture(scope="module")
def colab_runtime(package_registry, tmp_path_factory, monkeypatch_module) -> Path:
    """A fresh virtual environment with Colab's preinstalled packages and a kernel of its own; its python."""
    torch_spec = _local_torch()
    folder = tmp_path_factory.mktemp("colab-runtime")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    python = folder / "venv" / "bin" / "python"
    _pip(python, "install", "--quiet", torch_spec, *COLAB_PREINSTALLED)
    _pip(python, "install", "--quiet", "--no-deps", COLAB_WIDGETS)
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(folder / "jupyter"),
                    "--name", KERNEL], check=True, capture_output=True)
    monkeypatch_module.setenv("JUPYTER_PATH", str(folder / "jupyter" / "share" / "jupyter"))
    print(f"\nColab stand-in ready in {time.perf_counter() - start:.0f} s: {torch_spec} "
          f"{' '.join(COLAB_PREINSTALLED)} {COLAB_WIDGETS}")
    return python


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def notebooks(load_script, tmp_path_factory) -> dict:
    colab = load_script("book/colab.py")
    out = tmp_path_factory.mktemp("colab-notebooks")
    return {"colab": colab, "paths": {path.stem: path for path in colab.write_all(out)}}


def _prepared(notebooks: dict, chapter: str, wheel: Path) -> nbformat.NotebookNode:
    """The chapter's Colab notebook, checked, with its first cell pointed at the wheel."""
    colab = notebooks["colab"]
    nb = nbformat.read(notebooks["paths"][chapter], as_version=4)
    assert colab.myst_left(nb) == [], f"{chapter}: MyST left in the Colab notebook"
    install = colab.install_line(colab.settings())
    assert nb.cells[0].source == install, f"{chapter}: the first cell must install the release"
    nb.cells[0].source = re.sub(r'"ganlib @ [^"]+"', f'"ganlib @ {wheel.as_uri()}"', install)
    return nb


async def _run(nb: nbformat.NotebookNode, folder: Path, jobs: asyncio.Semaphore) -> float:
    """Execute ``nb`` in the stand-in's kernel, in ``folder``; its wall seconds. Raises on a failing cell."""
    folder.mkdir(exist_ok=True)
    env = {**os.environ, "GANLIB_BUDGET": "smoke", "MPLBACKEND": "Agg", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "OMP_NUM_THREADS": "1",                  # two notebooks share the cores, one thread each
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}   # ipykernel 6.17's debugger warns about frozen modules
    async with jobs:
        start = time.perf_counter()
        client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL,
                                         resources={"metadata": {"path": str(folder)}})
        await client.async_execute(env=env)
        return time.perf_counter() - start


def test_first_cell_installs_ganlib_where_there_is_none(notebooks, colab_runtime, wheel, tmp_path):
    """The install line works: in the stand-in without ganlib, the first notebook installs it (with numpy,
    matplotlib and tqdm) and runs to its end on that copy. Every notebook's first cell is the same line
    (tests/test_colab_notebooks.py), so the others re-run an install that is already there."""
    check = subprocess.run([str(colab_runtime), "-c", "import ganlib"], capture_output=True, cwd=tmp_path)
    assert check.returncode != 0, "ganlib is importable before the notebook's first cell"
    nb = _prepared(notebooks, CHAPTERS[0], wheel)
    seconds = asyncio.run(_run(nb, tmp_path / "work", asyncio.Semaphore(1)))
    installed = "".join(out.get("text", "") for out in nb.cells[0].outputs)
    assert re.search(r"Successfully installed .*ganlib-", installed), installed[-2000:]
    where = subprocess.run([str(colab_runtime), "-c", "import ganlib; print(ganlib.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(colab_runtime.parent.parent)), f"ganlib imported from {where}"
    print(f"{CHAPTERS[0]}: {len(nb.cells)} cells in {seconds:.0f} s, of which the install "
          f"{_cell_seconds(nb.cells[0]):.0f} s")


def test_every_notebook_runs_to_its_end(notebooks, colab_runtime, wheel, tmp_path):
    """The other notebooks, two at a time (the CI machine's two cores); a failure names its chapter."""
    chapters = CHAPTERS[1:]
    prepared = {chapter: _prepared(notebooks, chapter, wheel) for chapter in chapters}

    async def run_all():
        jobs = asyncio.Semaphore(PARALLEL)
        return await asyncio.gather(*(_run(prepared[c], tmp_path / c, jobs) for c in chapters),
                                    return_exceptions=True)

    start = time.perf_counter()
    results = dict(zip(chapters, asyncio.run(run_all())))
    for chapter, result in results.items():
        print(f"{chapter}: " + (f"{result:.0f} s" if isinstance(result, float) else f"FAILED {result!r:.300}"))
    print(f"{len(chapters)} notebooks, {PARALLEL} at a time, in {time.perf_counter() - start:.0f} s")
    failed = {chapter: str(result)[-3000:] for chapter, result in results.items() if isinstance(result, Exception)}
    assert not failed, "\n\n".join(f"{chapter}:\n{error}" for chapter, error in failed.items())


def _cell_seconds(cell) -> float:
    """A cell's run time from the timing nbclient records in its metadata."""
    from datetime import datetime

    timing = cell.get("metadata", {}).get("execution", {})
    try:
        begin, end = (datetime.fromisoformat(timing[key].replace("Z", "+00:00"))
                      for key in ("iopub.execute_input", "shell.execute_reply"))
    except (KeyError, ValueError):
        return float("nan")
    return (end - begin).total_seconds()

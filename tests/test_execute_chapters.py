"""book/execute_chapters.py, which `make book` runs before `jupyter-book build`: which notebooks it
runs and in what order, and that a failing cell fails it (as a failing cell fails the build)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("jupyter_cache")  # the book's extra: pip install -e ".[book]"
pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "execute_chapters.py"


@pytest.fixture(scope="module")
def execute_chapters(load_script):
    return load_script("book/execute_chapters.py")


def test_runs_every_notebook_of_the_toc_longest_first_and_the_lone_ones_last(execute_chapters):
    found = [p.stem for p in execute_chapters.toc_notebooks()]
    assert sorted(found) == sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))
    # every name listed is a chapter (a renamed chapter would otherwise silently lose its place)
    first, alone = execute_chapters.LONGEST_FIRST, execute_chapters.RUNS_ALONE
    assert found[:len(first)] == first and found[-len(alone):] == alone


def test_the_cache_is_the_one_jupyter_book_reads(execute_chapters):
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    assert "execute_notebooks: cache" in config and "\n  cache:" not in config  # myst-nb's default path
    assert execute_chapters.CACHE == ROOT / "_build" / ".jupyter_cache"


def _notebook(tmp_path, source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def _run_one(path, out):
    return subprocess.run([sys.executable, str(SCRIPT), "--one", str(path), "--into", str(out), "--timeout", "60"],
                          capture_output=True, text=True, timeout=120)


def test_one_notebook_is_written_with_its_outputs(tmp_path):
    out = tmp_path / "out.ipynb"
    done = _run_one(_notebook(tmp_path, "print(6 * 7)"), out)
    assert done.returncode == 0, done.stderr
    cell = json.loads(out.read_text())["cells"][0]
    assert "".join(cell["outputs"][0]["text"]) == "42\n"


def test_a_failing_cell_fails_with_its_traceback(tmp_path):
    out = tmp_path / "out.ipynb"
    done = _run_one(_notebook(tmp_path, "raise ValueError('broken chapter')"), out)
    assert done.returncode == 1
    assert "ValueError" in done.stderr and "broken chapter" in done.stderr
    assert not out.exists()


def test_bad_arguments_exit_2():
    done = subprocess.run([sys.executable, str(SCRIPT), "--jobs", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--jobs" in done.stderr

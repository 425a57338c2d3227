"""The chapters as files: stored without outputs, one setup cell, one repository address.

(nbval executes them: `pytest` collects chapters/*.ipynb with --nbval-lax, see pyproject.toml.)
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _config_repository_url() -> str:
    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, flags=re.M)
    assert match, "_config.yml has no repository.url"
    return match.group(1)


def _toc_files() -> list[str]:
    return re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8"))


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks in chapters/"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_one_setup_cell_installs_from_the_configured_repository(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert code[0].startswith("# Setup"), f"{path.name}: the first code cell must be the setup cell"
    assert sum("pip\", \"install" in c for c in code) == 1, f"{path.name}: exactly one cell installs ganlib"
    urls = set(re.findall(r"git\+(\S+?)[\"']", code[0]))
    assert urls == {_config_repository_url()}, f"{path.name}: installs from {urls}, _config.yml says " \
                                               f"{_config_repository_url()}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_is_in_the_toc(path):
    assert f"chapters/{path.stem}" in _toc_files(), f"{path.name} is not listed in _toc.yml"

"""The Colab notebooks that book/colab.py generates from the chapters: plain Markdown, pinned, complete.

(tests/test_colab_path.py runs them in a fresh virtual environment; this checks what they contain.)
"""
import json
import re
from pathlib import Path

import nbformat
import pytest

import ganlib

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


@pytest.fixture(scope="module")
def colab(load_script):
    return load_script("book/colab.py")


@pytest.fixture(scope="module")
def generated(colab, tmp_path_factory) -> dict[str, nbformat.NotebookNode]:
    out = tmp_path_factory.mktemp("colab")
    return {path.stem: nbformat.read(path, as_version=4) for path in colab.write_all(out)}


def _pyproject_version() -> str:
    return re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)[1]


def test_one_notebook_per_chapter(generated):
    assert sorted(generated) == [path.stem for path in CHAPTERS]


@pytest.mark.parametrize("chapter", [path.stem for path in CHAPTERS])
def test_no_myst_left(generated, colab, chapter):
    assert colab.myst_left(generated[chapter]) == []


def test_the_myst_check_finds_what_it_looks_for(colab):
    samples = ["see {cite:p}`goodfellow2014gan`", ":::{exercise}", "```{literalinclude} a.py", "{ref}`x`",
               "{term}`GAN`", "{doc}`x`", "(ch07-faq)=", "```{admonition} Tip"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text) for text in samples])
    assert len(colab.myst_left(notebook)) == len(samples)


@pytest.mark.parametrize("chapter", [path.stem for path in CHAPTERS])
def test_first_cells_install_the_release_then_title_then_gpu_note(generated, colab, chapter):
    cells = generated[chapter].cells
    assert cells[0].cell_type == "code" and cells[0].source == colab.install_line(colab.settings())
    assert cells[1].cell_type == "markdown" and cells[1].source.startswith("# ")
    assert "GANLIB_BUDGET" in cells[2].source and cells[2].cell_type == "markdown"
    code = [cell.source for cell in cells[1:] if cell.cell_type == "code"]
    assert not any("find_spec(\"ganlib\")" in c or "pip install" in c for c in code), "a second install"
    assert code[0].startswith("# Setup"), "the chapter's setup cell follows"


@pytest.mark.parametrize("chapter", [path.stem for path in CHAPTERS])
def test_gpu_metadata_and_kernel(generated, chapter):
    metadata = generated[chapter].metadata
    assert metadata["accelerator"] == "GPU" and metadata["colab"]["gpuType"] == "T4"
    assert metadata["colab"]["provenance"] == [] and metadata["kernelspec"]["name"] == "python3"


def test_the_pin_is_the_package_version_and_the_configured_address(generated, colab):
    """One release: pyproject's version, ganlib.__version__ and every notebook's pin agree."""
    config = colab.settings()
    assert config["version"] == _pyproject_version() == ganlib.__version__
    expected = f'%pip install "ganlib @ git+{config["url"]}@v{ganlib.__version__}"'
    assert {nb.cells[0].source for nb in generated.values()} == {expected}
    assert config["url"] == "https://github.com/ganlib-book/gan-book" and config["site"] == \
        "https://ganlib-book.github.io/gan-book/"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_solutions_and_included_code_all_arrive(generated, path):
    stored = json.loads(path.read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in stored["cells"] if c["cell_type"] == "markdown")
    markdown = [c.source for c in generated[path.stem].cells if c.cell_type == "markdown"]
    exercises = [c for c in markdown if re.match(r"\*\*Exercise [\dA]+\.\d+\*\*", c)]
    solutions = [c for c in markdown if c.startswith("<details><summary>Solution") and c.endswith("</details>")]
    assert len(exercises) == text.count(":::{exercise}") and len(solutions) == text.count(":::{solution}")
    assert sum(c.count("\nFrom `ganlib/") for c in markdown) == text.count("{literalinclude}")
    assert markdown[-1].startswith("## References\n")


def test_cells_keep_the_chapters_code(generated):
    stored = nbformat.read(ROOT / "chapters" / "05_mnist_project.ipynb", as_version=4)
    code = [c.source for c in generated["05_mnist_project"].cells if c.cell_type == "code"]
    assert code[2:] == [c.source for c in stored.cells if c.cell_type == "code"][1:]


def test_links_lead_to_pages_and_anchors_of_the_built_site(generated, colab):
    """Every link to the published book, checked against the local build (after `make book`; .ci/run runs
    this file again then). The site's address is the published one; the pages and ids are the build's."""
    site, built = colab.settings()["site"], ROOT / "_build" / "html"
    if not (built / "chapters" / "05_mnist_project.html").exists():
        pytest.skip("no built book in _build/html: run `make book` first")
    pages, missing, links = {}, [], 0
    for chapter, notebook in generated.items():
        for cell in notebook.cells:
            for url in re.findall(r"\]\((" + re.escape(site) + r"[^)\s]*)\)", cell.source):
                links += 1
                path, _, anchor = url[len(site):].partition("#")
                if path not in pages:
                    pages[path] = (built / path).read_text(encoding="utf-8") if (built / path).exists() else None
                if pages[path] is None or (anchor and f'id="{anchor}"' not in pages[path]):
                    missing.append(f"{chapter}: {url}")
    assert links > 50 and missing == [], missing[:10]

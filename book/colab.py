"""Generate the Colab notebooks of the book: one per chapter, plain Jupyter Markdown, pinned to the release.

::

    python book/colab.py                    # writes _build/html/colab/<chapter>.ipynb
    python book/colab.py --out DIR          # ... or into DIR

The Sphinx extension ``book/_ext/colab_links.py`` runs the same at the end of every ``jupyter-book build``
and links each chapter page to its notebook. From each chapter (``chapters/*.ipynb``, stored without
outputs) it makes a notebook whose

- first cell is ``%pip install "ganlib @ git+<repository.url>@v<version>"``: ``repository.url`` of
  ``_config.yml`` and the version of ``pyproject.toml`` (the release tag ``v<version>``: the one place
  for the address and the release);
- second is the chapter's title cell, third says how to use a GPU and scale the budget;
- markdown is MyST turned into plain Markdown (``book/colab_markdown.py``), with a "References" cell at
  the end; the setup cell no longer installs ganlib itself;
- metadata asks Colab for a GPU (``accelerator``, ``colab.gpuType``).

Published next to the HTML, and on the ``repository.branch`` branch as ``chapters/<chapter>.ipynb``, the
address Jupyter Book's Colab launch buttons open (``.github/workflows/book.yml``).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or loaded by the extension
from colab_markdown import BookIndex, convert  # noqa: E402  (book/colab_markdown.py)

ROOT = Path(__file__).resolve().parent.parent
COLAB = "https://colab.research.google.com"
GPU_NOTE = """\
> **On a GPU.** In Colab, choose *Runtime → Change runtime type → T4 GPU* (this notebook asks for one);
> `ganlib` then trains on CUDA by itself. The chapter's runs are sized for a 2-core CPU. On a GPU you can
> afford more: set the budget **before you run the setup cell below** (the chapter sizes its runs from it,
> so set it before importing ganlib), in a cell of its own, e.g.
>
> ```python
> %env GANLIB_BUDGET=4
> ```
>
> (or `import os; os.environ["GANLIB_BUDGET"] = "4"`): every training run is then 4 times as long.
> `GANLIB_BUDGET=smoke` makes every run a few steps long, to try the code quickly."""
# What must not reach a Colab notebook: MyST that Jupyter and Colab would show as raw text.
MYST_LEFT = re.compile(r"\{cite|:::|\{literalinclude\}|\{ref\}|\{term\}|\{doc\}|\{numref\}|\{py:|```\{"
                       r"|^\([\w-]+\)=\s*$", re.M)
# The chapters' setup cell installs ganlib itself when it is missing; the Colab notebook's first cell does.
INSTALL_BLOCK = re.compile(r"^if importlib\.util\.find_spec\(\"ganlib\"\) is None:.*\n(?:[ \t]+.*\n?)*", re.M)


def settings(root: Path = ROOT) -> dict:
    """The repository address, branch and release from ``_config.yml`` and ``pyproject.toml``."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    version = re.search(r'^version\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    url = config["repository"]["url"].rstrip("/")
    owner, repo = urlsplit(url).path.strip("/").split("/")[:2]
    return {"url": url, "branch": config["repository"].get("branch", "main"), "version": version.group(1),
            "owner": owner, "repo": repo, "site": f"https://{owner}.github.io/{repo}/"}


def install_line(config: dict) -> str:
    """The first cell: ganlib at the release tag this notebook belongs to."""
    return f'%pip install "ganlib @ git+{config["url"]}@v{config["version"]}"'


def colab_url(config: dict, chapter: str) -> str:
    """Where Colab opens a chapter's notebook (the branch the workflow publishes them to)."""
    return f"{COLAB}/github/{config['owner']}/{config['repo']}/blob/{config['branch']}/chapters/{chapter}.ipynb"


def setup_without_install(source: str, others: str) -> str:
    """The setup cell without its install block and the imports only that block used."""
    if not INSTALL_BLOCK.search(source):
        raise ValueError("the setup cell has no `if importlib.util.find_spec(\"ganlib\") is None:` block")
    source = INSTALL_BLOCK.sub("", source)
    used = re.sub(r"^\s*(import|from) .*$", "", source + "\n" + others, flags=re.M)  # uses, not imports
    for module in ("importlib.util", "subprocess", "sys"):
        if not re.search(rf"\b{module.split('.')[0]}\.", used):
            source = re.sub(rf"^import {re.escape(module)}\n", "", source, flags=re.M)
    source = re.sub(r"^# Setup: install ganlib when it is missing \(Colab\), then", "# Setup:", source, flags=re.M)
    source = re.sub(r"^(# Setup:.*\n)\n+", r"\1", source, flags=re.M)
    return re.sub(r"\n{3,}", "\n\n", source).lstrip("\n")


def book_documents(root: Path = ROOT) -> dict[str, str]:
    """Every page of the book as MyST text: chapters (their markdown cells) and ``book/*.md``."""
    documents = {}
    for path in sorted((root / "chapters").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        documents[f"chapters/{path.stem}"] = "\n\n".join(c.source for c in notebook.cells
                                                         if c.cell_type == "markdown")
    for path in sorted((root / "book").glob("*.md")):
        documents[f"book/{path.stem}"] = path.read_text(encoding="utf-8")
    return documents


def colab_notebook(path: Path, config: dict, index: BookIndex) -> nbformat.NotebookNode:
    """The Colab notebook of the chapter stored at ``path``."""
    chapter = nbformat.read(path, as_version=4)
    docname, cited, cells = f"chapters/{path.stem}", [], []
    code = [c for c in chapter.cells if c.cell_type == "code"]
    for cell in chapter.cells:
        if cell.cell_type == "markdown":
            cells += [nbformat.v4.new_markdown_cell(text) for text in convert(cell.source, docname, index, cited)]
        elif cell is code[0]:
            others = "\n".join(c.source for c in code[1:])
            cells.append(nbformat.v4.new_code_cell(setup_without_install(cell.source, others)))
        else:
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata=dict(cell.metadata)))
    if cited:
        cells.append(nbformat.v4.new_markdown_cell(index.references(cited)))
    first = [nbformat.v4.new_code_cell(install_line(config)), cells[0], nbformat.v4.new_markdown_cell(GPU_NOTE)]
    notebook = nbformat.v4.new_notebook(cells=first + cells[1:])
    notebook.metadata = {
        "accelerator": "GPU",
        "colab": {"provenance": [], "gpuType": "T4", "name": f"{path.stem}.ipynb"},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return notebook


def myst_left(notebook: nbformat.NotebookNode) -> list[str]:
    """Each MyST construct left in any cell of ``notebook``, with the cell's number (none, or a bug here)."""
    return [f"cell {i}: {m.group(0)!r}" for i, cell in enumerate(notebook.cells)
            for m in MYST_LEFT.finditer(cell.source)]


def write_all(out: Path, root: Path = ROOT) -> list[Path]:
    """Write the Colab notebook of every chapter into ``out``; returns their paths."""
    config = settings(root)
    index = BookIndex.build(root, config["site"], book_documents(root))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted((root / "chapters").glob("*.ipynb")):
        notebook = colab_notebook(path, config, index)
        nbformat.validate(notebook)
        if left := myst_left(notebook):
            raise ValueError(f"{path.name}: MyST left in the Colab notebook: {left[:5]}")
        nbformat.write(notebook, out / path.name)
        written.append(out / path.name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "html" / "colab", help="folder to write into")
    args = parser.parse_args(argv)
    written = write_all(args.out)
    print(f"wrote {len(written)} Colab notebooks into {args.out} ({install_line(settings())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

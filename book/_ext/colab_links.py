"""Sphinx extension of the book: the Colab notebooks beside the HTML, and a link to them on every chapter.

At the end of an HTML build, ``book/colab.py`` writes the Colab version of every chapter into
``<outdir>/colab/<chapter>.ipynb`` (plain Markdown, GPU metadata, a first cell that installs the ganlib
release; see its docstring). Under each chapter's title this adds two links: "open it in Colab", the
address of the notebook on the branch the launch buttons use (``repository.branch`` of ``_config.yml``,
where ``.github/workflows/book.yml`` publishes it), and "download it", the copy beside the page, which
works offline. Both are plain ``<a href>`` links: a reader's browser fetches nothing from outside.
"""
from __future__ import annotations

import functools
import html
import importlib.util
from pathlib import Path

from sphinx.application import Sphinx

COLAB_SCRIPT = Path(__file__).resolve().parents[1] / "colab.py"
CHAPTERS = "chapters/"


@functools.lru_cache(maxsize=1)
def _colab_module():
    """book/colab.py, loaded once (it is a script beside the book's pages, not a package)."""
    spec = importlib.util.spec_from_file_location("book_colab", COLAB_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def links_html(colab, config: dict, chapter: str) -> str:
    """The paragraph put under a chapter's title."""
    online = html.escape(colab.colab_url(config, chapter))
    return (f'<p class="colab-links">Run this chapter on Colab: <a class="reference external" href="{online}">'
            f'open it in Colab</a>, or <a class="reference download" href="../colab/{chapter}.ipynb" download>'
            f'download it for Colab</a> (File → Upload notebook). The notebook asks for a GPU and installs '
            f'ganlib {html.escape(config["version"])}.</p>')


def add_links(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Put the Colab links under the title of a chapter page."""
    if not pagename.startswith(CHAPTERS) or "body" not in context:
        return
    colab = _colab_module()
    paragraph = links_html(colab, colab.settings(Path(app.srcdir)), pagename[len(CHAPTERS):])
    body = context["body"]
    at = body.find("</h1>")
    context["body"] = body[:at + 5] + paragraph + body[at + 5:] if at >= 0 else paragraph + body


def write_notebooks(app: Sphinx, exception: Exception | None) -> None:
    """Write the Colab notebooks into the built site (a conversion error fails the build)."""
    if exception is not None or app.builder.format != "html":
        return
    _colab_module().write_all(Path(app.outdir) / "colab", Path(app.srcdir))


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", add_links)
    app.connect("build-finished", write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

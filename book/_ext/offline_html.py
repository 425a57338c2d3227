"""Sphinx extension of the book: every built page requests nothing outside the site.

What the stock Jupyter Book 1.x build would fetch from outside, and what this does about it:

- MathJax: served from ``_static/mathjax`` by the ``sphinx-mathjax-offline`` extension (listed before
  this one in ``_config.yml``); nothing to do here.
- thebe ("live code"): sphinx-thebe puts ``THEBE_JS_URL = "https://unpkg.com/thebe@..."`` and its loader
  on every page. The book does not enable live code (``launch_buttons.thebe`` is off; the Colab and
  launch button is a plain link), so this removes sphinx-thebe's scripts and stylesheet.
- matplotlib's HTML animations (``Animation.to_jshtml``, used by :func:`ganlib.viz.animate_snapshots`)
  link Font Awesome 4.4 from a CDN for their play/pause buttons. The link is removed: the theme's own
  Font Awesome 6 (``_static/scripts/fontawesome.js``, which knows the old icon names) draws them.

At the end of the build every HTML page is scanned; a ``<script>``, ``<link>``, ``<img>``, ``<iframe>``,
``<source>``, ``<video>``, ``<audio>`` or ``<embed>`` that points outside the site is a warning, which
fails the book's ``-W`` build. ``tests/browser/check_site.py`` checks the same in a real browser.
"""
from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

# matplotlib's to_jshtml template (matplotlib/_animation_data.py): a stylesheet link to a CDN
_MPL_FONT_AWESOME = re.compile(
    r'<link\s+rel="stylesheet"\s+href="https?://[^"]*/font-awesome/[^"]*\.css"\s*/?>\s*', re.I)

# a tag that makes the browser fetch something, with an absolute or protocol-relative address
_EXTERNAL_RESOURCE = re.compile(
    r'<(script|link|img|iframe|source|video|audio|embed)\b[^>]*?\b(src|href|srcset|poster)\s*=\s*'
    r'["\']\s*((?:https?:)?//[^"\']+)', re.I)
# <link> relations that are navigation, not a fetch
_NAVIGATION_LINK = re.compile(r'\brel\s*=\s*["\'](?:canonical|alternate|next|prev|index|search|author|license)["\']',
                              re.I)


def _is_thebe_asset(asset) -> bool:
    filename = str(getattr(asset, "filename", None) or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "sphinx-thebe" in filename or "THEBE_JS_URL" in body


def strip_external(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Remove sphinx-thebe's assets and matplotlib's CDN stylesheet from one page."""
    for key in ("script_files", "css_files"):
        assets = context.get(key)
        if assets is not None:  # the builder's own list, restored after each page: edit it in place
            assets[:] = [asset for asset in assets if not _is_thebe_asset(asset)]
    if "body" in context:
        context["body"] = _MPL_FONT_AWESOME.sub("", context["body"])


def external_resources(html: str) -> list[str]:
    """The outside addresses that ``html`` makes a browser fetch (navigation links excluded)."""
    found = []
    for match in _EXTERNAL_RESOURCE.finditer(html):
        tag = html[match.start():html.find(">", match.end()) + 1]
        if match.group(1).lower() == "link" and _NAVIGATION_LINK.search(tag):
            continue
        found.append(match.group(3))
    return found


def check_offline(app: Sphinx, exception: Exception | None) -> None:
    """Warn about every page that still references an outside resource."""
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    for page in sorted(outdir.rglob("*.html")):
        if "_static" in page.relative_to(outdir).parts:
            continue
        for url in external_resources(page.read_text(encoding="utf-8", errors="replace")):
            logger.warning("%s loads %s from outside the site; the book must work offline",
                           page.relative_to(outdir), url, type="offline_html", subtype="external")


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", strip_external, priority=900)  # after the extensions that add assets
    app.connect("build-finished", check_offline)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

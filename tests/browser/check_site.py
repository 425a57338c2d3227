"""Load every page of the built book in headless Chromium with the network blocked, and check it.

Usage (after the book is built)::

    python tests/browser/check_site.py [_build/html] [--chromium /usr/bin/chromium]

Serves the built HTML over http on 127.0.0.1 (Python's http.server, in a thread), drives Debian's
Chromium through Playwright (never a browser Playwright downloads), aborts and records every request
that is not for that server, and loads every ``.html`` page of the build. A page fails when it has

- a request outside the site (the book must work offline);
- a console error or an uncaught JavaScript exception;
- a failed local request (an error status, or a request that did not complete);
- an ``<img>`` that did not decode (``naturalWidth`` 0);
- math that MathJax did not typeset: a page whose HTML has math must end with MathJax 3 output
  (``mjx-container``) in every math element, and no raw ``\\(``, ``\\[`` or ``$$`` in its text;
- for a chapter (``chapters/*.html``): no Colab launch link for its notebook, or no generated Colab
  notebook ``colab/<chapter>.ipynb`` in the site for its download link.

Before the browser, a plain search of every page's HTML (``static_problems``; ``--static-only`` runs
just that, without Chromium) fails a page that shows

- a frozen progress bar (``training: 0%|``): a bar is for a live reader, ``make book`` switches them off;
- a widget's text instead of the widget (``interactive(children=(IntSlider(...``): an explorer on a
  static page shows a one-line note (``ganlib.viz.show_widget``);
- an exercise whose number is not its label's: the box of ``ex-5-2``, its solution's title and every
  link to it must read "Exercise 5.2" (``ex-a1-3``: "Exercise A1.3").

Prints one line per failing page and ``N pages checked, N failed``; exits 1 on any failure, 2 when
there is nothing to check. It is a script, not a pytest module: ``.ci/run`` runs it after the book build,
and ``tests/test_check_site.py`` tests its static checks.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]

# Flags for Debian's Chromium on a machine with no network (see the project's machine notes): without
# the background-networking ones Chromium keeps trying Google's services. Playwright adds --headless
# and a fresh, empty --user-data-dir of its own.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PAGE_TIMEOUT_MS = 30_000
MATH_IN_HTML = re.compile(r'class="[^"]*\bmath\b')  # Sphinx marks every math element with class "math"

# Run in the page after it loaded: wait for MathJax (when the page has it) and for every image to
# decode, then report what the checks need.
INSPECT_JS = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const images = Array.from(document.images);
  await Promise.all(images.map((img) => {
    img.loading = "eager";
    return img.decode().catch(() => null);
  }));
  const broken = images.filter((img) => !(img.complete && img.naturalWidth > 0))
                       .map((img) => img.getAttribute("src") || "(no src)");
  const mathElements = Array.from(document.querySelectorAll(".math"));
  const untypeset = mathElements.filter((el) => !el.querySelector("mjx-container")).length;
  // text that a reader sees, outside code, scripts and MathJax's own output
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const rawTex = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (parent && parent.closest(skip)) continue;
    const match = node.nodeValue.match(/\\\(|\\\[|\$\$|\\begin\{/);
    if (match) rawTex.push(node.nodeValue.trim().slice(0, 60));
  }
  const colab = Array.from(document.querySelectorAll("a[href]"))
                     .map((a) => a.href)
                     .filter((href) => href.startsWith("https://colab.research.google.com/"));
  return {
    mathjax: Boolean(window.MathJax && MathJax.startup),
    containers: document.querySelectorAll("mjx-container").length,
    mathElements: mathElements.length,
    untypeset, rawTex, broken, colab,
  };
}
"""


# Text no built page may contain: what a notebook shows only to a live reader, frozen on a static page.
FORBIDDEN_TEXT = {
    "a frozen progress bar": re.compile(r"\d%\|"),                    # tqdm: "training:   0%|   | 0/3000"
    "a widget's repr instead of the widget": re.compile(r"\b\w+\(children="),  # "interactive(children=(..."
}
# An exercise label as the chapters write it, ex-<chapter>-<number>: ex-5-2, ex-a1-3.
EXERCISE_LABEL = re.compile(r"^ex-(?P<chapter>\d+|a\d+)-(?P<number>\d+)$")
# The box sphinx-exercise writes for an exercise: its id, then its title with the number.
EXERCISE_BOX = re.compile(r'<div class="exercise[^"]*" id="(?P<label>[^"]+)">\s*<p class="admonition-title">'
                          r'(?P<title>.*?)</p>', re.S)
# A link to an exercise: a solution's title ("Solution to Exercise 5.2") or a {ref}/{numref} in the text.
EXERCISE_LINK = re.compile(r'<a [^>]*href="[^"#]*#(?P<label>ex-[^"]+)"[^>]*>(?P<text>.*?)</a>', re.S)
TAG = re.compile(r"<[^>]+>")


def expected_exercise_number(label: str) -> str | None:
    """``"5.2"`` for ``ex-5-2``, ``"A1.3"`` for ``ex-a1-3``; None for a label of another form (``ex-demo``)."""
    match = EXERCISE_LABEL.match(label)
    if match is None:
        return None
    return f"{match['chapter'].upper()}.{match['number']}"


def static_problems(html: str) -> list[str]:
    """What a plain search of one page's HTML finds wrong (empty when it passes); no browser needed."""
    problems = []
    for what, pattern in FORBIDDEN_TEXT.items():
        found = pattern.search(html)
        if found:
            context = TAG.sub("", html[max(0, found.start() - 40):found.end() + 40])
            problems.append(f"{what}: {' '.join(context.split())!r}")
    numbers = []  # what is wrong with the exercises' numbers, reported as a count after the first few
    shown = [(m["label"], "box", m["title"]) for m in EXERCISE_BOX.finditer(html)]
    shown += [(m["label"], "link", m["text"]) for m in EXERCISE_LINK.finditer(html)]
    for label, where, markup in shown:
        expected = expected_exercise_number(label)
        text = " ".join(TAG.sub("", markup).split())
        if expected is None or (where == "link" and "Exercise" not in text):
            continue  # an exercise without a chapter number; a link with text of its own
        number = re.search(r"Exercise\s+(\S+)", text)
        if number is None or number.group(1) != expected:
            numbers.append(f"the {where} of {label} reads {text!r}, not 'Exercise {expected}'")
    problems += numbers[:3] + ([f"... and {len(numbers) - 3} more exercise numbers"] if len(numbers) > 3 else [])
    return problems


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the checks report failures; no access log
        pass


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a daemon thread; returns (server, base URL)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def repository() -> tuple[str, str]:
    """``repository.url`` and ``.branch`` of ``_config.yml``: the Colab links point at its notebooks."""
    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    block = re.search(r"^repository:\s*\n((?:[ \t]+.*\n?)+)", text, flags=re.M)
    url = re.search(r"^\s+url:\s*(\S+)", block.group(1), flags=re.M) if block else None
    branch = re.search(r"^\s+branch:\s*(\S+)", block.group(1), flags=re.M) if block else None
    if not url:
        raise SystemExit("_config.yml has no repository.url")
    return url.group(1).rstrip("/"), branch.group(1) if branch else "main"


def check_page(context, base: str, relpath: str, html: str, colab_prefix: str) -> list[str]:
    """Load one page in a new tab and return its problems (empty when it passes)."""
    problems: list[str] = []
    external: list[str] = []
    local_host = urlsplit(base).netloc

    def route(route_, request):
        if urlsplit(request.url).netloc == local_host or request.url.startswith(("data:", "blob:")):
            route_.continue_()
        else:
            external.append(request.url)
            route_.abort("blockedbyclient")

    def on_console(message):
        if message.type == "error":
            problems.append(f"console error: {message.text[:200]}")

    def on_request_failed(request):
        if urlsplit(request.url).netloc == local_host:
            problems.append(f"local request failed: {request.url[len(base) - 1:]} ({request.failure})")

    def on_response(response):
        if urlsplit(response.url).netloc == local_host and response.status >= 400:
            problems.append(f"local request failed: {response.url[len(base) - 1:]} (HTTP {response.status})")

    page = context.new_page()
    page.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"JavaScript error: {str(error)[:200]}"))
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)
    try:
        page.goto(base + relpath, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        try:  # requests a script makes after the load event
            page.wait_for_load_state("networkidle", timeout=10_000)
        except Exception:
            pass
        info = page.evaluate(INSPECT_JS)
    except Exception as error:  # a page that does not load or whose checks time out fails
        problems.append(f"did not load and settle: {str(error).splitlines()[0][:200]}")
        info = None
    finally:
        page.close()

    problems.extend(f"external request: {url}" for url in dict.fromkeys(external))
    if info is None:
        return problems
    if info["broken"]:
        problems.append(f"{len(info['broken'])} image(s) not decoded, e.g. {info['broken'][0][:100]}")
    if MATH_IN_HTML.search(html):
        if not info["mathjax"]:
            problems.append("has math but MathJax did not start")
        elif info["containers"] == 0 or info["untypeset"]:
            problems.append(f"math not typeset: {info['untypeset']} of {info['mathElements']} math elements "
                            f"without MathJax output ({info['containers']} mjx-container)")
    if info["rawTex"]:
        problems.append(f"raw TeX left in the text: {info['rawTex'][0]!r}")
    if relpath.startswith("chapters/"):
        notebook = colab_prefix + relpath[:-len(".html")] + ".ipynb"
        if notebook not in info["colab"]:
            problems.append(f"no Colab launch link to {notebook} (found {info['colab'] or 'none'})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", default=str(ROOT / "_build" / "html"), help="the built HTML book")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium to drive")
    parser.add_argument("--static-only", action="store_true",
                        help="only the plain search of the HTML files (static_problems), no browser")
    args = parser.parse_args(argv)

    site = Path(args.site).resolve()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if not {"_static", "_sources", "_images"} & set(p.relative_to(site).parts))
    if not pages:
        print(f"no HTML pages under {site}: build the book first", file=sys.stderr)
        return 2
    static_failed = 0
    for relpath in pages:
        problems = static_problems((site / relpath).read_text(encoding="utf-8", errors="replace"))
        if problems:
            static_failed += 1
            print(f"FAIL {relpath}: " + "; ".join(dict.fromkeys(problems)))
    if args.static_only:
        print(f"{len(pages)} pages searched, {static_failed} failed")
        return 1 if static_failed else 0
    if not Path(args.chromium).exists():
        print(f"no Chromium at {args.chromium} (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright  # imported here: --help works without it

    url, branch = repository()
    colab_prefix = f"https://colab.research.google.com/github/{urlsplit(url).path.strip('/')}/blob/{branch}/"
    start = time.perf_counter()
    server, base = serve(site)
    failed = 0
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True,
                                                 args=CHROMIUM_FLAGS)
            context = browser.new_context()
            for relpath in pages:
                html = (site / relpath).read_text(encoding="utf-8", errors="replace")
                problems = check_page(context, base, relpath, html, colab_prefix)
                notebook = site / "colab" / (Path(relpath).stem + ".ipynb")
                if relpath.startswith("chapters/") and not notebook.is_file():
                    problems.append(f"no Colab notebook {notebook.relative_to(site)} beside it (book/colab.py)")
                if problems:
                    failed += 1
                    print(f"FAIL {relpath}: " + "; ".join(dict.fromkeys(problems)))
            browser.close()
    finally:
        server.shutdown()
    print(f"{len(pages)} pages checked, {failed} failed in the browser, {static_failed} in the HTML search "
          f"({time.perf_counter() - start:.0f} s)")
    return 1 if failed or static_failed else 0


if __name__ == "__main__":
    sys.exit(main())

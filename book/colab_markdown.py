"""MyST Markdown of the book's chapters turned into the plain Markdown that Jupyter and Colab render.

Holds :class:`BookIndex` (what a cross-reference points at: section and exercise labels, page titles,
glossary terms, the bibliography) and :func:`convert`, which rewrites one markdown cell. Used by
``book/colab.py``; not part of ``ganlib``.

What becomes what:

- ``{cite:p}`a,b``` -> "(Author et al., 2014; Other, 2016)", ``{cite:t}`a``` -> "Author et al. (2014)";
  :meth:`BookIndex.references` lists the cited entries, formatted by pybtex's ``plain`` style (the
  book's ``bibtex_default_style``);
- ``{ref}``, ``{numref}``, ``{doc}``, ``{term}`` and the Python roles -> links to the published page;
- ``(label)=`` lines -> removed; math (``$...$``, ``$$...$$``) -> kept, Colab renders it;
- ``{literalinclude}`` -> the code it shows (``:pyobject:`` cut out with :mod:`ast`, then
  ``:start-at:``/``:start-after:``/``:end-before:``/``:end-at:``, then ``:lines:``, as Sphinx does);
- ``{exercise}`` -> "**Exercise 2.1**" and its text, ``{solution}`` -> a collapsed ``<details>`` block,
  each in a cell of its own; admonitions -> block quotes with the title in bold.

A role or directive it does not know raises ``ValueError``: MyST is never left in a notebook silently.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from literalinclude import included_code  # book/literalinclude.py, beside this file

ROLE = re.compile(r"\{(?P<name>[a-z]+(?::[a-z]+)?)\}`(?P<content>[^`]+)`")
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,}|:{3,})\s*(?P<info>.*)$")
DIRECTIVE = re.compile(r"^\{(?P<name>[\w:-]+)\}\s*(?P<argument>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
TARGET = re.compile(r"^\((?P<label>[\w.:-]+)\)=\s*$")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)  # "text <target>"
ADMONITIONS = {"admonition", "note", "warning", "tip", "important", "caution", "attention", "danger",
               "error", "hint", "seealso"}
PY_ROLES = {"py:func", "py:class", "py:meth", "py:mod", "py:attr", "py:data", "func", "class", "meth",
            "mod", "attr", "data"}
CELL_BREAK = "\x00cell\x00"  # where convert() starts a new cell: around exercises and solutions


def _title(heading: str) -> str:
    return heading.lstrip("#").strip()


@dataclass
class BookIndex:
    """What the book's cross-references point at, and the address of the published pages."""

    root: Path
    site: str                                   # e.g. https://owner.github.io/repo/
    labels: dict = field(default_factory=dict)  # label -> (docname, title)
    titles: dict = field(default_factory=dict)  # docname ("chapters/05_mnist_project") -> first heading
    terms: dict = field(default_factory=dict)   # glossary term, lowercased -> term as written
    bibliography: object = None                 # pybtex BibliographyData

    @classmethod
    def build(cls, root: Path, site: str, documents: dict[str, str]) -> "BookIndex":
        """Index ``documents`` (docname -> MyST text), the glossary and ``book/references.bib``."""
        from pybtex.database import parse_file

        index = cls(root=root, site=site.rstrip("/") + "/")
        for docname, text in documents.items():
            index._scan(docname, text)
        glossary = documents.get("book/glossary", "")
        block = re.search(r"```\{glossary\}\n(.*?)\n```", glossary, re.S)
        for line in (block.group(1).splitlines() if block else []):
            if line.strip() and not line[0].isspace():
                index.terms[line.strip().lower()] = line.strip()
        index.bibliography = parse_file(str(root / "book" / "references.bib"))
        return index

    def _scan(self, docname: str, text: str) -> None:
        lines = text.splitlines()
        headings = [line for line in lines if re.match(r"^#\s", line)]
        self.titles[docname] = _title(headings[0]) if headings else docname
        for i, line in enumerate(lines):
            if match := TARGET.match(line):
                following = next((l for l in lines[i + 1:] if l.strip()), "")
                self.labels[match["label"]] = (docname, _title(following))
            elif match := re.match(r"^:label:\s*(ex-(\w+)-(\d+))\s*$", line):
                self.labels[match[1]] = (docname, f"Exercise {match[2].upper()}.{match[3]}")

    def page(self, docname: str, anchor: str = "") -> str:
        return f"{self.site}{docname}.html" + (f"#{anchor}" if anchor else "")

    # --- citations -------------------------------------------------------------------------------
    def _authors_year(self, key: str) -> tuple[str, str]:
        from pybtex.richtext import Text

        if key not in self.bibliography.entries:
            raise ValueError(f"citation {key!r} is not in book/references.bib")
        entry = self.bibliography.entries[key]
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [str(Text.from_latex(" ".join(p.last_names))).replace("{", "").replace("}", "") for p in people]
        names = last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2 else f"{last[0]} et al."
        return names, entry.fields.get("year", "n.d.")

    def cite(self, keys: list[str], textual: bool) -> str:
        """Author-year text: ``Goodfellow et al. (2014)`` (textual) or ``(Goodfellow et al., 2014)``."""
        pairs = [self._authors_year(key) for key in keys]
        if textual:
            return "; ".join(f"{names} ({year})" for names, year in pairs)
        return "(" + "; ".join(f"{names}, {year}" for names, year in pairs) + ")"

    def references(self, keys: list[str]) -> str:
        """A "References" cell: the cited entries in pybtex's plain style, sorted by the in-text label."""
        from pybtex.plugin import find_plugin

        style = find_plugin("pybtex.style.formatting", "plain")()
        markdown = find_plugin("pybtex.backends", "markdown")()
        order = sorted(dict.fromkeys(keys), key=lambda key: self._authors_year(key))
        formatted = style.format_entries([self.bibliography.entries[key] for key in order])
        items = [f"- {' '.join(entry.text.render(markdown).split())}" for entry in formatted]
        return "\n".join(["## References", "", *items, "",
                          f"The book's full bibliography: [{self.page('book/bibliography')}]"
                          f"({self.page('book/bibliography')})"])

    # --- roles -----------------------------------------------------------------------------------
    def role(self, name: str, content: str, docname: str) -> str:
        """The Markdown for one MyST role in document ``docname``."""
        explicit = EXPLICIT.match(content)
        text, target = (explicit["text"], explicit["target"]) if explicit else (None, content)
        if name in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts"):
            return self.cite([key.strip() for key in content.split(",")], textual=name.startswith("cite:t"))
        if name in ("ref", "numref"):
            if target not in self.labels:
                raise ValueError(f"{docname}: {{{name}}} to unknown label {target!r}")
            where, title = self.labels[target]
            return f"[{text or title}]({self.page(where, target)})"
        if name == "doc":
            where = (Path(docname).parent / target).as_posix() if not target.startswith("/") else target[1:]
            where = re.sub(r"[^/]+/\.\./", "", where)
            if where not in self.titles:
                raise ValueError(f"{docname}: {{doc}} to unknown page {target!r}")
            return f"[{text or self.titles[where]}]({self.page(where)})"
        if name == "term":
            term = self.terms.get(target.strip().lower())
            if term is None:
                raise ValueError(f"{docname}: {{term}} {target!r} is not in the glossary")
            anchor = "term-" + re.sub(r"[^A-Za-z0-9._]+", "-", term).strip("-")  # Sphinx's id of a glossary term
            return f"[{text or target}]({self.page('book/glossary', anchor)})"
        if name in PY_ROLES:
            return self._python(name, text, target)
        raise ValueError(f"{docname}: the MyST role {{{name}}} has no Colab form (book/colab_markdown.py)")

    def _python(self, name: str, text: str | None, target: str) -> str:
        """A link to the API reference, at the name the object is documented under (where it is defined)."""
        short = target.startswith("~")
        target = target.lstrip("~")
        documented = target
        try:  # attribute by attribute from the package: `ganlib.losses` is the package's name for a module
            first, *rest = target.split(".")
            obj = importlib.import_module(first)
            for attr in rest:
                obj = getattr(obj, attr)
            if getattr(obj, "__module__", "").startswith("ganlib") and hasattr(obj, "__qualname__"):
                documented = f"{obj.__module__}.{obj.__qualname__}"
        except (ImportError, AttributeError, ValueError):
            pass  # a module, or a name that only the published page knows: link as written
        shown = text or (target.rsplit(".", 1)[-1] if short else target)
        if text is None and name.endswith(("func", "meth")):  # as Sphinx shows them
            shown += "()"
        return f"[`{shown}`]({self.page('book/api', documented)})"

    def inline(self, line: str, docname: str) -> str:
        return ROLE.sub(lambda m: self.role(m["name"], m["content"], docname), line)


# --- blocks ----------------------------------------------------------------------------------------
def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line that closes ``fence`` opened at ``start - 1``; backtick fences inside a colon
    fence are skipped over (their lines are code)."""
    inner = None
    for j in range(start, len(lines)):
        stripped = lines[j].strip()
        if inner:
            if re.fullmatch(re.escape(inner[0]) + "{%d,}" % len(inner), stripped):
                inner = None
            continue
        if re.fullmatch(re.escape(fence[0]) + "{%d,}" % len(fence), stripped):
            return j
        if fence[0] == ":" and (match := FENCE.match(stripped)) and match["fence"][0] != ":":
            inner = match["fence"]
    raise ValueError(f"unclosed fence {fence!r} opened on line {start}")


def _options(body: list[str]) -> tuple[dict, list[str]]:
    options = {}
    while body and (match := OPTION.match(body[0].strip())):
        options[match["key"]] = match["value"].strip()
        body = body[1:]
    return options, body


def convert(text: str, docname: str, index: BookIndex, cited: list[str]) -> list[str]:
    """One markdown cell of ``docname`` as Jupyter Markdown: a list of cells' sources (exercises and
    solutions get cells of their own). The citation keys met are appended to ``cited``."""
    cited.extend(key.strip() for m in ROLE.finditer(text) if m["name"].startswith("cite")
                 for key in m["content"].split(","))
    out = "\n".join(_blocks(text.splitlines(), docname, index, top=True))
    cells = [re.sub(r"\n{3,}", "\n\n", part).strip("\n") for part in out.split(CELL_BREAK)]
    return [cell for cell in cells if cell.strip()]


def _blocks(lines: list[str], docname: str, index: BookIndex, top: bool = False) -> list[str]:
    out, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if TARGET.match(lines[i]):
            i += 1
            continue
        if not match:
            out.append(index.inline(lines[i], docname))
            i += 1
            continue
        end = _closing(lines, i + 1, match["fence"])
        directive = DIRECTIVE.match(match["info"].strip())
        if directive is None:  # a plain code block: kept as it is
            out.extend(lines[i:end + 1])
        else:
            options, body = _options(lines[i + 1:end])
            out.extend(_directive(directive["name"], directive["argument"].strip(), options, body,
                                  docname, index, top))
        i = end + 1
    return out


def _directive(name: str, argument: str, options: dict, body: list[str], docname: str,
               index: BookIndex, top: bool) -> list[str]:
    inner = _blocks(body, docname, index)
    while inner and not inner[0].strip():
        inner.pop(0)
    while inner and not inner[-1].strip():
        inner.pop()
    if name in ADMONITIONS:
        title = index.inline(argument, docname) if argument else name.capitalize()
        return ["", f"> **{title}**", ">", *[f"> {line}" if line.strip() else ">" for line in inner], ""]
    if name == "exercise":
        label = options.get("label", "")
        number = re.fullmatch(r"ex-(\w+)-(\d+)", label)
        heading = "**Exercise" + (f" {number[1].upper()}.{number[2]}" if number and "nonumber" not in options
                                  else "") + "**" + (f" ({index.inline(argument, docname)})" if argument else "")
        return [CELL_BREAK if top else "", heading, "", *inner, CELL_BREAK if top else ""]
    if name == "solution":
        number = re.fullmatch(r"ex-(\w+)-(\d+)", argument)
        summary = f"Solution to Exercise {number[1].upper()}.{number[2]}" if number else "Solution"
        return [CELL_BREAK if top else "", f"<details><summary>{summary}</summary>", "", *inner, "",
                "</details>", CELL_BREAK if top else ""]
    if name == "literalinclude":
        return included_code(index.root / Path(docname).parent / argument, options, index.root)
    raise ValueError(f"{docname}: the MyST directive {{{name}}} has no Colab form (book/colab_markdown.py)")

"""Sphinx extension of the book: cross-references that follow ganlib's imports.

``book/api.md`` documents every object once, where it is defined (``ganlib.utils.get_device``), but the
chapters and the docstrings also name objects where readers meet them: the top-level re-exports
(``ganlib.get_device``, ``ganlib.build_models``) and names a module imports (``GANLoss`` inside
:mod:`ganlib.train`). Sphinx does not follow imports, so those references would be broken links (and
``-n`` errors). On a reference Sphinx cannot resolve, this imports the named object; if it is one of
ganlib's classes or functions, defined under another name, the reference is resolved to that name.
Anything else stays unresolved and is reported as usual.
"""
from __future__ import annotations

import importlib

from sphinx.application import Sphinx


def _lookup(dotted: str):
    """The object called ``dotted`` (a module, then attributes), or None."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _canonical(obj) -> str | None:
    """Where a ganlib class or function is defined, e.g. ``ganlib.utils.get_device``."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(qualname, str)) or not module.startswith("ganlib"):
        return None
    return f"{module}.{qualname}"


def resolve_reexport(app: Sphinx, env, node, contnode):
    """``missing-reference`` handler: retry a Python reference under the object's defining name."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    module = node.get("py:module")
    for name in ([f"{module}.{target}"] if module else []) + [target]:
        canonical = _canonical(_lookup(name)) if name.startswith("ganlib") else None
        if canonical and canonical != name:
            return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                                     canonical, node, contnode)
    return None


def setup(app: Sphinx) -> dict:
    app.connect("missing-reference", resolve_reexport)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""Measured chapter times live in benchmarks/results/ (the README quotes them), not in the chapters.

A chapter's "How long it takes" gives a rough size on a 2-core CPU and points to the README's performance
section; a number of seconds typed into it would go stale with the next change of a recipe.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORD = json.loads((ROOT / "benchmarks" / "results" / "chapter_times_h200.json").read_text())
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))


def test_every_chapter_has_a_recorded_successful_gpu_time_or_the_readme_says_it_has_none():
    assert set(RECORD["chapters"]) <= set(CHAPTERS), "the record names a chapter that is gone"
    readme = (ROOT / "README.md").read_text()
    times = readme[readme.index("### Chapter times on a GPU machine"):]
    times = times[:times.index("\n## ")]
    for name in sorted(set(CHAPTERS) - set(RECORD["chapters"])):  # pages split off after the measurement
        assert f"`{name}`" in times and "not been measured" in times, f"{name}: no GPU time, and the README does not say so"
    for name, chosen in RECORD["chapters"].items():  # each figure is a run of that chapter that finished
        assert any(run["chapters"].get(name) == {"seconds": chosen["seconds"], "ok": True}
                   and run["jobs"] == chosen["jobs"] for run in RECORD["runs"]), name


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_page_quotes_no_measured_time_and_points_to_the_readme(name):
    first = json.loads((ROOT / "chapters" / f"{name}.ipynb").read_text())["cells"][0]
    text = " ".join("".join(first["source"]).split())
    quoted = re.search(r"\*\*How long it takes\.\*\*(.*?)(?:\*\*|$)", text)
    assert quoted, f"{name}: no 'How long it takes' paragraph in the first cell"
    paragraph = quoted.group(1)
    seconds = re.search(r"\d[\d.]*\s*(?:s|seconds?|ms)\b", paragraph)
    assert not seconds, f"{name}: the header quotes a measured time ({seconds.group(0)!r}); point to the README"
    assert "README's performance section" in paragraph, f"{name}: the header does not point to the README"

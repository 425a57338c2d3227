"""A GPU time quoted at the top of a chapter is the one recorded in benchmarks/results/ (a chapter may quote none)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORD = json.loads((ROOT / "benchmarks" / "results" / "chapter_times_h200.json").read_text())
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))


def test_every_chapter_has_a_recorded_successful_gpu_time():
    assert sorted(RECORD["chapters"]) == CHAPTERS
    for name, chosen in RECORD["chapters"].items():  # each figure is a run of that chapter that finished
        assert any(run["chapters"].get(name) == {"seconds": chosen["seconds"], "ok": True}
                   and run["jobs"] == chosen["jobs"] for run in RECORD["runs"]), name


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_page_quotes_the_recorded_gpu_time(name):
    first = json.loads((ROOT / "chapters" / f"{name}.ipynb").read_text())["cells"][0]
    text = " ".join("".join(first["source"]).split())
    chosen = RECORD["chapters"][name]
    shared = {1: "", 3: " with two other chapters running beside it",
              4: " with three other chapters running beside it"}[chosen["jobs"]]
    quoted = re.search(r"NVIDIA H200 GPU and 16 CPU cores it took about (\d+) s([^(]*)\(", text)
    if quoted is None:
        assert "H200" not in text, f"{name}: a GPU time quoted in another form than the recorded one"
        return
    assert int(quoted.group(1)) == round(chosen["seconds"]) and quoted.group(2).rstrip() == shared

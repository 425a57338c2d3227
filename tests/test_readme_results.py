"""The README's training-speed tables quote the raw outputs of benchmarks/bench_train.py in benchmarks/results/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# `ganlib.train` in the README's tables is the training function, as readers call it (ganlib.core.train.train)
VARIANTS = {"pytorch/examples way": "baseline", "`ganlib.train`": "ganlib", "bare work (the limit)": "bare",
            '`ganlib.train`, `precision="bf16"`': "ganlib-bf16", "`ganlib.train`, `compile=True`": "ganlib-compile"}


def _table_after(marker: str) -> dict[str, tuple[str, str]]:
    """The first Markdown table after ``marker`` in the README: {variant: (ms / step, images / s)}."""
    assert marker in README, f"the README does not cite {marker}"
    rows = {}
    for line in README[README.index(marker):].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] in VARIANTS:
            rows[VARIANTS[cells[0]]] = (cells[1], cells[2])
    return rows


@pytest.mark.parametrize("name", ["bench_train_cpu", "bench_train_h200"])
def test_the_readme_quotes_the_recorded_benchmark(name):
    record = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
    table = _table_after(f"`benchmarks/results/{name}.json`")
    assert set(table) == set(record["ms_per_step"])
    for variant, (ms, images) in table.items():
        digits = len(ms.partition(".")[2])  # as many decimals as the README shows
        assert ms == f"{record['ms_per_step'][variant]:.{digits}f}", variant
        # the record keeps one decimal: a value such as 1876.5 may have been rounded either way
        assert abs(int(images.replace(" ", "")) - record["images_per_s"][variant]) <= 0.5, variant
    ms = record["ms_per_step"]
    after = README[README.index(f"`benchmarks/results/{name}.json`"):]
    quoted = re.search(r"`ratio_vs_baseline` (\d+\.\d+), `overhead_vs_bare` (\d+\.\d+)", after)
    assert quoted and quoted.groups() == (f"{ms['baseline'] / ms['ganlib']:.2f}", f"{ms['ganlib'] / ms['bare']:.2f}")

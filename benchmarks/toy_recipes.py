"""Benchmark of the recommended 2-D toy recipes (``ganlib.recipes``: ring/mlp and grid/mlp).

For every dataset and seed this does what ``python -m ganlib train --dataset D --seed S`` followed by
``python -m ganlib sample --n 2500 --seed 0`` does (same recipe, same seeding of the weights, same
training set, same sampling noise), evaluates the 2 500 points with
:func:`ganlib.metrics2d.evaluate_points` (the VEEGAN / PacGAN protocol) and prints one table row.
The last line is one JSON object with the mean and standard error over the seeds per dataset.

::

    OMP_NUM_THREADS=1 python benchmarks/toy_recipes.py                  # seeds 1..5, ring and grid
    OMP_NUM_THREADS=1 python benchmarks/toy_recipes.py --seeds 1 2 3 --datasets ring

Runs one training at a time on one CPU thread (``--threads``), so ``cpu_s`` is the CPU time of a
run and does not depend on how busy the other cores are. ``--methods vanilla`` adds the untuned baseline.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

import torch

from ganlib.benchmark2d import METHODS, run_protocol
from ganlib.metrics2d import PROTOCOL_SAMPLES, TOY_DATASETS
from ganlib.recipes import recipe

METRICS = ("modes", "hq_fraction", "reverse_kl", "cpu_s")


def mean_se(values: list[float]) -> list[float]:
    """``[mean, standard error of the mean]`` (the error is 0 for a single value)."""
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return [round(mean, 4), round(se, 4)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5],
                        help="training seeds (default: 1 2 3 4 5)")
    parser.add_argument("--datasets", nargs="+", choices=TOY_DATASETS, default=list(TOY_DATASETS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=["recipe"],
                        help="recipe (default) and/or vanilla (the same networks, TrainConfig defaults)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: tiny MLPs are fastest on one)")
    args = parser.parse_args(argv)

    header = f"{'dataset':8} {'method':8} {'seed':>4} {'modes':>7} {'hq':>7} {'rev_kl':>7} {'cpu_s':>7}"
    print(header)
    print("-" * len(header))
    summary: dict = {"benchmark": "toy_recipes", "seeds": args.seeds, "samples": PROTOCOL_SAMPLES,
                     "threads": args.threads, "torch": torch.__version__}
    for dataset in args.datasets:
        for method in args.methods:
            rows = []
            for seed in args.seeds:
                row = run_protocol(dataset, seed, method, threads=args.threads)
                rows.append(row)
                print(f"{dataset:8} {method:8} {seed:>4} {row['modes']:>4.0f}/{row['total_modes']:<2.0f} "
                      f"{row['hq_fraction']:>7.3f} {row['reverse_kl']:>7.3f} {row['cpu_s']:>7.1f}", flush=True)
            plan = recipe(dataset)
            summary[f"{dataset}/{method}"] = {
                **{m: mean_se([r[m] for r in rows]) for m in METRICS},
                "all_modes": sum(r["modes"] == r["total_modes"] for r in rows),
                "min_hq_fraction": round(min(r["hq_fraction"] for r in rows), 4),
                "max_reverse_kl": round(max(r["reverse_kl"] for r in rows), 4),
                "model": {k: list(v) if isinstance(v, tuple) else v for k, v in plan.model.items()},
            }
    print("-" * len(header))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

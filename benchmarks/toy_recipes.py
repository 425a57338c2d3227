"""Benchmark of the recommended 2-D toy recipes (``ganlib.core.recipes``: ring/mlp and grid/mlp).

For every dataset and seed this does what ``python -m ganlib train --dataset D --seed S`` followed by
``python -m ganlib sample --n 2500 --seed 0`` does (same recipe, same seeding of the weights, same
training set, same sampling noise), evaluates the 2 500 points with
:func:`ganlib.eval.metrics2d.evaluate_points` (the VEEGAN / PacGAN protocol) and prints one table row.
The last line is one JSON object with the mean and standard error over the seeds per dataset.

::

    OMP_NUM_THREADS=1 python benchmarks/toy_recipes.py                  # seeds 1..5, ring and grid
    OMP_NUM_THREADS=1 python benchmarks/toy_recipes.py --seeds 1 2 3 --datasets ring
    python benchmarks/toy_recipes.py --methods recipe vanilla --workers 2 --save ganlib/assets/toy_benchmark.json

Every training runs on one CPU thread, so ``cpu_s`` is the CPU time of a run and does not depend on
how busy the other cores are; ``--workers N`` runs N of them at once (default 1). ``--methods vanilla``
adds the untuned baseline. ``--save`` writes the summary with every run's row (the book's appendix A2
shows the file kept in ``ganlib/assets/``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import statistics

import torch

from ganlib.eval.benchmark2d import METHODS, protocol_settings, run_protocols
from ganlib.eval.metrics2d import PROTOCOL_SAMPLES, TOY_DATASETS

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
    parser.add_argument("--workers", type=int, default=1,
                        help="trainings at once, one CPU thread each (default 1)")
    parser.add_argument("--steps", type=int, help="train this many steps instead of the recipe's (a quick check)")
    parser.add_argument("--save", metavar="FILE.json", help="also write the summary and every run's row here")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be a positive integer")
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be a positive integer")

    header = f"{'dataset':8} {'method':8} {'seed':>4} {'modes':>7} {'hq':>7} {'rev_kl':>7} {'cpu_s':>7}"
    print(header)
    print("-" * len(header))
    summary: dict = {"benchmark": "toy_recipes", "seeds": args.seeds, "samples": PROTOCOL_SAMPLES,
                     "threads": 1, "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                     "date": datetime.date.today().isoformat(), "steps": args.steps, "runs": []}
    jobs = [(d, s, m) for d in args.datasets for m in args.methods for s in args.seeds]
    results = run_protocols(jobs, num_steps=args.steps, workers=args.workers)
    for dataset in args.datasets:
        for method in args.methods:
            rows = [r for r in results if r["dataset"] == dataset and r["method"] == method]
            for row in rows:
                print(f"{dataset:8} {method:8} {row['seed']:>4} {row['modes']:>4.0f}/{row['total_modes']:<2.0f} "
                      f"{row['hq_fraction']:>7.3f} {row['reverse_kl']:>7.3f} {row['cpu_s']:>7.1f}", flush=True)
                summary["runs"].append({k: v for k, v in row.items() if k != "points"})
            summary[f"{dataset}/{method}"] = {
                **{m: mean_se([r[m] for r in rows]) for m in METRICS},
                "all_modes": sum(r["modes"] == r["total_modes"] for r in rows),
                "min_hq_fraction": round(min(r["hq_fraction"] for r in rows), 4),
                "max_reverse_kl": round(max(r["reverse_kl"] for r in rows), 4),
                **protocol_settings(dataset, method, num_steps=args.steps),
            }
    print("-" * len(header))
    if args.save:
        with open(args.save, "w", encoding="utf-8") as file:
            json.dump(summary, file, indent=1)
            file.write("\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    return summary


if __name__ == "__main__":
    main()

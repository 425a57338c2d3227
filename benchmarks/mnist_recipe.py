"""The MNIST DCGAN recipe against candidate changes, over seeds, on the CLI's quality target.

For every candidate and seed this does what ``python -m ganlib train --dataset mnist --model dcgan
--seed S`` followed by ``python -m ganlib sample --n 2000 --seed 0`` does (the recipe's config with
``seed=S``, the weights seeded by ``S``, the 5 000 offline digits, the same sampling noise) and scores
the 2 000 samples with :func:`ganlib.eval.metrics.evaluate_images`. The target is the one the book's
foundation issue sets for the default recipe: a ``confident_fraction`` of at least 0.70 with every
digit at least 5 % of the samples, training within 3 minutes on a 2-core CPU.

Candidates (each a change to :func:`ganlib.core.recipes.recipe` ``("mnist", "dcgan")``):

* ``recipe``: the recipe as it is: a 32-number ``z``, G drawing at 28x28 with a 3x3 convolution
  (``refine``), D packed by two (PacGAN, Lin et al., 2018) and shown its inputs shifted by up to
  2 px (DiffAugment, Zhao et al., 2020), D's learning rate twice G's, 3 600 steps of which the last
  1 400 decay the learning rates to a tenth, and G's step judging the D step's fakes (``reuse_fakes``).
* ``fresh``: the recipe with G's step on fresh noise (``reuse_fakes=False``), as it was until
  2026-11-30: what reusing the fakes changes besides the time.
* ``plain``: the plain DCGAN pair the recipe grew from (a 100-number ``z``, one D per digit, no
  shifts, Adam at 1e-3 for both, 1 500 steps, no decay), as the recipe was until these additions.

The ladder (``--ladder``; chapter 5 shows it) climbs from ``plain`` to ``recipe`` one addition at a
time, each rung keeping the ones before it (:data:`LADDER`):

* ``plain``, then ``+pack-z32``: D packed by two and a 32-number ``z`` (class balance);
* ``+shift``: D's inputs shifted by up to 2 px (DiffAugment);
* ``+refine``: G draws at 28x28 with a 3x3 convolution;
* ``fresh`` (``+lr-decay``): D's learning rate twice G's, 3 600 steps, the last 1 400 decaying both
  rates to a tenth: the recipe with G's step on fresh noise;
* ``recipe`` (``+reuse``): G's step judges the D step's fakes.

::

    python benchmarks/mnist_recipe.py                                   # seeds 0 1 2, every candidate
    python benchmarks/mnist_recipe.py --seeds 0 --candidates recipe     # one run, ~2 min
    python benchmarks/mnist_recipe.py --ladder --seeds 0 1 2 --save benchmarks/results/mnist_recipe_ladder.json

Runs one training at a time with all of the machine's threads; ``train_s`` is the wall time of
training (evaluation excluded). The last line is one JSON object with the mean and standard error per
candidate and the number of seeds that met the target. ``--save FILE`` writes that object, with every
run's row, the command, the date, torch's version and the threads, to ``FILE`` after each seed (seed by
seed, every candidate, so a run stopped early leaves whole seeds).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
import time

import torch

import ganlib
from ganlib import metrics
from ganlib.core.config import with_changes
from ganlib.core.recipes import PLAIN_DCGAN, Recipe, recipe
from toy_recipes import mean_se  # benchmarks/ is on sys.path when a script here runs

SAMPLES = 2000          # what the issue's `sample --n 2000` scores
SAMPLE_SEED = 0         # `sample --seed 0`
TARGET_CONFIDENT = 0.70
TARGET_MIN_SHARE = 0.05
METRICS = ("confident_fraction", "min_class_share", "fid", "train_s")

#: the candidates' names: the recipe, the plain pair it grew from (ganlib.recipes.PLAIN_DCGAN), the
#: recipe with G's step on fresh noise, and the ladder's intermediate rungs
CANDIDATES = ("recipe", "plain", "fresh", "+pack-z32", "+shift", "+refine")

#: The ladder from the plain pair to the recipe, one addition (or one coherent group) a rung, each rung
#: keeping the ones before it: ``(name, what it adds, model changes, config changes)`` on top of
#: :data:`ganlib.recipes.PLAIN_DCGAN`. Its last two rungs are ``fresh`` and ``recipe``.
_RECIPE = recipe("mnist", "dcgan")
_SCHEDULE = {"num_steps": _RECIPE.config.num_steps, "lr_d": _RECIPE.config.lr_d,
             "lr_decay_start": _RECIPE.config.lr_decay.start, "lr_decay_end": _RECIPE.config.lr_decay.end,
             "lr_decay_factor": _RECIPE.config.lr_decay.factor}
LADDER = (
    ("plain", "the plain DCGAN pair", {}, {}),
    ("+pack-z32", "D judges packs of two; a 32-number z", {"pack": 2, "latent_dim": 32}, {}),
    ("+shift", "D sees its inputs shifted by up to 2 px", {"translate": 2}, {}),
    ("+refine", "G draws at 28x28 with a 3x3 convolution", {"refine": True}, {}),
    ("fresh", "lr_d = 2 lr_g; 3 600 steps, the last 1 400 decaying", {}, _SCHEDULE),
    ("recipe", "G's step judges the D step's fakes", {}, {"reuse_fakes": True}),
)


def _ladder_plan(name: str) -> Recipe:
    """The rung ``name`` of :data:`LADDER`: the plain pair with every addition up to and including it."""
    model, config = dict(PLAIN_DCGAN.model), {}
    for rung, _, model_changes, config_changes in LADDER:
        model.update(model_changes)
        config.update(config_changes)
        if rung == name:
            return Recipe(model, with_changes(PLAIN_DCGAN.config, **config))
    raise ValueError(f"no rung {name!r} in the ladder")


def run_candidate(name: str, seed: int, *, num_steps: int | None = None) -> dict:
    """Train one candidate with ``seed`` as the CLI would and score ``SAMPLES`` samples.

    Parameters
    ----------
    name : str
        One of :data:`CANDIDATES`.
    seed : int
        Seeds the weights and the batches, as ``train --seed`` does.
    num_steps : int, optional
        Override the number of steps (a quick look).

    Returns
    -------
    dict
        ``candidate``, ``seed``, ``steps``, the metrics of :data:`METRICS` and every class share.
    """
    changes = {"seed": seed, "progress": False, **({} if num_steps is None else {"num_steps": num_steps})}
    if name == "plain":
        plan = Recipe(dict(PLAIN_DCGAN.model), dataclasses.replace(PLAIN_DCGAN.config, **changes))
    elif name in ("recipe", "fresh"):
        plan = recipe("mnist", "dcgan", **changes, **({"reuse_fakes": False} if name == "fresh" else {}))
    else:
        rung = _ladder_plan(name)
        plan = Recipe(rung.model, with_changes(rung.config, **changes))
    ganlib.seed_everything(seed)  # the models' initial weights, as in the CLI
    generator, discriminator = ganlib.build_models(**plan.model)
    x, _ = ganlib.load_mnist()
    tick = time.perf_counter()
    run = ganlib.train(generator, discriminator, x, plan.config, device="cpu")
    train_s = time.perf_counter() - tick
    scores = metrics.evaluate_images(ganlib.sample(run.generator, SAMPLES, seed=SAMPLE_SEED))
    shares = {f"share_{c}": round(scores[f"share_{c}"], 4) for c in range(10)}
    return {"candidate": name, "seed": seed, "steps": run.step, "train_s": round(train_s, 1),
            **{m: round(scores[m], 4) for m in METRICS if m != "train_s"}, **shares}


def meets_target(row: dict) -> bool:
    """The issue's target on one run's samples."""
    return row["confident_fraction"] >= TARGET_CONFIDENT and row["min_class_share"] >= TARGET_MIN_SHARE


def summarize(rows: list[dict]) -> dict:
    """Mean and standard error of :data:`METRICS` over ``rows`` (one candidate's runs), and how many met the target."""
    return {**{m: mean_se([r[m] for r in rows]) for m in METRICS}, "target_met": sum(meets_target(r) for r in rows),
            "seeds": [r["seed"] for r in rows]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument("--candidates", nargs="+", choices=CANDIDATES, default=["recipe", "plain", "fresh"])
    parser.add_argument("--ladder", action="store_true",
                        help="every rung of the ladder from plain to recipe, in order (instead of --candidates)")
    parser.add_argument("--steps", type=int, default=None, help="override every candidate's steps (a quick look)")
    parser.add_argument("--save", default=None, help="write the summary and every run as JSON to this file")
    parser.add_argument("--note", default="", help="with --save: a remark stored with the results (e.g. that "
                        "other jobs shared the machine, which makes train_s rough)")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be a positive integer, got {args.steps}")
    names = [rung[0] for rung in LADDER] if args.ladder else args.candidates

    header = f"{'candidate':10} {'seed':>4} {'steps':>5} {'confident':>9} {'min_share':>9} {'fid':>7} {'train_s':>7}  target"
    print(header)
    print("-" * len(header))
    summary: dict = {"benchmark": "mnist_recipe", "seeds": args.seeds, "samples": SAMPLES,
                     "threads": torch.get_num_threads(), "torch": torch.__version__,
                     "target": {"confident_fraction": TARGET_CONFIDENT, "min_class_share": TARGET_MIN_SHARE}}
    if args.save:
        summary.update({"command": "python benchmarks/mnist_recipe.py " + " ".join(sys.argv[1:] if argv is None else argv),
                        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                        "note": args.note,
                        "adds": {rung: adds for rung, adds, _, _ in LADDER if rung in names}})
    runs: list[dict] = []
    for seed in args.seeds:  # seed by seed, so that --save always holds whole seeds
        for name in names:
            row = run_candidate(name, seed, num_steps=args.steps)
            runs.append(row)
            print(f"{name:10} {seed:>4} {row['steps']:>5} {row['confident_fraction']:>9.3f} "
                  f"{row['min_class_share']:>9.3f} {row['fid']:>7.1f} {row['train_s']:>7.1f}  "
                  f"{'met' if meets_target(row) else 'missed'}", flush=True)
        for name in names:
            summary[name] = summarize([r for r in runs if r["candidate"] == name])
        if args.save:
            with open(args.save, "w", encoding="utf-8") as file:
                json.dump({**summary, "seeds_done": sorted({r["seed"] for r in runs}), "runs": runs}, file, indent=1)
                file.write("\n")
    print("-" * len(header))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

"""Train the InfoGAN generator that chapter 6 loads, and write it into ganlib/assets/.

Usage::

    python scripts/train_infogan.py [--steps 12000] [--threads 1]   # about 25 min on a 2-core CPU

Trains :func:`ganlib.variants.infogan.recipe` ("mnist": the authors' learning rates, ganlib's CPU-sized DCGAN
pair, batch 64) for ``--steps`` generator steps on the 5 000 offline digits, measuring the
categorical code with :func:`ganlib.variants.infogan.code_purity` every ``--eval-every`` steps. The
generator of the **last** step is written (no checkpoint is picked by its score) to
``infogan_generator.pt`` (a state_dict) and ``infogan_generator.json`` (the measurements, seeds,
seconds, SHA-256). Then set ``PRETRAINED_SHA256`` in ganlib/infogan.py to the printed hash. The same
seed, thread count and torch build give the same bytes; other machines may differ in the last bits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch

from ganlib import load_mnist, seed_everything
import ganlib
from ganlib.eval.codes import code_purity
from ganlib.variants.infogan import PRETRAINED_PATH, InfoGAN, build_infogan, model_spec, recipe
from ganlib.core.utils import file_sha256

STEPS = 12_000        # generator steps: 154 passes over the 5 000 digits at batch 64
EVAL_EVERY = 1000     # steps between code_purity measurements (for the record)
TRAIN_SEED = 0        # seeds the initialization, the batches and the codes
EVAL_SAMPLES = 200    # samples per categorical value in each measurement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--eval-every", type=int, default=EVAL_EVERY)
    parser.add_argument("--out", default=str(PRETRAINED_PATH), help="weights file to write")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = torch's default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    seed_everything(TRAIN_SEED)
    plan = recipe("mnist", seed=TRAIN_SEED, progress=False)
    generator, discriminator = build_infogan(**{k: v for k, v in plan.model.items() if k != "name"})
    x, _ = load_mnist()
    run, trajectory = None, []
    while (run.step if run else 0) < args.steps:
        chunk = dataclasses.replace(plan.config, num_steps=min(args.eval_every, args.steps - (run.step if run else 0)))
        run = ganlib.train(generator, discriminator, x, chunk, variant=InfoGAN(), run=run, device="cpu")
        purity = code_purity(generator, n_per_category=EVAL_SAMPLES)
        trajectory.append({"step": run.step, "seconds": round(run.seconds, 1),
                           "mi_cat": round(run.history["mi_cat"][-1], 4),
                           **{k: round(v, 4) for k, v in purity.items()}})
        print(json.dumps(trajectory[-1]), flush=True)

    torch.save(generator.state_dict(), args.out)
    sha = file_sha256(args.out)
    record = {"model": model_spec(generator, discriminator), "config": dataclasses.asdict(plan.config) | {
                  "num_steps": run.step}, "train_seed": TRAIN_SEED, "eval_samples_per_value": EVAL_SAMPLES,
              "final": trajectory[-1], "trajectory": trajectory, "threads": torch.get_num_threads(),
              "torch": torch.__version__, "sha256": sha}
    record["model"]["data_shape"] = list(record["model"]["data_shape"])
    record["config"]["betas"] = list(record["config"]["betas"])
    with open(str(args.out).removesuffix(".pt") + ".json", "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(f"matched accuracy {trajectory[-1]['matched_accuracy']:.3f} after {run.step} steps "
          f"({run.seconds:.0f} s of training)")
    print(f"wrote {args.out}\nPRETRAINED_SHA256 = \"{sha}\"")


if __name__ == "__main__":
    main()

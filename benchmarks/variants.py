"""The full version of chapter 6's comparison: GAN losses on MNIST, same networks, steps, batch and seeds.

The networks are the chapter's: a narrow DCGAN pair (``build_models("dcgan", width=8)``, a 64-number
z) whose discriminator has its BatchNorm replaced by identities in every row, because WGAN-GP's
per-example gradient penalty is not defined for a critic with batch statistics; the hinge row adds
spectral normalization (``"dcgan-sn"``). Training: batch 16, Adam at 2e-3 with betas (0.5, 0.999), one
D step per G step.

The chapter runs a reduced grid (300 steps, three seeds, 1 000 samples per score) so that the book
builds on a 2-core CPU; this script runs the same grid longer and over more seeds, and prints a
Markdown table with the mean and standard error of each metric (MNIST-FID on ganlib's classifier
features, classes covered, confident fraction, training seconds).

Usage::

    python benchmarks/variants.py                                  # 2 000 steps, seeds 0-4
    python benchmarks/variants.py --steps 300 --seeds 0 1 2 --n-eval 1000   # the chapter's default grid
    python benchmarks/variants.py --variants ns lsgan --json out.json

With the defaults, 35 runs of 2 000 steps: at the 15-35 ms per step that the chapter's runs took on one
core of a (shared) 2-core CPU, roughly 20-45 minutes (an estimate from those times, not a measured run).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

import ganlib
from ganlib import metrics

#: the table's rows: name -> (model, loss); the chapter's six, plus RaGAN
VARIANTS = {
    "minimax": ("dcgan", "minimax"), "ns": ("dcgan", "ns"), "lsgan": ("dcgan", "lsgan"),
    "wgan-gp": ("dcgan", "wgan-gp"), "hinge-sn": ("dcgan-sn", "hinge"), "rsgan": ("dcgan", "rsgan"),
    "ragan": ("dcgan", "ragan"),
}


def build_pair(model: str, *, width: int, latent_dim: int = 64):
    """The comparison's DCGAN pair: ``build_models(model)`` with D's BatchNorm replaced by identities.

    Parameters
    ----------
    model : str
        ``"dcgan"`` or ``"dcgan-sn"`` (whose D has no BatchNorm left).
    width : int
        Channel width of both networks.
    latent_dim : int
        Size of ``z``.

    Returns
    -------
    generator, discriminator : nn.Module
    """
    generator, discriminator = ganlib.build_models(model, width=width, latent_dim=latent_dim)
    for parent in list(discriminator.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.BatchNorm2d):
                setattr(parent, name, torch.nn.Identity())
    return generator, discriminator


def run_grid(variants, seeds, *, steps: int, batch_size: int, lr: float, width: int, n_eval: int,
             device: str) -> dict:
    """Train every variant with every seed; return ``{variant: [metrics of each seed]}``."""
    x_train, _ = ganlib.load_mnist()
    heldout, _ = metrics.heldout_mnist()
    ref_feats, _ = metrics.mnist_features(heldout)
    results = {}
    for name in variants:
        model, loss = VARIANTS[name]
        results[name] = []
        for seed in seeds:
            ganlib.seed_everything(seed)
            generator, discriminator = build_pair(model, width=width)
            config = ganlib.TrainConfig(num_steps=steps, batch_size=batch_size, lr_g=lr, lr_d=lr, loss=loss,
                                        seed=seed, log_every=max(1, steps // 20), progress=False)
            run = ganlib.train(generator, discriminator, x_train, config, device=device)
            feats, probs = metrics.mnist_features(ganlib.sample(generator, n_eval, seed=123), device=device)
            row = {"fid": metrics.frechet_distance(ref_feats, feats), "coverage": 10 * metrics.class_coverage(probs),
                   "confident": metrics.confident_fraction(probs), "seconds": run.seconds}
            results[name].append(row)
            print(f"{name:9s} seed {seed}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()), flush=True)
    return results


def table(results: dict) -> str:
    """A Markdown table of mean ± standard error per variant, best mean MNIST-FID first."""
    def mean_se(values):
        values = np.asarray(values, dtype=float)
        se = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0.0
        return values.mean(), se

    keys = (("fid", ".0f"), ("coverage", ".1f"), ("confident", ".2f"), ("seconds", ".1f"))
    stats = {n: {k: mean_se([r[k] for r in rows]) for k, _ in keys} for n, rows in results.items()}
    lines = ["| variant | MNIST-FID ↓ | classes covered (of 10) | confident fraction | training time (s) |",
             "|---|---|---|---|---|"]
    for name in sorted(stats, key=lambda n: stats[n]["fid"][0]):
        cells = [f"{stats[name][k][0]:{f}} ± {stats[name][k][1]:{f}}" for k, f in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--width", type=int, default=8, help="channel width of the DCGAN pair (the chapter's: 8)")
    parser.add_argument("--n-eval", type=int, default=2000, help="samples scored per run")
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", default=None, help="also write the per-seed results to this file")
    args = parser.parse_args(argv)
    device = str(ganlib.get_device(args.device))
    start = time.perf_counter()
    results = run_grid(args.variants, args.seeds, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                       width=args.width, n_eval=args.n_eval, device=device)
    print()
    print(table(results))
    print(f"\n{len(args.variants)} variants x {len(args.seeds)} seeds, {args.steps} steps of batch "
          f"{args.batch_size} each, on {device}: {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()

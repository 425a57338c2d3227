"""Training speed of ``ganlib.core.train`` against the usual way of writing a GAN loop, in one process.

Three loops train the same MNIST DCGAN (``ganlib.core.recipes.recipe("mnist")``: same networks, batch,
learning rates, seed) on the 5 000 offline digits:

(a) ``baseline``: the pytorch/examples ``dcgan/main.py`` way: a ``DataLoader`` over a ``Dataset`` that
    converts one uint8 image at a time (per-sample transform), a host-to-device copy per batch, label
    tensors allocated every step, D's loss as two backward passes (real, then fake), the G step
    reusing the D step's fakes with D's gradients computed and thrown away, ``.item()`` every step,
    plain (for-loop) Adam. ``num_workers=0``: on 2 cores, worker processes only compete with the main one.
(b) ``ganlib``: :func:`ganlib.core.train` as the chapters call it.
(c) ``bare``: the forward, backward and optimizer work of ganlib's algorithm on tensors that already
    sit on the device (no data sampling, no bookkeeping): the practical limit of the loop. Like (b), it
    follows the recipe's ``reuse_fakes`` (G's step judges the D step's fakes: one G forward a step).

Runs are interleaved in rounds (a, b, c, a, b, c, ...) so that drift of the machine's speed hits all
three alike; each variant's step time is the median over rounds. Then ``seconds_to_quality``: the
training seconds (evaluation excluded) of ``ganlib.core.train`` with the recommended recipe until the
bundled MNIST classifier finds ≥ 80 % of 2 000 samples confident with every class ≥ 5 % (evaluated
every ``--eval-every`` steps, up to ``--max-steps``; ``null`` when not reached). From the same
evaluations, ``seconds_to_recipe_target``: the seconds until the target the recipe was chosen for
(≥ 70 % confident, every class ≥ 5 %) first held.

::

    python benchmarks/bench_train.py                       # a few minutes on a 2-core CPU
    python benchmarks/bench_train.py --rounds 2 --steps 20 --max-steps 0    # a quick look, no quality run

On CUDA it also times ``ganlib.core.train`` with bfloat16 autocast, with ``torch.compile`` and with both
(``--options``), each against the same baseline.

The last line is one JSON object: ``ratio_vs_baseline`` (images/s of ganlib ÷ baseline),
``overhead_vs_bare`` (ganlib step time ÷ bare step time), ``seconds_to_quality`` and the raw numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import numpy as np
import torch
from torch import nn

import ganlib
from ganlib import quality
from ganlib.core.losses import get_loss
from ganlib.core.recipes import recipe

QUALITY_TARGET = "confident_fraction>=0.8,min_class_share>=0.05"
RECIPE_TARGET = "confident_fraction>=0.7,min_class_share>=0.05"  # what the recipe was chosen to meet (README)
OPTIONS = {"bf16": {"precision": "bf16"}, "compile": {"compile": True},  # TrainConfig options for GPUs
           "bf16-compile": {"precision": "bf16", "compile": True}}


class PerSampleMNIST(torch.utils.data.Dataset):
    """uint8 digits converted one at a time, as a torchvision transform pipeline would."""

    def __init__(self, pixels: np.ndarray):
        self.pixels = pixels  # (N, 784) uint8

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        image = torch.from_numpy(self.pixels[i].reshape(1, 28, 28).astype(np.float32))  # ToTensor
        return image / 127.5 - 1.0, 0                                                   # Normalize(0.5, 0.5)


def _models(plan, device):
    ganlib.seed_everything(plan.config.seed)
    generator, discriminator = ganlib.build_models(**plan.model)
    return generator.to(device), discriminator.to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Baseline:
    """The pytorch/examples loop, advanced ``steps`` iterations per call."""

    def __init__(self, plan, pixels, device):
        self.device, self.batch_size = device, plan.config.batch_size
        self.generator, self.discriminator = _models(plan, device)
        self.criterion = nn.BCEWithLogitsLoss()  # our D returns logits; the example's Sigmoid+BCELoss is worse
        cfg = plan.config
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr_g, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr_d, betas=cfg.betas)
        self.loader = torch.utils.data.DataLoader(PerSampleMNIST(pixels), batch_size=self.batch_size,
                                                  shuffle=True, drop_last=True, num_workers=0)
        self.batches = iter(self.loader)

    def _next(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)

    def run(self, steps: int) -> None:
        g, d, device = self.generator, self.discriminator, self.device
        for _ in range(steps):
            real = self._next()[0].to(device)
            b = real.size(0)
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            d.zero_grad()
            output = d(real)  # (b,) logits, or one per pack of digits for a packed D
            label = torch.full(output.shape, 1.0, device=device)
            err_d_real = self.criterion(output, label)
            err_d_real.backward()
            noise = torch.randn(b, g.latent_dim, device=device)
            fake = g(noise)
            label.fill_(0.0)
            err_d_fake = self.criterion(d(fake.detach()), label)
            err_d_fake.backward()
            self.opt_d.step()
            # (2) Update G network: maximize log(D(G(z))); fake labels are real for generator cost
            g.zero_grad()
            label.fill_(1.0)
            err_g = self.criterion(d(fake), label)
            err_g.backward()
            self.opt_g.step()
            _ = (err_d_real + err_d_fake).item(), err_g.item()  # the example prints these every step


class Ganlib:
    """``ganlib.core.train`` continued ``steps`` steps per call (one Run, so nothing is rebuilt)."""

    def __init__(self, plan, data, device, **options):
        self.data, self.device = data, device
        self.generator, self.discriminator = _models(plan, device)
        self.config = dataclasses.replace(plan.config, progress=False, **options)  # precision=, compile=
        self.run_state = None

    def run(self, steps: int) -> None:
        config = dataclasses.replace(self.config, num_steps=steps, log_every=min(steps, self.config.log_every))
        self.run_state = ganlib.train(self.generator, self.discriminator, self.data, config,
                                      run=self.run_state, device=self.device)


class Bare:
    """ganlib's algorithm on device-resident tensors with nothing else: the practical limit."""

    def __init__(self, plan, data, device):
        self.device = device
        self.generator, self.discriminator = _models(plan, device)
        run = ganlib.new_run(self.generator, self.discriminator, plan.config, device)
        self.opt_g, self.opt_d = run.opt_g, run.opt_d  # the same optimizers ganlib makes
        layout = torch.channels_last
        self.generator.to(memory_format=layout)
        self.discriminator.to(memory_format=layout)
        b = plan.config.batch_size
        self.x_real = data[:b].to(device).contiguous(memory_format=layout)
        self.z = torch.randn(b, self.generator.latent_dim, device=device)
        self.loss = get_loss(plan.config.loss)
        self.reuse_fakes = plan.config.speed.reuse_fakes  # G's step judges D's fakes, as in ganlib.train

    def run(self, steps: int) -> None:
        g, d = self.generator, self.discriminator
        for _ in range(steps):
            out = ganlib.d_step(g, d, self.opt_d, self.x_real, self.z, self.loss, keep_fakes=self.reuse_fakes)
            ganlib.g_step(g, d, self.opt_g, self.z, self.loss, x_fake=out.get("x_fake"))


def time_variants(variants: dict, steps: int, rounds: int, warmup: int, device) -> dict[str, list[float]]:
    """Seconds per step of each variant, one entry per round, runs interleaved."""
    for v in variants.values():
        v.run(warmup)
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, v in variants.items():
            tick = time.perf_counter()
            v.run(steps)
            _sync(device)
            times[name].append((time.perf_counter() - tick) / steps)
    return times


def seconds_to_quality(plan, data, device, eval_every: int, max_steps: int) -> dict:
    """Train the recipe until the quality target holds; training seconds and steps (None if not met)."""
    generator, discriminator = _models(plan, device)
    config = dataclasses.replace(plan.config, num_steps=max_steps, eval_every=eval_every, progress=False)
    run = ganlib.train(generator, discriminator, data, config, device=device,
                       evaluate=quality.evaluator("mnist"), stop_when=quality.parse_target(QUALITY_TARGET))
    last = run.evaluations[-1]
    best = max(run.evaluations, key=lambda e: e["confident_fraction"])
    recipe_target = quality.parse_target(RECIPE_TARGET)
    first = next((e for e in run.evaluations if recipe_target(e)), None)  # the same run, no extra training
    return {"seconds_to_quality": round(last["seconds"], 1) if run.target_met else None,
            "seconds_to_recipe_target": None if first is None else round(first["seconds"], 1),
            "recipe_target_at_step": None if first is None else first["step"],
            "steps_to_quality": run.step if run.target_met else None,
            "quality_steps_run": run.step, "quality_training_seconds": round(run.seconds, 1),
            "best_confident_fraction": round(best["confident_fraction"], 4), "best_at_step": best["step"],
            "min_class_share_there": round(best["min_class_share"], 4), "recipe_target": RECIPE_TARGET}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="steps per variant per round (default 60)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    parser.add_argument("--eval-every", type=int, default=250, help="quality run: steps between evaluations")
    parser.add_argument("--max-steps", type=int, default=3000, help="quality run: give up after (0 = skip)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--options", default=None,
                        help="also time ganlib.train with these TrainConfig options, comma-separated among "
                             f"{', '.join(OPTIONS)} (default: all of them on CUDA, none elsewhere)")
    args = parser.parse_args(argv)
    device = ganlib.get_device(args.device)
    chosen = (OPTIONS if device.type == "cuda" else ()) if args.options is None else \
        tuple(o for o in args.options.split(",") if o)
    if unknown := [o for o in chosen if o not in OPTIONS]:
        parser.error(f"unknown --options {unknown}; expected some of {', '.join(OPTIONS)}")
    plan = recipe("mnist", progress=False)
    x, _ = ganlib.load_mnist()
    pixels = ((x + 1) * 127.5).round().to(torch.uint8).reshape(len(x), -1).numpy()  # the same digits as uint8

    variants = {"baseline": Baseline(plan, pixels, device), "ganlib": Ganlib(plan, x, device),
                "bare": Bare(plan, x, device)}
    for option in chosen:  # compiling happens in the untimed warm-up steps
        variants[f"ganlib-{option}"] = Ganlib(plan, x, device, **OPTIONS[option])
    times = time_variants(variants, args.steps, args.rounds, args.warmup, device)
    med = {name: statistics.median(t) for name, t in times.items()}
    b = plan.config.batch_size
    print(f"{'variant':10} {'ms/step':>9} {'images/s':>9}   per round (ms)")
    for name, t in times.items():
        print(f"{name:10} {1e3 * med[name]:9.1f} {b / med[name]:9.0f}   " + " ".join(f"{1e3 * s:.1f}" for s in t))
    result = {"benchmark": "bench_train", "device": str(device), "torch": torch.__version__,
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
              "threads": torch.get_num_threads(), "batch_size": b, "steps_per_round": args.steps,
              "rounds": args.rounds,
              "ms_per_step": {name: round(1e3 * m, 2) for name, m in med.items()},
              "images_per_s": {name: round(b / m, 1) for name, m in med.items()},
              "ratio_vs_baseline": round(med["baseline"] / med["ganlib"], 3),
              "overhead_vs_bare": round(med["ganlib"] / med["bare"], 3)}
    if chosen:
        result["ratio_vs_baseline_with_options"] = {o: round(med["baseline"] / med[f"ganlib-{o}"], 3)
                                                    for o in chosen}
    if args.max_steps:
        result.update(seconds_to_quality(plan, x, device, args.eval_every, args.max_steps),
                      quality_target=QUALITY_TARGET)
    else:
        result["seconds_to_quality"] = None
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

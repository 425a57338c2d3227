"""The runs of tests/test_distributed.py's parity tests: launched in two gloo ranks, imported for one process.

Launched as ``torchrun --standalone --nproc_per_node=2 _ddp_parity_worker.py DUMP_DIR [CASE ...]``, every
rank joins one process group, makes the runs named (default: every run of :data:`CASES`) with batches of
:data:`BATCH` and saves its final models in ``DUMP_DIR/rank{r}.pt``. Imported by the test, the same
functions make the one-process runs with batches of ``2 * BATCH``, which the two ranks must match.
Everything runs in float64 (see ``parity_tolerance`` in the test file).

- One run per loss of :data:`ganlib.LOSSES`, through :func:`ganlib.train` (the path of the CLI): the
  ring's recipe (its MLP and learning rates), a few steps, the penalty on every other D update.
- Conditional pairs, reuse_fakes, unrolling and compile (:func:`manual_loop`), also through
  :func:`ganlib.train`, on a tiny pair (conditional: G(z, y), D(x, y) on 2-D points).
"""

from __future__ import annotations

import os
import sys
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import ganlib
from ganlib.core.losses import LOSSES

STEPS, BATCH = 12, 32  # generator steps; per-rank batch (one process: 2 * BATCH)
PENALTY_EVERY = 2      # lazy penalties: both D updates (plain, penalized x 2) are exercised
LR = 1e-3              # the tiny pairs' Adam learning rate (both players)
# The tiny pairs' runs: (case, loss, conditional, reuse_fakes, unroll_steps, compile)
MANUAL = (("conditional", "rsgan", True, False, 0, False),          # labels in both steps, real batch in G's
          ("conditional-reuse_fakes", "ns", True, True, 0, False),  # labels, and G's step on D's fakes
          ("reuse_fakes", "ns-r1", False, True, 0, False),          # a penalty, and G's step on D's fakes
          ("unroll", "ns", False, False, 2, False),                 # G against D unrolled 2 steps
          ("compile", "ns", False, False, 0, True))                 # both players compiled in place
CASES = tuple(LOSSES) + tuple(m[0] for m in MANUAL if not m[-1])  # compiling only when named
COMPILE_BACKEND = os.environ.get("GANLIB_TEST_COMPILE_BACKEND", "aot_eager")  # "inductor": what train uses


def split_batch(per_part: Callable, parts: int) -> Callable:
    """A loss on a batch split in ``parts`` equal parts: the mean of ``per_part`` over the parts.

    What K ranks compute for a loss with batch statistics (RaGAN's mean verdicts), in one process.
    """
    def loss(*verdicts):
        chunks = zip(*(v.chunk(parts) for v in verdicts))
        return torch.stack([per_part(*c) for c in chunks]).mean()
    return loss


def train_loss(name: str, batch: int) -> dict:
    """The ring's recipe with loss ``name``, ``STEPS`` steps of ``batch`` through ``ganlib.train``."""
    plan = ganlib.recipes.recipe("ring", seed=0, num_steps=STEPS, batch_size=batch, loss=name, log_every=STEPS,
                                 penalty_every=PENALTY_EVERY, progress=False)
    ganlib.seed_everything(0)
    generator, discriminator = ganlib.build_models(**plan.model)
    x, _ = ganlib.load_dataset("ring", seed=0)
    run = ganlib.train(generator, discriminator, x.double(), plan.config, device="cpu")
    return {"generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
            "history": run.history}


class TinyConditionalG(nn.Module):
    """G(z, y) for 2-D points: the one-hot label concatenated to z, as the conditional DCGAN does."""

    latent_dim, num_classes = 4, 3

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(self.latent_dim + self.num_classes, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, z, y):
        return self.net(torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], dim=1))


class TinyConditionalD(nn.Module):
    """D(x, y) for 2-D points: ``(B,)`` logits."""

    num_classes = 3

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 + self.num_classes, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x, y):
        return self.net(torch.cat([x, F.one_hot(y, self.num_classes).to(x.dtype)], dim=1)).squeeze(1)


def manual_models(conditional: bool):
    ganlib.seed_everything(0)
    if conditional:
        return TinyConditionalG(), TinyConditionalD()
    return ganlib.build_models("mlp", data_shape=(2,), latent_dim=4, hidden=(32, 32))


def manual_loop(case: str, batch: int, world: int = 1) -> dict:
    """``STEPS`` steps of case ``case`` of :data:`MANUAL` through :func:`ganlib.train` (one process, or
    each of ``world`` ranks): a tiny pair on 512 ring points, both learning rates :data:`LR`."""
    _, name, conditional, reuse, unroll, compiled = next(m for m in MANUAL if m[0] == case)
    generator, discriminator = manual_models(conditional)
    if compiled:  # in place, as train does, but with a backend that builds in seconds; train keeps them so
        # dynamo and AOTAutograd (whose backward DDP's hooks must see) without inductor's C++ kernels, which
        # take ~1 CPU-minute to build here; train's inductor kernels are tested in one process (test_train)
        generator.compile(backend=COMPILE_BACKEND)
        discriminator.compile(backend=COMPILE_BACKEND)
    x = ganlib.sample_toy("ring", 512, generator=torch.Generator().manual_seed(1)).double()
    labels = torch.arange(len(x)) % 3 if conditional else None  # any labels do: the test is of the arithmetic
    config = ganlib.TrainConfig(num_steps=STEPS, batch_size=batch, lr_g=LR, lr_d=LR, loss=name, log_every=1,
                                progress=False, regularization=ganlib.Regularization(unroll_steps=unroll),
                                speed=ganlib.Speed(reuse_fakes=reuse, compile=compiled))
    run = ganlib.train(generator, discriminator, x, config, labels=labels, device="cpu")
    return {"generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
            "d_losses": run.history["d_loss"]}


def run_case(case: str, batch: int, world: int = 1) -> dict:
    return train_loss(case, batch) if case in LOSSES else manual_loop(case, batch, world)


if __name__ == "__main__":
    from ganlib.core import distributed

    torch.set_default_dtype(torch.float64)
    dump, cases = sys.argv[1], sys.argv[2:] or CASES
    with distributed.process_group("cpu"):
        world = distributed.world_size()
        results = {case: run_case(case, BATCH, world) for case in cases}
        torch.save(results, os.path.join(dump, f"rank{distributed.rank()}.pt"))

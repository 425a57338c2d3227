"""Do two versions of ganlib train the same recipes to the same weights? Digests to compare across checkouts.

Trains, on the CPU with one thread, the 2-D ring recipe (300 steps), the MNIST DCGAN recipe (60 steps) and
the InfoGAN recipe (30 steps), each from seed 0, and prints a SHA-256 digest of the final weights and of the
logged losses. Run it in two checkouts (say, before and after a refactoring of the training loop) on the
same machine: equal digests mean the same computation, bit for bit, so every table those recipes produce
is unchanged too. It works with the layouts before and after the engine redesign (``train_infogan`` or
``ganlib.train(..., variant=InfoGAN())``)::

    git worktree add /tmp/old <old-commit>
    (cd /tmp/old && python /path/to/benchmarks/engine_parity.py)
    python benchmarks/engine_parity.py
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import torch

import ganlib


def digest(run) -> str:
    h = hashlib.sha256()
    for module in (run.generator, run.discriminator):
        for key, value in module.state_dict().items():
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        h.update(repr([round(v, 12) for v in run.history[key]]).encode())
    return h.hexdigest()[:16]


def trained(plan, data, steps: int, log_every: int, variant=None):
    ganlib.seed_everything(0)
    generator, discriminator = ganlib.build_models(**plan.model)
    config = dataclasses.replace(plan.config, num_steps=steps, log_every=log_every, progress=False)
    if variant is None:
        return ganlib.train(generator, discriminator, data, config, device="cpu")
    if hasattr(ganlib.infogan, "train_infogan"):  # before the engine redesign
        return ganlib.infogan.train_infogan(generator, discriminator, data, config, device="cpu")
    return ganlib.train(generator, discriminator, data, config, variant=variant, device="cpu")


def main() -> None:
    torch.set_num_threads(1)
    ring, _ = ganlib.load_dataset("ring")
    digits, _ = ganlib.load_mnist()
    info = getattr(ganlib.infogan, "InfoGAN", lambda: "infogan")()
    print(json.dumps({
        "ring": digest(trained(ganlib.recipes.recipe("ring"), ring, 300, 50)),
        "mnist_dcgan": digest(trained(ganlib.recipes.recipe("mnist", "dcgan"), digits, 60, 10)),
        "infogan": digest(trained(ganlib.infogan.recipe("mnist"), digits, 30, 10, variant=info)),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()

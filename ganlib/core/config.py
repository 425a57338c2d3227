"""The knobs of a training run, and which of them combine.

Holds :class:`TrainConfig` and :func:`check_options`, whose table :data:`CONFLICTS` is the one place that
says which options, losses, pairs and launch modes do not go together. :func:`ganlib.train` checks it
once, when a run starts; a config alone is checked when it is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

from .losses import LOSSES
from .utils import GanlibError

__all__ = ["TrainConfig", "PRECISIONS", "Context", "CONFLICTS", "check_options"]

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Make variants with ``dataclasses.replace``."""

    num_steps: int = 1000                       # generator updates made by one call of train()
    batch_size: int = 64                        # samples per minibatch, real and fake alike
    lr_g: float = 2e-4                          # generator's Adam learning rate (DCGAN's value)
    lr_d: float = 2e-4                          # discriminator's Adam learning rate
    betas: tuple[float, float] = (0.5, 0.999)   # Adam betas; beta1 = 0.5 as in DCGAN
    d_steps: int = 1                            # k: D updates per G update (the paper used k = 1)
    loss: str = "ns"                            # a name in ganlib.losses.LOSSES
    log_every: int = 50                         # steps between history rows (the only host syncs)
    snapshot_every: int = 0                     # steps between samples at fixed noise; 0 = never
    eval_every: int = 0                         # steps between quality evaluations (train's evaluate=); 0 = never
    num_fixed: int = 64                         # fixed noise vectors for the snapshots
    seed: int = 0                               # seeds the batches and the noise of the run
    progress: bool = True                       # show a progress bar (notebook-aware)
    unroll_steps: int = 0                       # K of unrolled GANs (Metz et al., 2017); 0 = the plain G step
    lr_decay_start: int = 0                     # run step where both lrs start to fall linearly
    lr_decay_end: int = 0                       # ... and reach lr * lr_decay_factor; 0 = no decay
    lr_decay_factor: float = 1.0                # the learning rates' final multiplier, in (0, 1]
    penalty_every: int = 1                      # lazy regularization: a loss's penalty on every k-th D update, x k
    precision: str = "fp32"                     # "bf16": forward passes under bfloat16 autocast (CUDA, CPU)
    compile: bool = False                       # torch.compile both networks (pays off on a GPU)
    reuse_fakes: bool = False                   # G's step judges the last D step's fakes: one G forward a step

    def __post_init__(self):
        for name in ("num_steps", "batch_size", "d_steps", "log_every", "num_fixed", "penalty_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GanlibError(f"{name} must be a positive integer, got {value!r}")
        for name in ("snapshot_every", "eval_every", "unroll_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise GanlibError(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise GanlibError(f"{name} must be a positive finite number, got {value!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise GanlibError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.loss not in LOSSES:
            raise GanlibError(f"unknown loss {self.loss!r}; expected one of {tuple(LOSSES)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GanlibError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("lr_decay_start", "lr_decay_end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise GanlibError(f"{name} must be a non-negative integer, got {value!r}")
        factor = self.lr_decay_factor
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0.0 < factor <= 1.0:
            raise GanlibError(f"lr_decay_factor must be a number in (0, 1], got {factor!r}")
        if self.precision not in PRECISIONS:
            raise GanlibError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.compile, bool):
            raise GanlibError(f"compile must be True or False, got {self.compile!r}")
        if not isinstance(self.reuse_fakes, bool):
            raise GanlibError(f"reuse_fakes must be True or False, got {self.reuse_fakes!r}")
        if (self.lr_decay_start or self.lr_decay_end) and self.lr_decay_start >= self.lr_decay_end:
            raise GanlibError("the learning-rate decay needs lr_decay_start < lr_decay_end, got "
                              f"{self.lr_decay_start} and {self.lr_decay_end}")
        check_options(self)  # the combinations a config alone can rule out

    def lr_scale(self, step: int) -> float:
        """The learning rates' multiplier at run step ``step``: 1 until ``lr_decay_start``, then falling
        linearly to ``lr_decay_factor`` at ``lr_decay_end``, and ``lr_decay_factor`` after it."""
        if not self.lr_decay_end or step <= self.lr_decay_start:
            return 1.0
        done = min(1.0, (step - self.lr_decay_start) / (self.lr_decay_end - self.lr_decay_start))
        return 1.0 - done * (1.0 - self.lr_decay_factor)


class Context(NamedTuple):
    """What a run adds to its config when it starts: the pair, the launch, the device, the variant."""

    conditional: bool = False          # the pair takes class labels
    distributed: bool = False          # under torchrun (DDP)
    device_type: str = "cpu"
    variant: str = "gan"               # the variant's name
    unsupported: frozenset = frozenset()  # options the variant's steps do not implement


def _penalty(config: TrainConfig) -> bool:
    return LOSSES[config.loss].penalty is not None


def _relativistic(config: TrainConfig) -> bool:
    return LOSSES[config.loss].g_uses_real


# (the option, is it on?, what it does not combine with, the reason): checked top to bottom, the first
# row that holds raises. Rows that read only the config are checked when a TrainConfig is made.
CONFLICTS: tuple[tuple[str, Callable[[TrainConfig, Context | None], bool], str], ...] = (
    ("unroll_steps", lambda c, x: c.unroll_steps > 0 and _penalty(c),
     "a loss with a gradient penalty (its gradient would need third derivatives); pick one without, e.g. ns"),
    ("reuse_fakes", lambda c, x: c.reuse_fakes and c.unroll_steps > 0,
     "unroll_steps: the unrolled generator step makes its own fakes (pick one of them)"),
    ("compile", lambda c, x: c.compile and (c.unroll_steps > 0 or _penalty(c)),
     "unroll_steps or a loss with a gradient penalty (both differentiate through a gradient); "
     "pick compile=False"),
    ("unroll_steps", lambda c, x: x is not None and c.unroll_steps > 0 and x.conditional,
     "a conditional pair (the unrolled step is for unconditional pairs)"),
    ("a conditional pair", lambda c, x: x is not None and x.conditional and _penalty(c),
     "a loss with a gradient penalty (the penalty does not see the labels); pick one without, e.g. ns"),
    ("compile", lambda c, x: x is not None and c.compile and x.distributed,
     "torchrun (DDP); pick compile=False"),
    ("unroll_steps", lambda c, x: x is not None and c.unroll_steps > 0 and x.distributed,
     "torchrun (DDP); train unrolled GANs in one process"),
    ("precision 'bf16'", lambda c, x: x is not None and c.precision == "bf16" and x.device_type not in ("cuda", "cpu"),
     "this device (bfloat16 autocast needs CUDA or the CPU)"),
)

# Options a variant may leave out; it names them in its `unsupported` set.
VARIANT_OPTIONS: dict[str, Callable[[TrainConfig], bool]] = {
    "unroll_steps": lambda c: c.unroll_steps > 0, "reuse_fakes": lambda c: c.reuse_fakes,
    "compile": lambda c: c.compile, "bf16": lambda c: c.precision == "bf16",
    "penalty": _penalty, "relativistic": _relativistic, "lr_decay": lambda c: c.lr_decay_end > 0,
    "distributed": lambda c: False,  # decided by the context, below
}


def check_options(config: TrainConfig, context: Context | None = None) -> None:
    """Raise one clear :class:`~ganlib.utils.GanlibError` for the first combination of options that does
    not work (:data:`CONFLICTS`, then the options the variant leaves out); return None otherwise."""
    for option, holds, reason in CONFLICTS:
        if holds(config, context):
            raise GanlibError(f"{option} does not combine with {reason}")
    if context is None:
        return
    for option in sorted(context.unsupported):
        on = context.distributed if option == "distributed" else VARIANT_OPTIONS[option](config)
        if on:
            what = f"loss {config.loss!r}" if option in ("penalty", "relativistic") else option
            raise GanlibError(f"the {context.variant} variant does not support {what} yet")

"""The knobs of a training run: :class:`TrainConfig`, the algorithm's, with three small nested configs.

:class:`TrainConfig` holds what Algorithm 1 is about (steps, batch, learning rates, k, the loss, the seed)
and what is recorded (history, snapshots, evaluations). Three nested configs hold the rest:
:class:`LRDecay` (the learning rates' schedule), :class:`Regularization` (unrolled G steps, lazy
penalties) and :class:`Speed` (bfloat16, compiling, reusing D's fakes: faster, the same algorithm).
Which options combine is :mod:`ganlib.core.options`' table.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .losses import LOSSES
from .options import check_options
from .utils import GanlibError

__all__ = ["TrainConfig", "LRDecay", "Regularization", "Speed", "PRECISIONS", "NESTED", "knob", "with_changes"]

PRECISIONS = ("fp32", "bf16")


def _count(owner: str, name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a positive" if low == 1 else "a non-negative"
        raise GanlibError(f"{owner}{name} must be {kind} integer, got {value!r}")


def _flag(owner: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise GanlibError(f"{owner}{name} must be True or False, got {value!r}")


@dataclass(frozen=True)
class LRDecay:
    """Both learning rates fall linearly from run step ``start`` to ``end``, to ``factor`` times their value."""

    start: int = 0              # run step where both lrs start to fall
    end: int = 0                # ... and reach lr * factor; 0 = no decay
    factor: float = 1.0         # the final multiplier, in (0, 1]

    def __post_init__(self):
        _count("lr_decay.", "start", self.start, 0)
        _count("lr_decay.", "end", self.end, 0)
        f = self.factor
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < f <= 1.0:
            raise GanlibError(f"lr_decay.factor must be a number in (0, 1], got {f!r}")
        if (self.start or self.end) and self.start >= self.end:
            raise GanlibError(f"the learning-rate decay needs start < end, got {self.start} and {self.end}")


@dataclass(frozen=True)
class Regularization:
    """Changes to the game that make training better behaved."""

    unroll_steps: int = 0       # K of unrolled GANs (Metz et al., 2017); 0 = the plain G step
    penalty_every: int = 1      # lazy regularization: a loss's penalty on every k-th D update, x k

    def __post_init__(self):
        _count("regularization.", "unroll_steps", self.unroll_steps, 0)
        _count("regularization.", "penalty_every", self.penalty_every, 1)


@dataclass(frozen=True)
class Speed:
    """Options that make a step cheaper and leave the algorithm as it is."""

    precision: str = "fp32"     # "bf16": forward passes under bfloat16 autocast (CUDA, CPU)
    compile: bool = False       # torch.compile both networks (pays off on a GPU)
    reuse_fakes: bool = False   # G's step judges the last D step's fakes: one G forward a step

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise GanlibError(f"speed.precision must be one of {PRECISIONS}, got {self.precision!r}")
        _flag("speed.", "compile", self.compile)
        _flag("speed.", "reuse_fakes", self.reuse_fakes)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Make variants with :func:`with_changes` (or
    ``dataclasses.replace``)."""

    num_steps: int = 1000                       # generator updates made by one call of train()
    batch_size: int = 64                        # samples per minibatch, real and fake alike
    lr_g: float = 2e-4                          # generator's Adam learning rate (DCGAN's value)
    lr_d: float = 2e-4                          # discriminator's Adam learning rate
    betas: tuple[float, float] = (0.5, 0.999)   # Adam betas; beta1 = 0.5 as in DCGAN
    d_steps: int = 1                            # k: D updates per G update (the paper used k = 1)
    loss: str = "ns"                            # a name in ganlib.losses.LOSSES
    seed: int = 0                               # seeds the batches and the noise of the run
    log_every: int = 50                         # steps between history rows (the only host syncs)
    snapshot_every: int = 0                     # steps between samples at fixed noise; 0 = never
    eval_every: int = 0                         # steps between quality evaluations (train's evaluate=); 0 = never
    num_fixed: int = 64                         # fixed noise vectors for the snapshots
    progress: bool = True                       # show a progress bar (notebook-aware)
    lr_decay: LRDecay = field(default_factory=LRDecay)
    regularization: Regularization = field(default_factory=Regularization)
    speed: Speed = field(default_factory=Speed)

    def __post_init__(self):
        for name in ("num_steps", "batch_size", "d_steps", "log_every", "num_fixed"):
            _count("", name, getattr(self, name), 1)
        for name in ("snapshot_every", "eval_every", "seed"):
            _count("", name, getattr(self, name), 0)
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise GanlibError(f"{name} must be a positive finite number, got {value!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise GanlibError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.loss not in LOSSES:
            raise GanlibError(f"unknown loss {self.loss!r}; expected one of {tuple(LOSSES)}")
        for name, kind in NESTED_TYPES.items():
            if not isinstance(getattr(self, name), kind):
                raise GanlibError(f"{name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        check_options(self)  # the combinations a config alone can rule out

    def lr_scale(self, step: int) -> float:
        """The learning rates' multiplier at run step ``step``: 1 until ``lr_decay.start``, then falling
        linearly to ``lr_decay.factor`` at ``lr_decay.end``, and ``lr_decay.factor`` after it."""
        decay = self.lr_decay
        if not decay.end or step <= decay.start:
            return 1.0
        done = min(1.0, (step - decay.start) / (decay.end - decay.start))
        return 1.0 - done * (1.0 - decay.factor)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """The config a checkpoint stored (``dataclasses.asdict``), nested or in the flat layout of
        checkpoint format 1 (``lr_decay_start``, ``unroll_steps``, ``precision``, ... at the top)."""
        values = dict(values)
        nested = {name: dict(values.pop(name, None) or {}) for name in NESTED_TYPES}
        for flat, (name, key) in NESTED.items():
            if flat in values:
                nested[name][key] = values.pop(flat)
        values["betas"] = tuple(values.get("betas", (0.5, 0.999)))
        return cls(**values, **{name: NESTED_TYPES[name](**kw) for name, kw in nested.items()})


NESTED_TYPES = {"lr_decay": LRDecay, "regularization": Regularization, "speed": Speed}
# Each nested knob by its own name: what with_changes(), the recipes and format-1 checkpoints use.
NESTED = {"lr_decay_start": ("lr_decay", "start"), "lr_decay_end": ("lr_decay", "end"),
          "lr_decay_factor": ("lr_decay", "factor"),
          **{f.name: ("regularization", f.name) for f in dataclasses.fields(Regularization)},
          **{f.name: ("speed", f.name) for f in dataclasses.fields(Speed)}}


def knob(config: TrainConfig, name: str):
    """The value of one knob by its name, nested ones too: ``knob(c, "reuse_fakes") == c.speed.reuse_fakes``."""
    if name in NESTED:
        group, field_name = NESTED[name]
        return getattr(getattr(config, group), field_name)
    return getattr(config, name)


def with_changes(config: TrainConfig, **changes) -> TrainConfig:
    """``config`` with some knobs changed, nested ones by their names: ``with_changes(c, num_steps=10,
    reuse_fakes=True, lr_decay_end=500)`` (as :func:`ganlib.recipes.recipe` takes them)."""
    nested: dict[str, dict] = {}
    top = {}
    for key, value in changes.items():
        if key in NESTED:
            name, field_name = NESTED[key]
            nested.setdefault(name, {})[field_name] = value
        elif key in {f.name for f in dataclasses.fields(TrainConfig)}:
            top[key] = value
        else:
            raise GanlibError(f"TrainConfig has no option {key!r}")
    for name, fields in nested.items():
        top[name] = dataclasses.replace(top.get(name, getattr(config, name)), **fields)
    return dataclasses.replace(config, **top)

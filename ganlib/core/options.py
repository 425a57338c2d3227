"""Which options combine: one table, ``CONFLICTS``, checked by :func:`check_options`.

:func:`ganlib.train` checks a run's config against it once, when the run starts, with the
:class:`Context` the config alone cannot know (the pair, the launch, the device, the variant); a
:class:`~ganlib.core.config.TrainConfig` checks the rows that need nothing else when it is made.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from .losses import LOSSES
from .utils import GanlibError

__all__ = ["Context", "CONFLICTS", "VARIANT_OPTIONS", "check_options"]


class Context(NamedTuple):
    """What a run adds to its config when it starts: the pair, the launch, the device, the variant."""

    conditional: bool = False          # the pair takes class labels
    distributed: bool = False          # under torchrun (DDP)
    device_type: str = "cpu"
    variant: str = "gan"               # the variant's name
    unsupported: frozenset = frozenset()  # options the variant's steps do not implement


def _penalty(config) -> bool:
    return LOSSES[config.loss].penalty is not None


def _relativistic(config) -> bool:
    return LOSSES[config.loss].g_uses_real


# (the option, is it on?, what it does not combine with, the reason): checked top to bottom, the first
# row that holds raises. Rows that read only the config are checked when a TrainConfig is made.
CONFLICTS: tuple[tuple[str, Callable[..., bool], str], ...] = (
    ("unroll_steps", lambda c, x: c.regularization.unroll_steps > 0 and _penalty(c),
     "a loss with a gradient penalty (its gradient would need third derivatives); pick one without, e.g. ns"),
    ("reuse_fakes", lambda c, x: c.speed.reuse_fakes and c.regularization.unroll_steps > 0,
     "unroll_steps: the unrolled generator step makes its own fakes (pick one of them)"),
    ("compile", lambda c, x: c.speed.compile and (c.regularization.unroll_steps > 0 or _penalty(c)),
     "unroll_steps or a loss with a gradient penalty (both differentiate through a gradient); "
     "pick compile=False"),
    ("unroll_steps", lambda c, x: x is not None and c.regularization.unroll_steps > 0 and x.conditional,
     "a conditional pair (the unrolled step is for unconditional pairs)"),
    ("a conditional pair", lambda c, x: x is not None and x.conditional and _penalty(c),
     "a loss with a gradient penalty (the penalty does not see the labels); pick one without, e.g. ns"),
    ("precision 'bf16'", lambda c, x: x is not None and c.speed.precision == "bf16" and x.device_type not in ("cuda", "cpu"),
     "this device (bfloat16 autocast needs CUDA or the CPU)"),
)

#: The options a variant may leave out (it names them in its ``unsupported`` set), each with its test.
VARIANT_OPTIONS: dict[str, Callable[..., bool]] = {
    "unroll_steps": lambda c: c.regularization.unroll_steps > 0, "reuse_fakes": lambda c: c.speed.reuse_fakes,
    "compile": lambda c: c.speed.compile, "bf16": lambda c: c.speed.precision == "bf16",
    "penalty": _penalty, "relativistic": _relativistic, "lr_decay": lambda c: c.lr_decay.end > 0,
    "distributed": lambda c: False,  # decided by the context, below
}


def check_options(config, context: Context | None = None) -> None:
    """Raise one clear :class:`~ganlib.utils.GanlibError` for the first combination of options that does
    not work (``CONFLICTS``, then the options the variant leaves out); return None otherwise."""
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

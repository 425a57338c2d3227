"""The generator's exponential moving average (Yazıcı et al., 2019), and running several callbacks.

Holds :class:`EMA` (an averaged copy of G, updated by a ``train(..., callback=)``) and :func:`callbacks`
(several such hooks as one). Chapter 7 uses them through :mod:`ganlib.variants.remedies`.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from ..core.run import Run
from ..core.utils import GanlibError

__all__ = ["EMA", "EMA_DECAY", "callbacks"]

EMA_DECAY = 0.999   # the generator average's decay (Yazıcı et al., 2019, used 0.999 and 0.9999)


class EMA:
    """An exponential moving average of the generator's weights (Yazıcı et al., 2019).

    GAN training often circles around an equilibrium instead of settling on it; the average of the
    iterates lies closer to the centre than any of them. ``ema.generator`` is a copy of G whose
    parameters *and* floating-point buffers (BatchNorm statistics) follow
    ``avg <- decay * avg + (1 - decay) * current`` after every generator step; integer buffers
    (BatchNorm's step counter) are copied. Before ``start_step`` the copy simply follows G. G itself
    is never changed. Sample and evaluate ``ema.generator`` (it stays in evaluation mode).

    Parameters
    ----------
    generator : nn.Module
        The generator being trained.
    decay : float
        In ``[0, 1)``; the average spans about ``1 / (1 - decay)`` steps. Yazıcı et al. used 0.999
        and 0.9999 for runs of 100 000 steps or more; short runs need a smaller decay.
    start_step : int
        Generator step from which averaging starts.

    Examples
    --------
    >>> ema = EMA(generator, decay=0.99)            # doctest: +SKIP
    >>> run = ganlib.train(generator, discriminator, data, config, callback=ema.update)  # doctest: +SKIP
    >>> x = ganlib.sample(ema.generator, 2500)      # doctest: +SKIP
    """

    def __init__(self, generator: nn.Module, decay: float = EMA_DECAY, *, start_step: int = 0):
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 <= decay < 1.0:
            raise GanlibError(f"decay must be a number in [0, 1), got {decay!r}")
        if isinstance(start_step, bool) or not isinstance(start_step, int) or start_step < 0:
            raise GanlibError(f"start_step must be a non-negative integer, got {start_step!r}")
        if not isinstance(generator, nn.Module):
            raise GanlibError(f"EMA needs the generator module, got {type(generator).__name__}")
        self.source, self.decay, self.start_step = generator, float(decay), start_step
        self.generator = copy.deepcopy(generator).eval()  #: the averaged generator
        self.generator.requires_grad_(False)
        self.num_updates = 0  #: calls of update() so far
        self.num_averaged = 0  #: updates that averaged (from start_step on)

    @torch.no_grad()
    def update(self, run: Run | None = None) -> None:
        """Fold the generator's current weights into the average: a callback for :func:`ganlib.train`.

        Parameters
        ----------
        run : Run, optional
            The run (its ``step`` decides whether ``start_step`` is reached); without it, the count
            of calls so far is the step.
        """
        self.num_updates += 1
        step = run.step if run is not None else self.num_updates
        source = self._tensors(self.source)
        target = self._tensors(self.generator)
        if source.keys() != target.keys():
            raise GanlibError("the generator's parameters changed since the EMA copy was made")
        devices = {t.device for t in source.values()}
        if len(devices) == 1 and devices != {t.device for t in target.values()}:
            self.generator.to(devices.pop())  # train() moved G to its device after the copy was made
            target = self._tensors(self.generator)
        average = step >= self.start_step
        for name, value in source.items():
            avg = target[name]
            if average and avg.is_floating_point():
                avg.lerp_(value.detach(), 1.0 - self.decay)  # avg + (1 - decay) (value - avg)
            else:
                avg.copy_(value.detach())
        self.num_averaged += int(average)

    @staticmethod
    def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
        found = dict(module.named_parameters())
        found.update(module.named_buffers())
        return found


def callbacks(*fns: Callable[[Run], None] | None) -> Callable[[Run], None]:
    """One training callback that calls each of ``fns`` in order (``None`` entries are skipped).

    Example: ``train(..., callback=callbacks(ema.update, noise.anneal))``.
    """
    fns = tuple(f for f in fns if f is not None)
    for f in fns:
        if not callable(f):
            raise GanlibError(f"callbacks() takes functions of the run, got {type(f).__name__}")

    def call_all(run: Run) -> None:
        for f in fns:
            f(run)

    return call_all

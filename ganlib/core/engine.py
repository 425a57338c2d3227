"""The training engine: one loop for every variant, Algorithm 1 of Goodfellow et al. (2014).

For every generator update, ``d_steps`` (k) discriminator updates, then one generator update. What an
update *is* comes from the variant, as a :class:`Steps`: the plain GAN's ``d_step`` and ``g_step``
(:mod:`ganlib.core.train`), InfoGAN's steps with the mutual-information term, CycleGAN's pair of
translators, the VAE's single ELBO step. The loop around them is the same for all, and so is everything
it gives them: the progress bar, the history (a row of means every ``log_every`` steps), the roll-back to
the last finite row when a loss turns NaN, snapshots at fixed noise, evaluation and stop-on-target, the
callback (checkpoints), the learning-rate decay and stopping on a signal.

Holds :class:`Steps` and :func:`fit`; ``_Recorder`` keeps the bookkeeping out of the loop.
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .config import TrainConfig
from .run import Run, TrainingDiverged, sample, set_learning_rates
from .stopping import stop_check

__all__ = ["Steps", "fit", "PROGRESS_OFF_ENV"]

Update = Callable[..., dict[str, torch.Tensor]]


@dataclass
class Steps:
    """What a variant gives the engine.

    ``update_d(j)`` makes the j-th discriminator update of a step and ``update_g(d_out)`` the generator
    update (``d_out``: what the last D update returned, for a G step that reuses its fakes). Each draws
    its own batch from the run's random stream and returns 0-d tensors; those named in ``logged`` are
    averaged into the history. A variant without a discriminator (the VAE) has ``update_d=None``.
    """

    update_d: Update | None
    update_g: Update
    logged: tuple[str, ...] = ("d_loss", "g_loss", "d_real", "d_fake")


def fit(run: Run, steps: Steps, *, callback: Callable[[Run], None] | None = None,
        evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
        stop_when: Callable[[dict[str, float]], bool] | None = None) -> Run:
    """Train ``run`` for ``run.config.num_steps`` generator updates with the variant's ``steps``.

    See :func:`ganlib.train` for ``callback``, ``evaluate`` and ``stop_when``, and for what happens on a
    NaN (:class:`~ganlib.core.run.TrainingDiverged`), an interrupt or a signal.
    """
    config = run.config
    k = config.d_steps if steps.update_d is not None else 0
    record = _Recorder(run, steps.logged, callback, evaluate, stop_when)
    stop = stop_check(run.device)
    with record:
        for _ in range(config.num_steps):
            run.stopped_by = stop()
            if run.stopped_by:
                break
            if config.lr_decay.end and run.step >= config.lr_decay.start:
                set_learning_rates(run)
            d_out = {}
            for j in range(k):  # (1) update D, k times
                d_out = steps.update_d(j)
            g_out = steps.update_g(d_out)  # (2) update G
            run.step += 1
            if record.after_step({**d_out, **g_out}):  # True once the target is met
                break
    return run


# tqdm's own switch. tqdm.auto's notebook widget ignores it (it passes ``disable`` itself), and a widget
# executed by the book's build would stay on the page as frozen text ("training: 0%|"), so it is read here.
PROGRESS_OFF_ENV = "TQDM_DISABLE"


def _progress_bar(config: TrainConfig):
    """A tqdm bar over the run's steps, or None: with ``config.progress`` off, or ``TQDM_DISABLE`` set
    to anything but ``""``, ``0``, ``false``, ``no`` or ``off`` (``make book`` sets it)."""
    switched_off = os.environ.get(PROGRESS_OFF_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")
    if not config.progress or switched_off:
        return None
    from tqdm.auto import tqdm  # a widget in notebooks, text in a terminal

    return tqdm(total=config.num_steps, desc="training", unit="step", leave=False)


class _Recorder:
    """The loop's bookkeeping: timing, history rows, roll-back, snapshots, evaluations, progress."""

    def __init__(self, run: Run, logged: tuple[str, ...], callback, evaluate, stop_when):
        self.run, self.logged, self.callback = run, logged, callback
        self.evaluate, self.stop_when = evaluate, stop_when
        for key in logged:  # rows logged before (by another variant's steps) have no value for a new key
            run.history.setdefault(key, [math.nan] * len(run.history["step"]))
        self.totals = torch.zeros(len(logged), device=run.device)  # running sums, on the device
        self.rows = 0
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.bar = _progress_bar(run.config) if not distributed or torch.distributed.get_rank() == 0 else None

    def __enter__(self):
        self.players = [m for m in (self.run.generator, self.run.discriminator) if m is not None]
        for module in self.players:
            module.train()
        self.last_good = self._remember()  # where a diverging run is rolled back to
        self.start = time.perf_counter() - self.run.seconds
        self.run.stopped_by = None
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        run = self.run
        if kind is KeyboardInterrupt:
            run.stopped_by = "SIGINT"
            warnings.warn(f"training interrupted at step {run.step}; returning the run so far", stacklevel=3)
        run.seconds = time.perf_counter() - self.start
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        for module in self.players:
            module.train()
        if kind is not None and kind is not KeyboardInterrupt:
            return False
        if self.rows:
            self._log()
        done = run.evaluations and run.evaluations[-1]["step"] == run.step
        if self.evaluate is not None and not run.stopped_by and not done:
            self._measure()  # the final state is always measured
        return kind is KeyboardInterrupt

    def after_step(self, out: dict[str, torch.Tensor]) -> bool:
        run, config = self.run, self.run.config
        self.totals += torch.stack([out[key].float() for key in self.logged])  # no host sync
        self.rows += 1
        if self.bar is not None:
            self.bar.update(1)
        if config.snapshot_every and run.fixed_z is not None and run.step % config.snapshot_every == 0:
            run.snapshots.append((run.step, sample(run.generator, len(run.fixed_z), z=run.fixed_z)))
        if run.step % config.log_every == 0:
            self._log()
            self.last_good = self._remember()
        if self.callback is not None:
            self.callback(run)
        if config.eval_every and run.step % config.eval_every == 0:
            self._measure()
            if self.stop_when is not None and self.stop_when(run.evaluations[-1]):
                run.target_met = True
                return True
        return False

    def _measure(self) -> None:
        """Append ``evaluate(generator)`` to the evaluations; the time it takes is not training time."""
        run = self.run
        run.seconds = time.perf_counter() - self.start
        tick = time.perf_counter()
        metrics = self.evaluate(run.generator)
        run.generator.train()
        run.evaluations.append({"step": run.step, "seconds": run.seconds, **{k: float(v) for k, v in metrics.items()}})
        self.start += time.perf_counter() - tick

    def _log(self) -> None:
        run, totals = self.run, self.totals
        run.seconds = time.perf_counter() - self.start
        if torch.distributed.is_available() and torch.distributed.is_initialized():  # all ranks alike
            torch.distributed.all_reduce(totals)  # sums over the ranks (gloo has no average)
            totals /= torch.distributed.get_world_size()
        means = (totals / self.rows).tolist()  # the one host sync, once per log interval
        totals.zero_()
        self.rows = 0
        if not all(math.isfinite(m) for m in means):
            self._roll_back()
        row = dict(zip(self.logged, means), step=run.step, seconds=run.seconds)
        for key, values in run.history.items():
            values.append(float(row.get(key, math.nan)))
        if self.bar is not None and len(means) > 1:
            self.bar.set_postfix({key: f"{value:.3f}" for key, value in list(zip(self.logged, means))[:2]},
                                 refresh=False)

    def _remember(self) -> dict:
        """A copy of everything a step changes, taken at each finite history row (a few MB at most)."""
        run = self.run
        state = {name: copy.deepcopy(getattr(run, name).state_dict())
                 for name in ("generator", "discriminator", "opt_g", "opt_d") if getattr(run, name) is not None}
        return {"state": state, "rng": run.rng.get_state(), "step": run.step, "seconds": run.seconds,
                "rows": len(run.history["step"]), "snapshots": len(run.snapshots), "evals": len(run.evaluations)}

    def _roll_back(self):
        run, good = self.run, self.last_good
        bad_step = run.step
        for name, state in good["state"].items():
            getattr(run, name).load_state_dict(state)
        run.rng.set_state(good["rng"])
        run.step, run.seconds = good["step"], good["seconds"]
        for values in run.history.values():
            del values[good["rows"]:]
        del run.snapshots[good["snapshots"]:]
        del run.evaluations[good["evals"]:]
        self.start = time.perf_counter() - run.seconds
        raise TrainingDiverged(f"the losses became NaN or infinite between steps {good['step']} and {bad_step}; "
                               f"the models and optimizers are back at step {run.step}, the last finite one "
                               "(try a smaller learning rate, or another loss)")

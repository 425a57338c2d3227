"""The "GAN doctor": read a training history and name what most likely went wrong.

Holds :func:`diagnose` and the :class:`Diagnosis` it returns. It reads numbers only (a
:class:`ganlib.Run`, or the dict the CLI writes to ``history.json``); it trains nothing and draws
nothing (plots are in :mod:`ganlib.eval.viz`). The rules look at the last third of training, where a run
has either settled or not; every threshold is a named constant below with the reason for its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..core.losses import LOSSES
from ..core.run import HISTORY_KEYS, Run
from ..core.utils import GanlibError

__all__ = ["diagnose", "Diagnosis", "SEE"]

MIN_ROWS = 6            # fewer history rows than this cannot show a trend (the last third would be 1 row)
D_REAL_HIGH = 0.99      # mean D(x) at or above this, with D(G(z)) at or below D_FAKE_LOW, is a D that has
D_FAKE_LOW = 0.01       # won: its BCE loss is <= ~0.02 and its verdict on every fake is a constant "fake"
SATURATION_G_LOSS = 0.01  # |minimax G loss| = |E log(1 - D(G(z)))| below this: flat at log 1 = 0, no gradient
MODE_SHARE_LOW = 0.25   # 2-D toys: a quarter of the modes or fewer (2 of 8, 6 of 25) is a collapse
REVERSE_KL_HIGH = 0.75  # ... or KL(p_hat || uniform) >= 0.75 log K: fewer than K^0.25 modes' worth of mass
MIN_CLASS_SHARE = 0.02  # MNIST: a digit at a fifth of its fair share (0.1) or less is all but dropped
OSCILLATION_STD = 0.05  # std of detrended D(G(z)) over the last third: healthy runs stay < 0.01
OSCILLATION_SWINGS = 3  # ... and it must cross its trend line this often: a swing, not one jump
HEALTHY_BAND = (0.2, 0.8)  # D(x) and D(G(z)) both inside: D is neither fooled nor sure
GOOD_MODE_SHARE = 0.5   # 2-D toys: half the modes or more hit counts as good (with improving metrics)

_CH7 = "Chapter 7 (Training pitfalls: what the failures look like), section "
#: Where the book explains each finding, by section number, title and MyST label.
SEE = {
    "diverged": _CH7 + "7.7 'Divergence: NaN losses' (ch07-divergence)",
    "saturation": ("Chapter 4 (Loss functions), section 4.4 'The generator's loss: minimax or non-saturating'; "
                   + _CH7 + "7.3 'Saturation' (ch07-saturation)"),
    "d_overpowering": _CH7 + "7.4 'The discriminator overpowers the generator' (ch07-d-overpowering)",
    "mode_collapse": _CH7 + "7.5 'Mode collapse' (ch07-mode-collapse)",
    "oscillation": _CH7 + "7.2 'Oscillation: the Dirac-GAN' (ch07-oscillation)",
    "too_short": _CH7 + "7.1 'Reading the training curves' (ch07-curves)",
    "no_progress": _CH7 + "7.1 'Reading the training curves' (ch07-curves)",
    "healthy": _CH7 + "7.1 'Reading the training curves' (ch07-curves)",
}
_SEVERITY = ("diverged", "saturation", "d_overpowering", "mode_collapse", "oscillation")


@dataclass(frozen=True)
class Diagnosis:
    """One finding: its ``name``, the numbers behind it, a friendly paragraph and where to read on."""

    name: str                   # one of SEE's keys
    evidence: dict[str, Any]    # the numbers that triggered it
    message: str                # one paragraph for the reader
    see: str                    # the book section that explains it
    all_findings: tuple = field(default=(), repr=False, compare=False)  # every finding, most severe first

    def __str__(self) -> str:
        numbers = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.evidence.items())
        return f"{self.name}: {self.message} [{numbers}] See {self.see}."

    def _repr_markdown_(self) -> str:
        rows = "\n".join(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                         for k, v in self.evidence.items())
        return f"**{self.name}**: {self.message}\n\n| evidence | value |\n|---|---|\n{rows}\n\n*See {self.see}.*"


def diagnose(run_or_history, *, loss: str = "ns") -> Diagnosis:
    """Name the most likely pathology of a training run, with its evidence.

    Parameters
    ----------
    run_or_history : Run or dict
        A :class:`ganlib.Run`, or the dict of ``history.json``: lists ``step``, ``d_loss``, ``g_loss``,
        ``d_real`` (mean D(x)), ``d_fake`` (mean D(G(z))), ``seconds``, and optionally
        ``"evaluations"`` (dicts from :func:`ganlib.eval.quality.evaluator`).
    loss : str
        The loss the run used (a name in ``ganlib.LOSSES``); a Run's own config wins. Saturation is
        only possible with ``"minimax"``.

    Returns
    -------
    Diagnosis
        The most severe finding; ``.all_findings`` lists every one that holds, most severe first.
    """
    history, evaluations, loss = _read(run_or_history, loss)
    found = _findings(history, evaluations, loss)
    return Diagnosis(found[0].name, found[0].evidence, found[0].message, found[0].see, tuple(found))


def _finding(name: str, message: str, **evidence) -> Diagnosis:
    return Diagnosis(name, {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in evidence.items()},
                     message, SEE[name])


def _findings(h: dict[str, np.ndarray], evals: list[dict], loss: str) -> list[Diagnosis]:
    n = len(h["step"])
    for i in range(n):
        bad = [k for k in HISTORY_KEYS if not math.isfinite(h[k][i])]
        if bad:
            return [_finding("diverged", f"{', '.join(bad)} became NaN or infinite at step {h['step'][i]:g}: the "
                             "weights blew up. Lower the learning rates, or use a bounded loss.",
                             step=h["step"][i], keys=",".join(bad), rows=n)]
    if n < MIN_ROWS:
        return [_finding("too_short", f"only {n} history rows: too few to see a trend. Train longer, or log "
                         "more often (a smaller log_every).", rows=n, min_rows=MIN_ROWS)]
    tail = slice(n - n // 3, None)  # the last third, where a run has settled or not
    d_real, d_fake = float(h["d_real"][tail].mean()), float(h["d_fake"][tail].mean())
    g_loss = h["g_loss"][tail]
    found = []
    overpowering = d_real >= D_REAL_HIGH and d_fake <= D_FAKE_LOW
    if loss == "minimax" and d_fake <= D_FAKE_LOW and abs(float(g_loss.mean())) <= SATURATION_G_LOSS:
        found.append(_finding("saturation", "D rejects the fakes and the minimax generator loss log(1 - D(G(z))) "
                              "sits flat at log 1 = 0: its gradient vanishes, so G has stopped learning. Use the "
                              "non-saturating loss (loss='ns').", d_fake=d_fake, g_loss_mean=g_loss.mean(),
                              g_loss_std=g_loss.std()))
    if overpowering:
        found.append(_finding("d_overpowering", "D tells real from fake almost perfectly: D(x) is near 1 and "
                              "D(G(z)) near 0, so G gets no useful signal. Weaken D (lower lr_d, fewer d_steps, "
                              "a smaller network) or strengthen G.", d_real=d_real, d_fake=d_fake))
    collapse = _collapse_evidence(evals[-1]) if evals else None
    if collapse is not None:
        found.append(_finding("mode_collapse", "the samples cover only a few of the data's modes: G maps much of z "
                              "to the few outputs that currently fool D. Try TTUR with a gentler D, minibatch "
                              "discrimination, packing or unrolling.", **collapse, d_real=d_real, d_fake=d_fake))
    trend = h["d_fake"][tail] - np.polyval(np.polyfit(np.arange(n // 3), h["d_fake"][tail], 1), np.arange(n // 3))
    swings = int(np.sum(np.diff(np.sign(trend)) != 0))
    if not overpowering and trend.std() >= OSCILLATION_STD and swings >= OSCILLATION_SWINGS:
        found.append(_finding("oscillation", "D(G(z)) keeps swinging with a large amplitude instead of settling: "
                              "the two players overshoot each other. Lower both learning rates or Adam's beta1, or add the "
                              "R1 penalty (loss='ns-r1').",
                              d_fake_std=trend.std(), swings=swings, d_fake=d_fake))
    if found:
        return sorted(found, key=lambda f: _SEVERITY.index(f.name))
    quality_ok = not evals or _good(evals[-1]) or _improved(evals[0], evals[-1])
    lo, hi = HEALTHY_BAND
    evidence = dict(d_real=d_real, d_fake=d_fake, **({"last_" + k: v for k, v in evals[-1].items()} if evals else {}))
    if quality_ok and lo <= d_fake <= hi and lo <= d_real <= hi:
        return [_finding("healthy", "no pathology: D is unsure (D(x) and D(G(z)) both moderate) and the measured "
                         "quality is good or improving. Keep training, or stop when a target is met.", **evidence)]
    reasons = []
    if not (lo <= d_fake <= hi and lo <= d_real <= hi):
        reasons.append(f"D(x) = {d_real:.2f} and D(G(z)) = {d_fake:.2f} are not both inside the healthy band "
                       f"{lo:g} to {hi:g}")
    if not quality_ok:
        reasons.append("the measured quality is not improving")
    return [_finding("no_progress", "no named pathology, but not a healthy run either: " + " and ".join(reasons)
                     + ". Train longer or compare learning rates.", **evidence)]


def _collapse_evidence(e: dict) -> dict | None:
    if "modes" in e and "total_modes" in e and e["modes"] >= 1:  # 0 modes: nothing to collapse onto yet
        share = e["modes"] / e["total_modes"]
        kl_share = e.get("reverse_kl", 0.0) / math.log(e["total_modes"])
        if share <= MODE_SHARE_LOW or kl_share >= REVERSE_KL_HIGH:
            return dict(modes=e["modes"], total_modes=e["total_modes"], reverse_kl=e.get("reverse_kl", math.nan))
    if "class_coverage" in e and (e["class_coverage"] < 1.0 or e.get("min_class_share", 1.0) <= MIN_CLASS_SHARE):
        return dict(class_coverage=e["class_coverage"], min_class_share=e.get("min_class_share", math.nan))
    return None


def _good(e: dict) -> bool:
    if "modes" in e and "total_modes" in e:
        return e["modes"] / e["total_modes"] >= GOOD_MODE_SHARE
    return e.get("class_coverage", 0.0) >= 1.0


def _improved(first: dict, last: dict) -> bool:
    for key, better in (("modes", 1), ("reverse_kl", -1), ("fid", -1), ("confident_fraction", 1)):
        if key in first and key in last and better * (last[key] - first[key]) > 0:
            return True
    return False


def _read(obj, loss: str) -> tuple[dict[str, np.ndarray], list[dict], str]:
    """Check and convert the input; every problem is one GanlibError naming what was expected."""
    if isinstance(obj, Run):
        loss = obj.config.loss  # the run knows its own loss
        obj = {**obj.history, "evaluations": obj.evaluations}
    if not isinstance(obj, Mapping):
        raise GanlibError(f"diagnose() needs a Run or a history dict (history.json), got {type(obj).__name__}")
    if loss not in LOSSES:
        raise GanlibError(f"unknown loss {loss!r}; expected one of {tuple(LOSSES)}")
    missing = [k for k in HISTORY_KEYS if k not in obj]
    if missing:
        raise GanlibError(f"the history lacks {missing}; expected lists {list(HISTORY_KEYS)} as in Run.history")
    history = {}
    for key in HISTORY_KEYS:
        values = obj[key]
        if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__"):
            raise GanlibError(f"history[{key!r}] must be a list of numbers, got {type(values).__name__}")
        if any(isinstance(v, bool) or not (v is None or isinstance(v, (int, float, np.number))) for v in values):
            raise GanlibError(f"history[{key!r}] must hold only numbers (null/NaN marks a diverged row)")
        history[key] = np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    lengths = {len(v) for v in history.values()}
    if len(lengths) != 1:
        raise GanlibError(f"the history's lists differ in length: {({k: len(v) for k, v in history.items()})}")
    if lengths == {0}:
        raise GanlibError("the history is empty: train for at least log_every steps before diagnosing")
    evaluations = obj.get("evaluations") or []
    if not isinstance(evaluations, (list, tuple)) or not all(
            isinstance(e, Mapping) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                           for v in e.values()) for e in evaluations):
        raise GanlibError("history['evaluations'] must be a list of dicts of numbers (Run.evaluations)")
    return history, [dict(e) for e in evaluations], loss

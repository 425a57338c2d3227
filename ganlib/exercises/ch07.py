"""Checkers of chapter 7: D's loss with one-sided label smoothing (ex-7-3) and one EMA step of G (ex-7-4)."""

from __future__ import annotations

from ._common import CheckResult, _as_float, _checker, _require_callable, _run

__all__ = ["ex_7_3", "ex_7_4"]


def _smooth_d_loss_compare(d_real, d_fake, real_label: float):
    """Compare a reader's smoothed D loss with the reference; name the two classic slips."""
    import torch.nn.functional as F

    two_sided = float((real_label * F.softplus(-d_real) + (1 - real_label) * F.softplus(d_real)).mean()
                      + ((1 - real_label) * F.softplus(-d_fake) + real_label * F.softplus(d_fake)).mean())
    scaled = float(real_label * F.softplus(-d_real).mean() + F.softplus(d_fake).mean())

    def compare(got, expected):
        value = _as_float(got)
        if value is None:
            return f"expected one number (a 0-d tensor), got {type(got).__name__}"
        if value != value or abs(value) == float("inf"):
            return f"got {value}, expected {expected:.6f}: compute log(sigmoid(l)) as -softplus(-l)"
        tol = 1e-4 * max(1.0, abs(expected))
        if abs(value - expected) <= tol:
            return None
        if real_label < 1 and abs(value - two_sided) <= tol:
            return (f"got {value:.6f}, expected {expected:.6f}: that is two-sided smoothing (fakes at "
                    f"{1 - real_label:g}); keep the fakes' target at 0")
        if real_label < 1 and abs(value - scaled) <= tol:
            return (f"got {value:.6f}, expected {expected:.6f}: that scales the real term by {real_label:g} "
                    "instead of using the soft target")
        return f"got {value:.6f}, expected {expected:.6f}"

    return compare


@_checker("ex-7-3")
def ex_7_3(d_loss_smooth) -> CheckResult:
    """Check ``d_loss_smooth(d_real, d_fake, real_label)``: D's BCE from logits with one-sided label smoothing.

    The target is ``real_label`` for real data and 0 for fakes; each batch is averaged, then the two
    terms are added. The reference is :func:`ganlib.losses.d_loss_bce_smooth`.
    """
    import torch

    from ..core.losses import d_loss_bce_smooth

    label = "ex-7-3"
    _require_callable(label, d_loss_smooth)
    rng = torch.Generator().manual_seed(7)
    cases = []
    for description, d_real, d_fake, real_label in (
            ("random logits, real_label 0.9", torch.randn(64, generator=rng), torch.randn(64, generator=rng), 0.9),
            ("unequal batch sizes, real_label 0.8", torch.randn(8, generator=rng), torch.randn(24, generator=rng), 0.8),
            ("real_label 1 (no smoothing)", torch.randn(32, generator=rng), torch.randn(32, generator=rng), 1.0),
            ("a confident D (logits ±30), real_label 0.9", torch.full((16,), 30.0), torch.full((16,), -30.0), 0.9),
            ("a badly wrong D (logits ∓200), real_label 0.9", torch.full((16,), -200.0), torch.full((16,), 200.0), 0.9)):
        expected = float(d_loss_bce_smooth(d_real, d_fake, real_label=real_label))
        cases.append((description, (d_real.clone(), d_fake.clone(), real_label), expected,
                      _smooth_d_loss_compare(d_real, d_fake, real_label)))
    return _run(label, d_loss_smooth, cases,
                "the real term is the cross-entropy with target a: a*softplus(-l) + (1 - a)*softplus(l); the "
                "fake term keeps target 0: softplus(l); average each batch, then add")


def _ema_case(seed: int):
    """A small generator with BatchNorm, and an averaged copy whose weights and statistics differ from it."""
    import copy

    import torch
    from torch import nn

    torch.manual_seed(seed)
    generator = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.LeakyReLU(0.2), nn.Linear(5, 2))
    averaged = copy.deepcopy(generator)
    rng = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        generator(torch.randn(16, 3, generator=rng))          # moves the running statistics and the counter
        generator(torch.randn(16, 3, generator=rng))
        averaged(torch.randn(16, 3, generator=rng) * 2 + 1)
        for p in generator.parameters():
            p.add_(torch.randn(p.shape, generator=rng))
    return generator, averaged


def _ema_reference(generator, averaged, decay: float) -> dict:
    """The averaged copy's state after one ``ganlib.remedies.EMA`` update from ``averaged``."""
    from ..variants.remedies import EMA

    ema = EMA(generator, decay)
    ema.generator.load_state_dict(averaged.state_dict())
    ema.update()
    return {k: v.clone() for k, v in ema.generator.state_dict().items()}


def _ema_gap(state: dict, expected: dict) -> list:
    """Names of the entries of ``state`` that differ from ``expected``."""
    import torch

    return [k for k, v in expected.items()
            if not torch.allclose(state[k].double(), v.double(), rtol=1e-5, atol=1e-6)]


@_checker("ex-7-4")
def ex_7_4(ema_update) -> CheckResult:
    """Check ``ema_update(ema_generator, generator, decay)``: one in-place EMA step of G's weights and buffers.

    Float parameters and buffers become ``decay * average + (1 - decay) * current``, integer buffers
    are copied, ``generator`` is unchanged. The reference is one update of ``ganlib.remedies.EMA``.
    """
    import torch

    label = "ex-7-4"
    _require_callable(label, ema_update)
    hint = ("for every parameter *and* buffer: float ones become decay * average + (1 - decay) * current "
            "(in place, e.g. avg.lerp_(cur, 1 - decay)), integer ones are copied; return nothing")
    for seed, decay in ((0, 0.9), (1, 0.99), (2, 0.0), (3, 0.7)):
        generator, averaged = _ema_case(seed)
        expected = _ema_reference(generator, averaged, decay)
        swapped = _ema_reference(generator, averaged, 1.0 - decay) if 0.0 < decay < 1.0 else None
        before_g = {k: v.clone() for k, v in generator.state_dict().items()}
        before_avg = {k: v.clone() for k, v in averaged.state_dict().items()}
        description = f"decay {decay:g}"
        try:
            with torch.no_grad():
                ema_update(averaged, generator, decay)
        except Exception as error:  # the reader's code failing is a result, not a crash
            return CheckResult(label, False, f"{description}: your code raised {type(error).__name__}: {error}", hint)
        if _ema_gap(generator.state_dict(), before_g):
            return CheckResult(label, False, f"{description}: the generator itself was changed", hint)
        state = averaged.state_dict()
        wrong = _ema_gap(state, expected)
        if not wrong:
            continue
        if not _ema_gap(state, before_avg):
            message = "the averaged copy did not change: update its tensors in place"
        elif swapped is not None and not _ema_gap(state, swapped):
            message = "decay weighs the new weights, not the average: average = decay * average + (1 - decay) * current"
        elif all("running" in k or "num_batches" in k for k in wrong):
            message = f"the BatchNorm buffers were not updated ({', '.join(wrong)})"
        else:
            message = f"these entries differ from the reference: {', '.join(wrong)}"
        return CheckResult(label, False, f"{description}: {message}", hint)
    return CheckResult(label, True, "4 cases agree with the reference")

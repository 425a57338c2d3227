"""Tests of the exercise checkers of chapter 7: the reference answers pass, plausible wrong answers fail
with a message that names the slip, and an answer that raises is reported, never re-raised."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganlib import exercises
from ganlib.core.utils import GanlibError


# --- ex-7-3: one-sided label smoothing ----------------------------------------------------------------

def smooth_reference(d_real, d_fake, real_label=0.9):
    real = real_label * F.softplus(-d_real) + (1 - real_label) * F.softplus(d_real)
    return real.mean() + F.softplus(d_fake).mean()


def smooth_with_bce(d_real, d_fake, real_label=0.9):
    """Another correct answer, through PyTorch's BCE with logits and a soft target."""
    return (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_label))
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))


def smooth_two_sided(d_real, d_fake, real_label=0.9):
    """Wrong: the fakes' target is smoothed too (1 - real_label)."""
    fake = (1 - real_label) * F.softplus(-d_fake) + real_label * F.softplus(d_fake)
    return (real_label * F.softplus(-d_real) + (1 - real_label) * F.softplus(d_real)).mean() + fake.mean()


def smooth_scaled(d_real, d_fake, real_label=0.9):
    """Wrong: multiplies the real term by real_label instead of using a soft target."""
    return real_label * F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def smooth_unstable(d_real, d_fake, real_label=0.9):
    """Wrong for large logits: log(sigmoid) underflows to log(0)."""
    p_real, p_fake = torch.sigmoid(d_real), torch.sigmoid(d_fake)
    real = -(real_label * torch.log(p_real) + (1 - real_label) * torch.log(1 - p_real))
    return real.mean() - torch.log(1 - p_fake).mean()


def smooth_ignores_label(d_real, d_fake, real_label=0.9):
    """Wrong: plain BCE (no smoothing at all)."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def _stub(*args):
    raise NotImplementedError("your code here")


@pytest.mark.parametrize("answer", [smooth_reference, smooth_with_bce])
def test_ex_7_3_accepts_correct_answers(answer):
    result = exercises.ex_7_3(answer)
    assert result.passed, str(result)


@pytest.mark.parametrize("wrong, words", [(smooth_two_sided, "two-sided"),
                                          (smooth_scaled, "soft target"),
                                          (smooth_unstable, "softplus"),
                                          (smooth_ignores_label, "expected")])
def test_ex_7_3_rejects_wrong_answers(wrong, words):
    result = exercises.ex_7_3(wrong)
    assert not result.passed and words in result.message and result.hint, str(result)


# --- ex-7-4: EMA of the generator's weights -------------------------------------------------------------

@torch.no_grad()
def ema_reference(ema_generator, generator, decay):
    current = dict(generator.named_parameters()) | dict(generator.named_buffers())
    averaged = dict(ema_generator.named_parameters()) | dict(ema_generator.named_buffers())
    for name, value in current.items():
        if value.is_floating_point():
            averaged[name].mul_(decay).add_(value, alpha=1 - decay)
        else:
            averaged[name].copy_(value)


@torch.no_grad()
def ema_with_state_dicts(ema_generator, generator, decay):
    """Another correct answer: state_dict() tensors share storage with the modules."""
    current = generator.state_dict()
    for name, avg in ema_generator.state_dict().items():
        if avg.is_floating_point():
            avg.lerp_(current[name], 1 - decay)
        else:
            avg.copy_(current[name])


@torch.no_grad()
def ema_swapped(ema_generator, generator, decay):
    """Wrong: decay weighs the new weights."""
    ema_reference(ema_generator, generator, 1 - decay)


@torch.no_grad()
def ema_parameters_only(ema_generator, generator, decay):
    """Wrong: BatchNorm's running statistics are left behind."""
    for avg, cur in zip(ema_generator.parameters(), generator.parameters()):
        avg.mul_(decay).add_(cur, alpha=1 - decay)


def ema_not_in_place(ema_generator, generator, decay):
    """Wrong: builds new tensors and drops them (nothing changes)."""
    return {name: decay * avg + (1 - decay) * cur for (name, avg), cur in
            zip(ema_generator.state_dict().items(), generator.state_dict().values()) if avg.is_floating_point()}


@torch.no_grad()
def ema_moves_generator(ema_generator, generator, decay):
    """Wrong: averages both ways, so G changes too."""
    ema_reference(ema_generator, generator, decay)
    for cur, avg in zip(generator.parameters(), ema_generator.parameters()):
        cur.copy_(avg)


@pytest.mark.parametrize("answer", [ema_reference, ema_with_state_dicts])
def test_ex_7_4_accepts_correct_answers(answer):
    result = exercises.ex_7_4(answer)
    assert result.passed, str(result)


@pytest.mark.parametrize("wrong, words", [(ema_swapped, "decay weighs the new weights"),
                                          (ema_parameters_only, "BatchNorm buffers"),
                                          (ema_not_in_place, "did not change"),
                                          (ema_moves_generator, "generator itself")])
def test_ex_7_4_rejects_wrong_answers(wrong, words):
    result = exercises.ex_7_4(wrong)
    assert not result.passed and words in result.message and result.hint, str(result)


# --- both ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("checker, label", [(exercises.ex_7_3, "ex-7-3"), (exercises.ex_7_4, "ex-7-4")])
def test_raising_stub_is_reported_without_raising(checker, label):
    result = checker(_stub)
    assert not result.passed and "NotImplementedError" in result.message and label in str(result)


@pytest.mark.parametrize("checker", [exercises.ex_7_3, exercises.ex_7_4])
def test_non_function_is_refused(checker):
    with pytest.raises(GanlibError, match="callable"):
        checker(42)


def test_registered():
    assert exercises.CHECKERS["ex-7-3"] is exercises.ex_7_3 and exercises.CHECKERS["ex-7-4"] is exercises.ex_7_4

"""Tests of the exercise checker of chapter 9: the reference answer passes, plausible wrong answers fail
with a message, and an answer that raises is reported, never re-raised."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from ganlib import exercises
from ganlib.core.utils import GanlibError


def kl_reference(mean, log_var):
    return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(dim=1)


def kl_with_distributions(mean, log_var):
    """Another correct answer, through torch.distributions."""
    q = Normal(mean, (0.5 * log_var).exp())
    return kl_divergence(q, Normal(torch.zeros_like(mean), torch.ones_like(mean))).sum(dim=1)


def kl_log_var_as_log_std(mean, log_var):
    """Plausible but wrong: reads log_var as log(sigma) instead of log(sigma^2)."""
    return 0.5 * (mean.pow(2) + (2 * log_var).exp() - 1 - 2 * log_var).sum(dim=1)


def kl_summed_over_batch(mean, log_var):
    """Wrong: one number for the whole batch instead of one per image."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum()


def kl_without_half(mean, log_var):
    return (mean.pow(2) + log_var.exp() - 1 - log_var).sum(dim=1)


def _stub(mean, log_var):
    raise NotImplementedError("your code here")


@pytest.mark.parametrize("answer", [kl_reference, kl_with_distributions])
def test_ex_9_1_accepts_correct_answers(answer):
    result = exercises.ex_9_1(answer)
    assert result.passed, str(result)


@pytest.mark.parametrize("wrong, words", [(kl_log_var_as_log_std, "difference"),
                                          (kl_summed_over_batch, "shape"),
                                          (kl_without_half, "difference")])
def test_ex_9_1_rejects_wrong_answers(wrong, words):
    result = exercises.ex_9_1(wrong)
    assert not result.passed and words in result.message and result.hint, str(result)


def test_ex_9_1_reports_a_raising_stub_without_raising():
    result = exercises.ex_9_1(_stub)
    assert not result.passed and "NotImplementedError" in result.message
    assert "ex-9-1" in str(result)


def test_ex_9_1_rejects_a_non_function():
    with pytest.raises(GanlibError, match="callable"):
        exercises.ex_9_1(42)


def test_ex_9_1_is_registered():
    assert exercises.CHECKERS["ex-9-1"] is exercises.ex_9_1

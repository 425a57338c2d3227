"""Tests of the exercise checker of chapter 8: the reference answer passes, plausible wrong answers fail
with a message that names the slip, and an answer that raises is reported, never re-raised."""

from __future__ import annotations

import pytest
import torch

from ganlib import exercises, image2image
from ganlib.core.utils import GanlibError


def psnr_reference(output, target):
    mse = (output - target).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(4.0 / mse)).mean()


def psnr_peak_one(output, target):
    """Plausible but wrong: the peak of [0, 1] images, not of [-1, 1] ones."""
    mse = (output - target).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse)).mean()


def psnr_pooled(output, target):
    """Plausible but wrong: one MSE over the whole batch."""
    return 10 * torch.log10(4.0 / (output - target).pow(2).mean())


def psnr_stub(output, target):
    raise NotImplementedError("write your answer here")


def test_ex_8_1_accepts_the_reference_and_the_library():
    for answer in (psnr_reference, image2image.psnr):
        result = exercises.ex_8_1(answer)
        assert result.passed, str(result)


@pytest.mark.parametrize("wrong, words", [(psnr_peak_one, "peak"), (psnr_pooled, "pooled MSE")])
def test_ex_8_1_rejects_wrong_answers_and_names_the_slip(wrong, words):
    result = exercises.ex_8_1(wrong)
    assert not result.passed and words in result.message, str(result)
    assert "hint" in str(result)


def test_ex_8_1_reports_a_raising_answer():
    result = exercises.ex_8_1(psnr_stub)
    assert not result.passed and "NotImplementedError" in result.message


def test_ex_8_1_rejects_a_non_callable():
    with pytest.raises(GanlibError, match="callable"):
        exercises.ex_8_1(3.0)


def test_ex_8_1_is_registered():
    assert exercises.CHECKERS["ex-8-1"] is exercises.ex_8_1

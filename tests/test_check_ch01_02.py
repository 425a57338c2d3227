"""Tests of the chapter 1 and 2 exercise checkers: the reference answer passes, wrong answers fail, none raises."""

from __future__ import annotations

import pytest
import torch

from ganlib import exercises
from ganlib.exercises import CHECKERS, CheckResult


# --- reference solutions (as in the chapters' hidden solutions) ------------------------------------

def d_accuracy(discriminator, x_real, x_fake):
    with torch.no_grad():
        correct = (discriminator(x_real) > 0).sum() + (discriminator(x_fake) <= 0).sum()
    return float(correct) / (len(x_real) + len(x_fake))


def surface(discriminator, lim, resolution):
    ticks = torch.linspace(-lim, lim, resolution)
    gy, gx = torch.meshgrid(ticks, ticks, indexing="ij")
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    with torch.no_grad():
        return torch.sigmoid(discriminator(points)).reshape(resolution, resolution)


def modes_covered(points, means, radius):
    return int((torch.cdist(means, points) <= radius).any(dim=1).sum())


# --- plausible wrong answers -----------------------------------------------------------------------

def d_accuracy_threshold_half(discriminator, x_real, x_fake):  # treats logits as probabilities
    with torch.no_grad():
        correct = (discriminator(x_real) > 0.5).sum() + (discriminator(x_fake) <= 0.5).sum()
    return float(correct) / (len(x_real) + len(x_fake))


def d_accuracy_labels_swapped(discriminator, x_real, x_fake):
    return 1.0 - d_accuracy(discriminator, x_real, x_fake)


def surface_transposed(discriminator, lim, resolution):
    return surface(discriminator, lim, resolution).T


def surface_logits(discriminator, lim, resolution):
    ticks = torch.linspace(-lim, lim, resolution)
    gy, gx = torch.meshgrid(ticks, ticks, indexing="ij")
    with torch.no_grad():
        return discriminator(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)).reshape(resolution, resolution)


def modes_nearest_only(points, means, radius):  # forgets the radius: every nearest mean counts
    return len(set(torch.cdist(points, means).argmin(dim=1).tolist()))


def modes_counts_points(points, means, radius):  # counts points near a mode, not modes
    return int((torch.cdist(points, means) <= radius).any(dim=1).sum())


def raises(*args):
    raise NotImplementedError("your code here")


CASES = {
    "ex-1-2": (exercises.ex_1_2, d_accuracy, [d_accuracy_threshold_half, d_accuracy_labels_swapped]),
    "ex-2-2": (exercises.ex_2_2, surface, [surface_transposed, surface_logits]),
    "ex-2-3": (exercises.ex_2_3, modes_covered, [modes_nearest_only, modes_counts_points]),
}


def test_the_checkers_are_registered_under_their_labels():
    for label, (checker, _, _) in CASES.items():
        assert CHECKERS[label] is checker


@pytest.mark.parametrize("label", CASES)
def test_the_reference_solution_passes(label):
    checker, solution, _ = CASES[label]
    result = checker(solution)
    assert isinstance(result, CheckResult) and result.passed, str(result)
    assert str(result).startswith(f"✅ {label} passed")


@pytest.mark.parametrize("label, wrong", [(label, wrong) for label, (_, _, wrongs) in CASES.items()
                                          for wrong in wrongs],
                         ids=lambda x: getattr(x, "__name__", x))
def test_a_plausible_wrong_answer_fails_with_a_hint(label, wrong):
    checker, _, _ = CASES[label]
    result = checker(wrong)
    assert not result.passed
    assert str(result).startswith(f"❌ {label}:") and result.hint


@pytest.mark.parametrize("label", CASES)
def test_a_stub_that_raises_fails_without_raising(label):
    checker, _, _ = CASES[label]
    result = checker(raises)
    assert not result.passed
    assert "NotImplementedError" in result.message


@pytest.mark.parametrize("label", CASES)
def test_an_answer_of_the_wrong_type_fails_without_raising(label):
    checker, _, _ = CASES[label]
    result = checker(lambda *args: "not a number")
    assert not result.passed


def test_the_surface_checker_names_a_transpose():
    assert "swapped" in exercises.ex_2_2(surface_transposed).message
    assert "logits" in exercises.ex_2_2(surface_logits).message


def test_a_checker_leaves_the_global_random_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    exercises.ex_1_2(d_accuracy)
    exercises.ex_2_2(surface)
    exercises.ex_2_3(modes_covered)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("checker", [exercises.ex_1_2, exercises.ex_2_2, exercises.ex_2_3])
def test_a_non_callable_is_refused(checker):
    from ganlib.core.utils import GanlibError

    with pytest.raises(GanlibError, match="callable"):
        checker(0.5)

"""Tests of the exercise checkers of chapter 6: the reference answers pass, plausible wrong answers fail
with a message and a hint, and an answer that raises is reported, never re-raised."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganlib import exercises
from ganlib.core.utils import GanlibError


# --- ex-6-1: the WGAN-GP gradient penalty -----------------------------------------------------------

def _grad_norms(critic, x_hat, create_graph=True):
    x_hat = x_hat.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
    return grad.reshape(len(x_hat), -1).norm(dim=1)


def _mix(alpha, x_real, x_fake):
    a = alpha.view(-1, *([1] * (x_real.dim() - 1)))  # (B, 1, ...): one alpha per example
    return a * x_real + (1 - a) * x_fake


def gp_reference(critic, x_real, x_fake, alpha):
    return 10 * (_grad_norms(critic, _mix(alpha, x_real, x_fake)) - 1).pow(2).mean()


def gp_one_alpha_per_batch(critic, x_real, x_fake, alpha):
    """The classic bug: one alpha for the whole batch."""
    return gp_reference(critic, x_real, x_fake, alpha[:1].expand_as(alpha))


def gp_norm_of_the_whole_batch(critic, x_real, x_fake, alpha):
    x_hat = _mix(alpha, x_real, x_fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return 10 * (grad.norm() - 1) ** 2


def gp_without_create_graph(critic, x_real, x_fake, alpha):
    return 10 * (_grad_norms(critic, _mix(alpha, x_real, x_fake), create_graph=False) - 1).pow(2).mean()


def gp_squared_norm(critic, x_real, x_fake, alpha):
    return 10 * (_grad_norms(critic, _mix(alpha, x_real, x_fake)).pow(2) - 1).pow(2).mean()


def gp_without_lambda(critic, x_real, x_fake, alpha):
    return (_grad_norms(critic, _mix(alpha, x_real, x_fake)) - 1).pow(2).mean()


def _stub(*args):
    raise NotImplementedError("your code here")


def test_ex_6_1_accepts_the_reference():
    result = exercises.ex_6_1(gp_reference)
    assert result.passed, str(result)


@pytest.mark.parametrize("wrong, words", [(gp_one_alpha_per_batch, "expected"),
                                          (gp_norm_of_the_whole_batch, "expected"),
                                          (gp_without_create_graph, "gradient"),
                                          (gp_squared_norm, "expected"),
                                          (gp_without_lambda, "expected")])
def test_ex_6_1_rejects_wrong_answers(wrong, words):
    result = exercises.ex_6_1(wrong)
    assert not result.passed and words in result.message and result.hint, str(result)


# --- ex-6-2: the RSGAN discriminator loss -----------------------------------------------------------

def rsgan_reference(d_real, d_fake):
    return F.softplus(d_fake - d_real).mean()


def rsgan_with_logsigmoid(d_real, d_fake):
    return -F.logsigmoid(d_real - d_fake).mean()


def rsgan_is_just_bce(d_real, d_fake):
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def rsgan_against_the_mean(d_real, d_fake):
    """RaGAN-style: each real against the *mean* fake, not its pair."""
    return F.softplus(-(d_real - d_fake.mean())).mean()


def rsgan_unstable(d_real, d_fake):
    return -torch.log(torch.sigmoid(d_real - d_fake)).mean()


def rsgan_of_probabilities(d_real, d_fake):
    return -torch.log(torch.sigmoid(torch.sigmoid(d_real) - torch.sigmoid(d_fake))).mean()


@pytest.mark.parametrize("answer", [rsgan_reference, rsgan_with_logsigmoid])
def test_ex_6_2_accepts_correct_answers(answer):
    result = exercises.ex_6_2(answer)
    assert result.passed, str(result)


@pytest.mark.parametrize("wrong", [rsgan_is_just_bce, rsgan_against_the_mean, rsgan_unstable,
                                   rsgan_of_probabilities])
def test_ex_6_2_rejects_wrong_answers(wrong):
    result = exercises.ex_6_2(wrong)
    assert not result.passed and "expected" in result.message and result.hint, str(result)


# --- ex-6-3: the cycle-consistency loss -------------------------------------------------------------

def cycle_reference(g_xy, g_yx, x, y):
    return (g_yx(g_xy(x)) - x).abs().mean() + (g_xy(g_yx(y)) - y).abs().mean()


def cycle_with_l1_loss(g_xy, g_yx, x, y):
    return F.l1_loss(g_yx(g_xy(x)), x) + F.l1_loss(g_xy(g_yx(y)), y)


def cycle_one_direction(g_xy, g_yx, x, y):
    return (g_yx(g_xy(x)) - x).abs().mean()


def cycle_squared(g_xy, g_yx, x, y):
    return (g_yx(g_xy(x)) - x).pow(2).mean() + (g_xy(g_yx(y)) - y).pow(2).mean()


def cycle_summed(g_xy, g_yx, x, y):
    return (g_yx(g_xy(x)) - x).abs().sum() + (g_xy(g_yx(y)) - y).abs().sum()


def cycle_same_generator_twice(g_xy, g_yx, x, y):
    return (g_xy(g_xy(x)) - x).abs().mean() + (g_yx(g_yx(y)) - y).abs().mean()


def cycle_detached(g_xy, g_yx, x, y):
    with torch.no_grad():
        return cycle_reference(g_xy, g_yx, x, y)


@pytest.mark.parametrize("answer", [cycle_reference, cycle_with_l1_loss])
def test_ex_6_3_accepts_correct_answers(answer):
    result = exercises.ex_6_3(answer)
    assert result.passed, str(result)


@pytest.mark.parametrize("wrong, words", [(cycle_one_direction, "expected"), (cycle_squared, "expected"),
                                          (cycle_summed, "expected"), (cycle_same_generator_twice, "expected"),
                                          (cycle_detached, "gradient")])
def test_ex_6_3_rejects_wrong_answers(wrong, words):
    result = exercises.ex_6_3(wrong)
    assert not result.passed and words in result.message and result.hint, str(result)


# --- all three ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ex_6_1", "ex_6_2", "ex_6_3"])
def test_a_raising_stub_is_reported_without_raising(name):
    result = getattr(exercises, name)(_stub)
    assert not result.passed and "NotImplementedError" in result.message
    assert name.replace("_", "-") in str(result)


@pytest.mark.parametrize("name", ["ex_6_1", "ex_6_2", "ex_6_3"])
def test_a_non_function_is_rejected(name):
    with pytest.raises(GanlibError, match="callable"):
        getattr(exercises, name)(42)


@pytest.mark.parametrize("name", ["ex_6_1", "ex_6_2", "ex_6_3"])
def test_registered(name):
    assert exercises.CHECKERS[name.replace("_", "-")] is getattr(exercises, name)

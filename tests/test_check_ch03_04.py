"""Tests of the exercise checkers of chapters 3 and 4: the reference answer passes, plausible wrong
answers fail with a message, and an answer that raises is reported, never re-raised."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganlib import exercises
from ganlib.core.losses import get_loss
from ganlib.core.steps import g_step
from ganlib.core.utils import GanlibError


def _stub(*args):
    raise NotImplementedError("write your answer here")


# --- ex-3-2: a generator step that leaves D alone ---------------------------------------------------

def g_step_reference(generator, discriminator, opt_g, z):
    g_step(generator, discriminator, opt_g, z, get_loss("ns"))


def g_step_autograd_grad(generator, discriminator, opt_g, z):
    """Another correct answer: gradients with respect to G's parameters only."""
    params = list(generator.parameters())
    g_loss = F.softplus(-discriminator(generator(z))).mean()
    grads = torch.autograd.grad(g_loss, params)
    for p, g in zip(params, grads):
        p.grad = g
    opt_g.step()


def g_step_naive(generator, discriminator, opt_g, z):
    """Plausible but wrong: backward() also writes gradients into D."""
    g_loss = F.softplus(-discriminator(generator(z))).mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()


def g_step_minimax(generator, discriminator, opt_g, z):
    """Wrong loss: the minimax generator loss instead of the non-saturating one."""
    g_step(generator, discriminator, opt_g, z, get_loss("minimax"))


def g_step_left_frozen(generator, discriminator, opt_g, z):
    """Wrong: freezes D and never restores it."""
    for p in discriminator.parameters():
        p.requires_grad_(False)
    g_loss = F.softplus(-discriminator(generator(z))).mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()


def test_ex_3_2_accepts_correct_answers():
    for answer in (g_step_reference, g_step_autograd_grad):
        result = exercises.ex_3_2(answer)
        assert result.passed, str(result)


@pytest.mark.parametrize("wrong, words", [(g_step_naive, "grad"), (g_step_minimax, "G parameter"),
                                          (g_step_left_frozen, "requires_grad")])
def test_ex_3_2_rejects_wrong_answers(wrong, words):
    result = exercises.ex_3_2(wrong)
    assert not result.passed and words in result.message, str(result)


# --- ex-3-3: Algorithm 1 from scratch equals ganlib.train -------------------------------------------

def train_reference(generator, discriminator, data, config):
    """The answer of chapter 3: the same random draws, in the same order, as ganlib.train."""
    rng = torch.Generator(device=data.device).manual_seed(config.seed)
    torch.randn(config.num_fixed, generator.latent_dim, generator=rng, device=data.device)  # fixed noise
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=config.betas)
    g_loss_fn = {"ns": lambda l: F.softplus(-l).mean(), "minimax": lambda l: -F.softplus(l).mean()}[config.loss]
    for _ in range(config.num_steps):
        for _ in range(config.d_steps):
            x_real = data[torch.randint(len(data), (config.batch_size,), generator=rng, device=data.device)]
            z = torch.randn(config.batch_size, generator.latent_dim, generator=rng, device=data.device)
            d_loss = F.softplus(-discriminator(x_real)).mean() + F.softplus(discriminator(generator(z).detach())).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        z = torch.randn(config.batch_size, generator.latent_dim, generator=rng, device=data.device)
        g_loss = g_loss_fn(discriminator(generator(z)))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()


def train_without_fixed_noise(generator, discriminator, data, config):
    """Plausible but wrong: forgets that ganlib draws the fixed noise first."""
    rng = torch.Generator().manual_seed(config.seed)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=config.betas)
    for _ in range(config.num_steps):
        for _ in range(config.d_steps):
            x_real = data[torch.randint(len(data), (config.batch_size,), generator=rng)]
            z = torch.randn(config.batch_size, generator.latent_dim, generator=rng)
            d_loss = F.softplus(-discriminator(x_real)).mean() + F.softplus(discriminator(generator(z).detach())).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        z = torch.randn(config.batch_size, generator.latent_dim, generator=rng)
        g_loss = F.softplus(-discriminator(generator(z))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()


def train_one_d_step(generator, discriminator, data, config):
    """Wrong: ignores k (config.d_steps), always one D step."""
    import dataclasses

    train_reference(generator, discriminator, data, dataclasses.replace(config, d_steps=1))


def test_ex_3_3_accepts_the_reference():
    result = exercises.ex_3_3(train_reference)
    assert result.passed, str(result)


@pytest.mark.parametrize("wrong", [train_without_fixed_noise, train_one_d_step])
def test_ex_3_3_rejects_wrong_answers(wrong):
    result = exercises.ex_3_3(wrong)
    assert not result.passed and "differs from the reference" in result.message, str(result)


# --- ex-4-1: the optimal discriminator --------------------------------------------------------------

def test_ex_4_1():
    assert exercises.ex_4_1(lambda p_data, p_g: p_data / (p_data + p_g)).passed
    assert exercises.ex_4_1(lambda p_data, p_g: torch.as_tensor(p_data) / torch.as_tensor(p_data + p_g)).passed
    wrong = exercises.ex_4_1(lambda p_data, p_g: p_g / (p_data + p_g))
    assert not wrong.passed and "difference" in wrong.message and wrong.hint


# --- ex-4-2: the Jensen-Shannon divergence ----------------------------------------------------------

def jsd_reference(p, q, x):
    p, q, x = (torch.as_tensor(a, dtype=torch.float64) for a in (p, q, x))
    m = (p + q) / 2
    kl_pm = torch.trapezoid(torch.xlogy(p, p) - torch.xlogy(p, m), x)
    kl_qm = torch.trapezoid(torch.xlogy(q, q) - torch.xlogy(q, m), x)
    return float(kl_pm + kl_qm) / 2


def jsd_naive_log(p, q, x):
    """Wrong at the edges: p * log(p / m) is NaN where p = 0."""
    m = (p + q) / 2
    return 0.5 * np.trapezoid(p * np.log(p / m), x) + 0.5 * np.trapezoid(q * np.log(q / m), x)


def kl_instead(p, q, x):
    """Wrong quantity: KL(p || q), not the JSD."""
    return float(torch.trapezoid(torch.xlogy(torch.as_tensor(p), torch.as_tensor(p))
                                 - torch.xlogy(torch.as_tensor(p), torch.as_tensor(q)), torch.as_tensor(x)))


def test_ex_4_2():
    assert exercises.ex_4_2(jsd_reference).passed
    with np.errstate(divide="ignore", invalid="ignore"):
        naive = exercises.ex_4_2(jsd_naive_log)
    assert not naive.passed and "disjoint" in naive.message and "p log(p/m) is 0" in naive.message
    assert not exercises.ex_4_2(kl_instead).passed


# --- ex-4-3: D's loss from logits -------------------------------------------------------------------

def test_ex_4_3():
    assert exercises.ex_4_3(lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean()).passed
    naive = exercises.ex_4_3(lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean())
    assert not naive.passed and "overflows" in naive.message
    # the source article's L (E1): the BCE of the pooled batch, i.e. half of D's loss
    article = exercises.ex_4_3(lambda r, f: F.binary_cross_entropy_with_logits(
        torch.cat([r, f]), torch.cat([torch.ones_like(r), torch.zeros_like(f)])))
    assert not article.passed


# --- every checker: a stub that raises is a failed result, not an exception -------------------------

@pytest.mark.parametrize("name", ["ex_3_2", "ex_3_3", "ex_4_1", "ex_4_2", "ex_4_3"])
def test_a_stub_fails_without_raising(name):
    result = getattr(exercises, name)(_stub)
    assert not result.passed
    assert "NotImplementedError" in result.message and result.hint
    assert str(result).startswith("❌")


@pytest.mark.parametrize("name", ["ex_3_2", "ex_3_3", "ex_4_1", "ex_4_2", "ex_4_3"])
def test_registered_and_not_an_answer_raises(name):
    label = name.replace("_", "-")
    assert exercises.CHECKERS[label] is getattr(exercises, name)
    with pytest.raises(GanlibError):
        getattr(exercises, name)(42)


def test_checkers_leave_the_global_random_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    exercises.ex_3_2(g_step_reference)
    exercises.ex_3_3(train_reference)
    assert torch.equal(torch.rand(3), expected)

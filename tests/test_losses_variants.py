"""WGAN-GP, R1 and the relativistic losses: their formulas, the penalty's per-example interpolation,
and a short training run with each through ganlib.train (including the relativistic G step's real batch)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

import ganlib
from ganlib.core.losses import (LOSSES, d_loss_ragan, d_loss_rsgan, d_loss_wgan, g_loss_ragan, g_loss_rsgan,
                           g_loss_wgan, get_loss, gradient_penalty, r1_penalty)
from ganlib.core.utils import GanlibError


class Linear2D(nn.Module):
    """A critic D(x) = w . x with a chosen weight: its gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x):
        return x.reshape(len(x), -1) @ self.w


def _batches(n=32, dim=2):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, dim, generator=g, dtype=torch.float64), torch.randn(n, dim, generator=g, dtype=torch.float64)


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    x_real, x_fake = _batches()
    critic = Linear2D([0.6, 0.8])  # |grad| = 1 everywhere
    assert gradient_penalty(critic, x_real, x_fake).item() == pytest.approx(0.0, abs=1e-12)


def test_gradient_penalty_equals_the_formula_and_trains_the_critic():
    x_real, x_fake = _batches()
    critic = Linear2D([3.0, 4.0])  # |grad| = 5: penalty = 10 * (5 - 1)^2
    penalty = gradient_penalty(critic, x_real, x_fake)
    assert penalty.item() == pytest.approx(10 * 16)
    penalty.backward()
    # d/dw of 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w|
    torch.testing.assert_close(critic.w.grad, torch.tensor([20 * 4 * 0.6, 20 * 4 * 0.8], dtype=torch.float64))


def test_gradient_penalty_draws_one_alpha_per_example():
    seen = []

    class Recorder(nn.Module):
        def forward(self, x):
            seen.append(x.detach().clone())
            return (x ** 2).sum(dim=1)

    x_real = torch.zeros(64, 2, dtype=torch.float64)
    x_fake = torch.ones(64, 2, dtype=torch.float64)
    gradient_penalty(Recorder(), x_real, x_fake, generator=torch.Generator().manual_seed(1))
    x_hat = seen[0]                        # = 1 - alpha, per example
    assert torch.equal(x_hat[:, 0], x_hat[:, 1]), "one alpha for all coordinates of an example"
    assert x_hat[:, 0].unique().numel() == 64, "a different alpha for every example, not one per batch"
    assert 0 <= x_hat.min() and x_hat.max() <= 1


def test_gradient_penalty_is_reproducible_with_a_generator():
    x_real, x_fake = _batches()
    critic = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    f = lambda: gradient_penalty(lambda x: critic(x).squeeze(1), x_real, x_fake,
                                 generator=torch.Generator().manual_seed(3))
    assert f().item() == f().item()


def test_r1_is_half_gamma_squared_gradient_norm_on_real_data():
    x_real, _ = _batches()
    assert r1_penalty(Linear2D([3.0, 4.0]), x_real, gamma=2.0).item() == pytest.approx(25.0)


def test_wgan_and_relativistic_formulas():
    g = torch.Generator().manual_seed(0)
    r, f = torch.randn(16, generator=g, dtype=torch.float64), torch.randn(16, generator=g, dtype=torch.float64)
    sig = torch.sigmoid
    torch.testing.assert_close(d_loss_wgan(r, f), f.mean() - r.mean())
    torch.testing.assert_close(g_loss_wgan(f), -f.mean())
    torch.testing.assert_close(d_loss_rsgan(r, f), -torch.log(sig(r - f)).mean())
    torch.testing.assert_close(g_loss_rsgan(f, r), -torch.log(sig(f - r)).mean())
    torch.testing.assert_close(d_loss_ragan(r, f), -torch.log(sig(r - f.mean())).mean()
                               - torch.log(1 - sig(f - r.mean())).mean())
    torch.testing.assert_close(g_loss_ragan(f, r), -torch.log(sig(f - r.mean())).mean()
                               - torch.log(1 - sig(r - f.mean())).mean())
    # relativistic: at equal verdicts both sides are at log 2 per term
    zero = torch.zeros(4, dtype=torch.float64)
    assert d_loss_rsgan(zero, zero).item() == pytest.approx(math.log(2))


def test_the_cli_loss_names():
    assert {"ns", "minimax", "lsgan", "wgan-gp", "hinge", "rsgan", "ragan", "ns-smooth", "ns-r1"} <= set(LOSSES)
    assert get_loss("wgan-gp").penalty is not None and get_loss("rsgan").g_uses_real
    with pytest.raises(GanlibError):
        get_loss("wgan")


def test_a_relativistic_g_step_needs_real_data(make_models):
    generator, discriminator = make_models()
    opt = torch.optim.Adam(generator.parameters())
    with pytest.raises(GanlibError, match="x_real"):
        ganlib.g_step(generator, discriminator, opt, torch.randn(8, generator.latent_dim), get_loss("rsgan"))


@pytest.mark.parametrize("name", ["wgan-gp", "rsgan", "ragan", "ns-smooth", "ns-r1"])
def test_each_new_loss_trains_reproducibly_and_g_leaves_d_alone(name, make_models, ring_data, tiny_config,
                                                                 state_copy, assert_same_state):
    config = dataclasses.replace(tiny_config, loss=name)
    runs = []
    for _ in range(2):
        generator, discriminator = make_models()
        runs.append(ganlib.train(generator, discriminator, ring_data, config, device="cpu"))
    assert_same_state(state_copy(runs[0].generator), state_copy(runs[1].generator))
    assert all(math.isfinite(v) for v in runs[0].history["d_loss"] + runs[0].history["g_loss"])
    generator, discriminator = runs[0].generator, runs[0].discriminator
    before = state_copy(discriminator)
    ganlib.g_step(generator, discriminator, runs[0].opt_g, torch.randn(8, generator.latent_dim), get_loss(name),
                  x_real=ring_data[:8])
    assert_same_state(before, state_copy(discriminator))

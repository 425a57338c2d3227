"""Reference tests of ganlib.losses: each loss equals the formula in the text, computed naively.

The naive formulas (``torch.log(torch.sigmoid(l))``) are fine for moderate logits, which is where
we compare; at logits of +-100 the naive forms give inf/nan and the library must stay finite.
"""

from __future__ import annotations

import math

import pytest
import torch

from ganlib.core.losses import (LOSSES, GANLoss, d_loss_bce, d_loss_hinge, d_loss_lsgan, g_loss_hinge,
                           g_loss_lsgan, g_loss_minimax, g_loss_nonsaturating, get_loss, value)
from ganlib.core.utils import GanlibError

DTYPE = torch.float64  # reference comparisons in double precision


@pytest.fixture
def logits():
    """Moderate logits for real and fake batches of different sizes, in double precision."""
    g = torch.Generator().manual_seed(0)
    return 3 * torch.randn(16, generator=g, dtype=DTYPE), 3 * torch.randn(24, generator=g, dtype=DTYPE)


def close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# --- the BCE family ---------------------------------------------------------------------------

def test_bce_at_logit_zero_is_log2_per_term():
    zero = torch.zeros(5, dtype=DTYPE)
    close(d_loss_bce(zero, zero), torch.tensor(2 * math.log(2), dtype=DTYPE))
    close(g_loss_nonsaturating(zero), torch.tensor(math.log(2), dtype=DTYPE))
    close(g_loss_minimax(zero), torch.tensor(-math.log(2), dtype=DTYPE))
    close(value(zero, zero), torch.tensor(-2 * math.log(2), dtype=DTYPE))  # V at D = 1/2: -log 4


def test_value_is_the_formula(logits):
    d_real, d_fake = logits
    naive = torch.log(torch.sigmoid(d_real)).mean() + torch.log(1 - torch.sigmoid(d_fake)).mean()
    close(value(d_real, d_fake), naive)


def test_d_loss_bce_is_minus_value(logits):
    d_real, d_fake = logits
    close(d_loss_bce(d_real, d_fake), -value(d_real, d_fake))


def test_d_loss_bce_is_binary_cross_entropy_with_real_1_fake_0(logits):
    d_real, d_fake = logits
    bce = torch.nn.functional.binary_cross_entropy
    expected = bce(torch.sigmoid(d_real), torch.ones_like(d_real)) + bce(torch.sigmoid(d_fake), torch.zeros_like(d_fake))
    close(d_loss_bce(d_real, d_fake), expected)


def test_g_loss_minimax_is_mean_log_one_minus_d(logits):
    _, d_fake = logits
    close(g_loss_minimax(d_fake), torch.log(1 - torch.sigmoid(d_fake)).mean())


def test_g_loss_nonsaturating_is_minus_mean_log_d(logits):
    _, d_fake = logits
    close(g_loss_nonsaturating(d_fake), -torch.log(torch.sigmoid(d_fake)).mean())


@pytest.mark.parametrize("logit", [-100.0, 100.0])
def test_bce_losses_are_finite_at_extreme_logits(logit):
    l = torch.full((4,), logit, requires_grad=True)
    for loss in (d_loss_bce(l, l), value(l, l), g_loss_minimax(l), g_loss_nonsaturating(l)):
        assert torch.isfinite(loss)
        (grad,) = torch.autograd.grad(loss, l)
        assert torch.isfinite(grad).all()
    # and the right values: D rejecting a fake at logit -100 costs the NS generator 100 nats
    if logit < 0:
        torch.testing.assert_close(g_loss_nonsaturating(l), torch.tensor(100.0))
        torch.testing.assert_close(g_loss_minimax(l), torch.tensor(0.0))


def _grad_per_logit(loss_fn, l):
    l = l.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(l), l)
    return grad * len(l)  # undo the mean over the batch


def test_minimax_gradient_is_minus_sigmoid_and_vanishes_when_d_rejects_fakes():
    l = torch.linspace(-12, 12, 25, dtype=DTYPE)
    grad = _grad_per_logit(g_loss_minimax, l)
    close(grad, -torch.sigmoid(l))
    # saturation: D confidently rejects the fakes (logit -12, D(G(z)) ~ 6e-6) -> almost no signal
    assert grad[0].abs() < 1e-5


def test_nonsaturating_gradient_is_minus_one_minus_sigmoid_and_stays_strong():
    l = torch.linspace(-12, 12, 25, dtype=DTYPE)
    grad = _grad_per_logit(g_loss_nonsaturating, l)
    close(grad, -(1 - torch.sigmoid(l)))
    assert abs(grad[0].item() + 1) < 1e-5  # the strongest signal exactly where minimax has none


def test_saturation_ratio_at_a_confident_discriminator():
    l = torch.full((1,), -8.0, dtype=DTYPE)
    ratio = _grad_per_logit(g_loss_nonsaturating, l).abs() / _grad_per_logit(g_loss_minimax, l).abs()
    assert ratio.item() > 1000  # (1 - s) / s = e^8 ~ 2981


# --- LSGAN and hinge --------------------------------------------------------------------------

def test_lsgan_losses_are_the_formulas(logits):
    d_real, d_fake = logits
    close(d_loss_lsgan(d_real, d_fake), 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake ** 2).mean())
    close(g_loss_lsgan(d_fake), 0.5 * ((d_fake - 1) ** 2).mean())


def test_lsgan_hand_values():
    close(d_loss_lsgan(torch.tensor([1.0, 3.0], dtype=DTYPE), torch.tensor([0.0, 2.0], dtype=DTYPE)),
          torch.tensor(0.5 * (0 + 4) / 2 + 0.5 * (0 + 4) / 2, dtype=DTYPE))
    close(g_loss_lsgan(torch.tensor([1.0], dtype=DTYPE)), torch.tensor(0.0, dtype=DTYPE))


def test_hinge_losses_are_the_formulas(logits):
    d_real, d_fake = logits
    relu = torch.relu
    close(d_loss_hinge(d_real, d_fake), relu(1 - d_real).mean() + relu(1 + d_fake).mean())
    close(g_loss_hinge(d_fake), -d_fake.mean())


def test_hinge_hand_values():
    # real logits 2 (beyond the margin: 0) and 0 (1); fake logits -2 (0) and 0 (1): 0.5 + 0.5
    d_real = torch.tensor([2.0, 0.0], dtype=DTYPE)
    d_fake = torch.tensor([-2.0, 0.0], dtype=DTYPE)
    close(d_loss_hinge(d_real, d_fake), torch.tensor(1.0, dtype=DTYPE))
    close(g_loss_hinge(d_fake), torch.tensor(1.0, dtype=DTYPE))


# --- the registry -----------------------------------------------------------------------------

def test_losses_registry_pairs():
    assert set(LOSSES) == {"ns", "minimax", "lsgan", "hinge", "wgan-gp", "rsgan", "ragan", "ns-smooth", "ns-r1",
                           "ns-r1-0.1"}
    assert get_loss("ns") == GANLoss(d_loss_bce, g_loss_nonsaturating)
    assert get_loss("minimax") == GANLoss(d_loss_bce, g_loss_minimax)
    assert get_loss("lsgan") == GANLoss(d_loss_lsgan, g_loss_lsgan)
    assert get_loss("hinge") == GANLoss(d_loss_hinge, g_loss_hinge)


@pytest.mark.parametrize("name", ["wgan", "NS", "", "bce"])
def test_get_loss_unknown_lists_the_known(name):
    with pytest.raises(GanlibError, match="expected one of"):
        get_loss(name)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_returns_a_differentiable_scalar(name, logits):
    pair = get_loss(name)
    if pair.g_uses_real:  # relativistic losses compare real and fake examples pairwise: equal sizes
        logits = (logits[0], logits[1][:len(logits[0])])
    d_real, d_fake = (t.clone().requires_grad_(True) for t in logits)
    for loss in (pair.d(d_real, d_fake), pair.g(d_fake, d_real) if pair.g_uses_real else pair.g(d_fake)):
        assert loss.shape == ()
        loss.backward()
    assert d_real.grad is not None and d_fake.grad is not None

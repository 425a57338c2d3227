"""Tests of ganlib.vae: shapes, the analytic KL against torch.distributions and Monte Carlo, the
ELBO as a lower bound that training raises, reproducibility, and clear errors on bad input."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import ganlib
from ganlib import vae
from ganlib.core.utils import GanlibError


def _train(model, data, *, lr=1e-3, evaluate=None, stop_when=None, **config):
    """``ganlib.train`` with :class:`~ganlib.vae.VAEVariant` on the CPU (Adam's default betas, as Kingma & Welling)."""
    config = ganlib.with_changes(ganlib.TrainConfig(lr_g=lr, betas=(0.9, 0.999), progress=False), **config)
    return ganlib.train(model, None, data, config, variant=vae.VAEVariant(), device="cpu", evaluate=evaluate,
                        stop_when=stop_when)


def _digits(n: int = 32, seed: int = 0) -> torch.Tensor:
    """Random "images" in [-1, 1] with some structure (a bright square), ``(n, 1, 28, 28)``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.4 - 1
    x[:, :, 8:20, 8:20] += 1.5
    return x.clamp(-1, 1)


def test_shapes():
    model = vae.VAE(latent_dim=3, hidden=32)
    x = _digits(5)
    mean, log_var = model.encode(x)
    assert mean.shape == log_var.shape == (5, 3)
    assert model.decode(mean).shape == (5, 1, 28, 28)
    terms = vae.elbo(model, x)
    assert all(terms[k].shape == (5,) for k in ("elbo", "reconstruction", "kl"))
    torch.testing.assert_close(terms["elbo"], terms["reconstruction"] - terms["kl"])
    for images in (vae.sample(model, 7, seed=0), vae.reconstruct(model, x)):
        assert images.min() >= -1 and images.max() <= 1 and images.shape[1:] == (1, 28, 28)
    assert vae.sample(model, 7, seed=0).shape[0] == 7


def test_analytic_kl_equals_torch_and_monte_carlo():
    g = torch.Generator().manual_seed(1)
    mean, log_var = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)
    ours = vae.kl_to_standard_normal(mean, log_var)
    q, p = Normal(mean, (0.5 * log_var).exp()), Normal(torch.zeros_like(mean), torch.ones_like(mean))
    torch.testing.assert_close(ours, kl_divergence(q, p).sum(1))
    z = q.sample((200_000,))                                            # (S, 4, 6)
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    torch.testing.assert_close(ours, monte_carlo, atol=0.05, rtol=0.01)
    assert vae.kl_to_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0  # q = p


def test_training_raises_the_elbo_and_it_stays_below_the_likelihood_estimate():
    x = _digits(64)
    torch.manual_seed(0)
    model = vae.VAE(latent_dim=4, hidden=64)
    history = _train(model, x, num_steps=120, batch_size=32, lr=3e-3, seed=0, log_every=20).history
    assert set(history) == {"step", *vae.LOGGED, "seconds"}
    assert history["step"][-1] == 120 and len(history["elbo"]) == 6
    assert history["elbo"][-1] > history["elbo"][0] + 50, history["elbo"]
    with torch.no_grad():
        elbo = vae.elbo(model, x, generator=torch.Generator().manual_seed(0))["elbo"].mean()
    log_px = vae.log_likelihood(model, x, num_samples=32).mean()
    assert elbo <= log_px + 1e-3, (float(elbo), float(log_px))                 # ELBO <= log p(x), on average


def test_same_seed_same_result():
    def run():
        torch.manual_seed(0)
        model = vae.VAE(latent_dim=2, hidden=16)
        history = _train(model, _digits(16), num_steps=10, batch_size=8, seed=3, log_every=5).history
        return history["elbo"], vae.sample(model, 4, seed=1)

    (h1, s1), (h2, s2) = run(), run()
    assert h1 == h2
    torch.testing.assert_close(s1, s2, rtol=0, atol=0)


@pytest.mark.parametrize("bad, words", [
    (torch.zeros(4, 28, 28), "shape (N, 1, 28, 28)"),
    (torch.zeros(4, 1, 32, 32), "shape (N, 1, 28, 28)"),
    (torch.full((4, 1, 28, 28), 255.0), "[-1, 1]"),
    (torch.full((4, 1, 28, 28), float("nan")), "finite"),
    ([[0.0]], "torch.Tensor"),
])
def test_bad_input_raises_a_clear_error(bad, words):
    model = vae.VAE(latent_dim=2, hidden=8)
    with pytest.raises(GanlibError) as error:
        vae.elbo(model, bad)
    assert words in str(error.value)
    with pytest.raises(GanlibError):
        _train(model, bad, num_steps=1, batch_size=1)


def test_bad_settings_raise():
    with pytest.raises(GanlibError, match="latent_dim"):
        vae.VAE(latent_dim=0)
    with pytest.raises(GanlibError, match="num_steps"):
        _train(vae.VAE(latent_dim=2, hidden=8), _digits(4), num_steps=0)
    with pytest.raises(GanlibError, match="larger than the data"):
        _train(vae.VAE(latent_dim=2, hidden=8), _digits(4), num_steps=1, batch_size=8)
    with pytest.raises(GanlibError, match="no discriminator"):
        ganlib.train(vae.VAE(latent_dim=2, hidden=8), vae.VAE(latent_dim=2, hidden=8), _digits(4),
                     variant=vae.VAEVariant(), device="cpu")
    with pytest.raises(GanlibError, match="does not support bf16"):
        _train(vae.VAE(latent_dim=2, hidden=8), _digits(4), num_steps=1, batch_size=2, precision="bf16")
    with pytest.raises(GanlibError, match="n must be"):
        vae.sample(vae.VAE(latent_dim=2, hidden=8), 0)


def test_the_engine_evaluates_and_stops_the_vae_on_target():
    x = _digits(16)

    @torch.no_grad()
    def evaluate(model):
        return {"elbo": float(vae.elbo(model, x, generator=torch.Generator().manual_seed(0))["elbo"].mean())}

    run = _train(vae.VAE(latent_dim=2, hidden=16), x, num_steps=40, batch_size=8, lr=3e-3, log_every=5, eval_every=5,
                 evaluate=evaluate, stop_when=lambda m: m["elbo"] > -10_000)
    assert run.target_met and run.step == 5 and len(run.evaluations) == 1

"""Tests of unrolled GAN training (Metz et al., 2017): ``TrainConfig.unroll_steps`` and ``unrolled_g_step``.

The unrolled gradient is checked against an independent reference: a 2-parameter discriminator
``D(x) = w x + c`` whose loss gradient and Adam update are written out by hand, differentiated by
plain autograd, and against central finite differences of the same unrolled loss.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

import ganlib
import torch.nn.functional as F
from torch import nn

from ganlib import build_models, seed_everything
from ganlib.cli import main
from ganlib.core.losses import get_loss
from ganlib.core.config import TrainConfig
from ganlib.core.run import new_run
from ganlib.core.steps import d_step, g_step
from ganlib.core.train import train
from ganlib.core.unrolled import unrolled_g_step
from ganlib.core.utils import GanlibError

B = 8


class TinyG(nn.Module):
    """x = a z + b on 1-D data."""

    def __init__(self):
        super().__init__()
        self.latent_dim, self.data_shape = 1, (1,)
        self.lin = nn.Linear(1, 1)

    def forward(self, z):
        return self.lin(z)


class TinyD(nn.Module):
    """logit = w x + c."""

    def __init__(self):
        super().__init__()
        self.data_shape = (1,)
        self.lin = nn.Linear(1, 1)

    def forward(self, x):
        return self.lin(x).squeeze(1)


def _tiny(seed=0):
    torch.manual_seed(seed)
    generator, discriminator = TinyG().double(), TinyD().double()
    with torch.no_grad():
        generator.lin.weight.fill_(0.7)
        generator.lin.bias.fill_(-0.3)
        discriminator.lin.weight.fill_(0.5)
        discriminator.lin.bias.fill_(0.1)
    return generator, discriminator


def _tiny_batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, 1, generator=g, dtype=torch.float64) + 1.0, torch.randn(B, 1, generator=g,
                                                                                dtype=torch.float64)


def _warm_opt_d(generator, discriminator, x_real, lr=0.05, betas=(0.5, 0.999), weight_decay=0.0):
    """opt_d after two ordinary D steps, so its moments and step count are not the initial ones."""
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(5)
    for _ in range(2):
        d_step(generator, discriminator, opt_d, x_real, torch.randn(B, 1, generator=g, dtype=torch.float64),
               get_loss("ns"))
    return opt_d


def _reference_theta_k(x_fake, w, c, m, v, step, x_real, k_steps, lr, beta1, beta2, eps, wd):
    """D = (w, c) after K hand-written Adam steps on the BCE D loss against the fakes ``x_fake`` (B,)."""
    xr = x_real.squeeze(1)
    theta = torch.stack([w, c])
    for k in range(k_steps):
        wk, ck = theta[0], theta[1]
        s_real = torch.sigmoid(-(wk * xr + ck))   # d softplus(-l) / dl = -sigmoid(-l)
        s_fake = torch.sigmoid(wk * x_fake + ck)  # d softplus(l) / dl = sigmoid(l)
        grad = torch.stack([(-s_real * xr).mean() + (s_fake * x_fake).mean(), (-s_real).mean() + s_fake.mean()])
        grad = grad + wd * theta
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad ** 2
        t = step + k + 1
        theta = theta - lr / (1 - beta1 ** t) * m / (torch.sqrt(v) / (1 - beta2 ** t) ** 0.5 + eps)
    return theta


def _reference_unrolled_loss(a, b, w, c, m, v, step, x_real, z, k_steps, **hyper):
    """G's non-saturating loss against the unrolled D, as a function of G = (a, b)."""
    x_fake = (a * z + b).squeeze(1)  # (B,)
    theta = _reference_theta_k(x_fake, w, c, m, v, step, x_real, k_steps, **hyper)
    return F.softplus(-(theta[0] * x_fake + theta[1])).mean()


def _reference_inputs(generator, discriminator, opt_d):
    a = generator.lin.weight.detach().reshape(()).clone().requires_grad_(True)
    b = generator.lin.bias.detach().reshape(()).clone().requires_grad_(True)
    w, c = discriminator.lin.weight.detach().reshape(()), discriminator.lin.bias.detach().reshape(())
    sw, sc = opt_d.state[discriminator.lin.weight], opt_d.state[discriminator.lin.bias]
    m = torch.stack([sw["exp_avg"].reshape(()), sc["exp_avg"].reshape(())])
    v = torch.stack([sw["exp_avg_sq"].reshape(()), sc["exp_avg_sq"].reshape(())])
    group = opt_d.param_groups[0]
    return a, b, w, c, m, v, int(sw["step"]), group


def _library_gradient(generator, discriminator, opt_d, x_real, z, k_steps):
    opt_g = torch.optim.SGD(generator.parameters(), lr=0.0)  # lr 0: the gradient is kept, G unchanged
    out = unrolled_g_step(generator, discriminator, opt_g, z, get_loss("ns"), x_real=x_real, opt_d=opt_d,
                          unroll_steps=k_steps)
    grad = torch.stack([generator.lin.weight.grad.reshape(()), generator.lin.bias.grad.reshape(())])
    return out["g_loss"], grad


@pytest.mark.parametrize("k_steps,weight_decay", [(1, 0.0), (3, 0.0), (5, 0.01)])
def test_unrolled_gradient_matches_hand_written_adam_and_finite_differences(k_steps, weight_decay):
    generator, discriminator = _tiny()
    x_real, z = _tiny_batch()
    opt_d = _warm_opt_d(generator, discriminator, x_real, weight_decay=weight_decay)
    a, b, w, c, m, v, step, group = _reference_inputs(generator, discriminator, opt_d)
    hyper = dict(lr=group["lr"], beta1=group["betas"][0], beta2=group["betas"][1], eps=group["eps"],
                 wd=group["weight_decay"])
    assert step == 2

    def ref(a_, b_):
        return _reference_unrolled_loss(a_, b_, w, c, m, v, step, x_real, z, k_steps, **hyper)

    ref_loss = ref(a, b)
    ref_grad = torch.stack(torch.autograd.grad(ref_loss, [a, b]))
    h = 1e-6  # central differences in float64
    with torch.no_grad():
        fd_grad = torch.stack([(ref(a + h, b) - ref(a - h, b)) / (2 * h), (ref(a, b + h) - ref(a, b - h)) / (2 * h)])
    lib_loss, lib_grad = _library_gradient(generator, discriminator, opt_d, x_real, z, k_steps)
    torch.testing.assert_close(lib_loss, ref_loss.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(lib_grad, ref_grad, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(lib_grad, fd_grad, rtol=1e-5, atol=1e-8)


def test_unrolled_gradient_differs_from_the_plain_one_and_from_stopping_the_gradient_at_theta_k():
    generator, discriminator = _tiny()
    x_real, z = _tiny_batch()
    opt_d = _warm_opt_d(generator, discriminator, x_real)
    _, unrolled = _library_gradient(generator, discriminator, opt_d, x_real, z, 5)
    opt_g = torch.optim.SGD(generator.parameters(), lr=0.0)
    g_step(generator, discriminator, opt_g, z, get_loss("ns"))
    plain = torch.stack([generator.lin.weight.grad.reshape(()), generator.lin.bias.grad.reshape(())])
    assert (unrolled - plain).abs().max() > 1e-3 * plain.abs().max()
    # the second-order term matters: stopping the gradient at theta_K (D trained K steps, then held
    # constant) gives another gradient
    a, b, w, c, m, v, step, group = _reference_inputs(generator, discriminator, opt_d)
    hyper = dict(lr=group["lr"], beta1=group["betas"][0], beta2=group["betas"][1], eps=group["eps"], wd=0.0)
    x_fake = (a * z + b).squeeze(1)
    theta_k = _reference_theta_k(x_fake.detach(), w, c, m, v, step, x_real, 5, **hyper)
    first_order = torch.stack(torch.autograd.grad(F.softplus(-(theta_k[0] * x_fake + theta_k[1])).mean(), [a, b]))
    assert (unrolled - first_order).abs().max() > 1e-3 * first_order.abs().max()


def _pair(name):
    seed_everything(0)
    if name == "mlp":
        generator, discriminator = build_models("mlp", data_shape=(2,), latent_dim=4, hidden=(16,))
        x_real = torch.rand(B, 2) * 2 - 1
    else:
        generator, discriminator = build_models("dcgan", latent_dim=4, width=4)
        x_real = torch.rand(B, 1, 28, 28) * 2 - 1
    return generator, discriminator, x_real


@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_unrolled_g_step_leaves_d_and_its_optimizer_exactly_as_they_were(name):
    generator, discriminator, x_real = _pair(name)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-2)
    d_step(generator, discriminator, opt_d, x_real, torch.randn(B, 4), get_loss("ns"))
    d_state = copy.deepcopy(discriminator.state_dict())  # parameters and BatchNorm buffers
    opt_state = copy.deepcopy(opt_d.state_dict())
    g_before = {k: p.detach().clone() for k, p in generator.named_parameters()}
    d_grads = [p.grad.clone() for p in discriminator.parameters()]  # left by the D step
    unrolled_g_step(generator, discriminator, opt_g, torch.randn(B, 4), get_loss("ns"), x_real=x_real,
                    opt_d=opt_d, unroll_steps=3)
    for k, v in discriminator.state_dict().items():
        assert torch.equal(v, d_state[k]), f"the unrolled G step changed D's {k}"
    after = opt_d.state_dict()
    assert after["param_groups"] == opt_state["param_groups"]
    for i, entry in opt_state["state"].items():
        for key, value in entry.items():
            assert torch.equal(after["state"][i][key], value), f"opt_d state {i}/{key} changed"
    assert all(torch.equal(p.grad, g) for p, g in zip(discriminator.parameters(), d_grads)), \
        "a gradient reached D's weights"
    assert all(p.requires_grad for p in discriminator.parameters())
    assert any(not torch.equal(p, g_before[k]) for k, p in generator.named_parameters()), "G did not move"


def test_unrolled_g_step_works_before_d_has_ever_stepped():
    generator, discriminator, x_real = _pair("mlp")
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-2)  # empty state: zero moments, step 0
    out = unrolled_g_step(generator, discriminator, torch.optim.Adam(generator.parameters()), torch.randn(B, 4),
                          get_loss("ns"), x_real=x_real, opt_d=opt_d, unroll_steps=2)
    assert torch.isfinite(out["g_loss"])
    assert not opt_d.state


# --- the training loop ------------------------------------------------------------------------

def test_k0_is_bit_identical_to_the_plain_alternation_of_d_step_and_g_step(make_models, ring_data, tiny_config):
    config = ganlib.with_changes(tiny_config, unroll_steps=0, num_steps=7, log_every=3)
    generator, discriminator = make_models()
    run = train(generator, discriminator, ring_data, config, device="cpu")
    # the same loop written out with the public steps and the run's random stream
    g2, d2 = make_models()
    ref = new_run(g2, d2, config, torch.device("cpu"))
    loss = get_loss(config.loss)
    for _ in range(config.num_steps):
        for _ in range(config.d_steps):
            idx = torch.empty(config.batch_size, dtype=torch.long).random_(0, len(ring_data), generator=ref.rng)
            z = torch.empty(config.batch_size, g2.latent_dim).normal_(generator=ref.rng)
            d_step(g2, d2, ref.opt_d, ring_data[idx], z, loss, rng=ref.rng)
        z = torch.empty(config.batch_size, g2.latent_dim).normal_(generator=ref.rng)
        g_step(g2, d2, ref.opt_g, z, loss)
    for a, b in ((generator, g2), (discriminator, d2)):
        for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(p, q), k
    assert torch.equal(run.rng.get_state(), ref.rng.get_state())


def test_training_with_unrolling_runs_and_differs_from_k0(make_models, ring_data, tiny_config):
    config = dataclasses.replace(tiny_config, num_steps=6, log_every=3)
    g0, d0 = make_models()
    train(g0, d0, ring_data, config, device="cpu")
    g1, d1 = make_models()
    unrolled = train(g1, d1, ring_data, ganlib.with_changes(config, unroll_steps=2), device="cpu")
    assert len(unrolled.history["g_loss"]) == 2
    assert all(torch.isfinite(torch.tensor(v)).all() for v in unrolled.history.values())
    assert any(not torch.equal(p, q) for p, q in zip(g0.parameters(), g1.parameters()))
    # and it is reproducible
    g2, d2 = make_models()
    again = train(g2, d2, ring_data, ganlib.with_changes(config, unroll_steps=2), device="cpu")
    assert all(torch.equal(p, q) for p, q in zip(g1.parameters(), g2.parameters()))
    assert again.history["g_loss"] == unrolled.history["g_loss"]


def test_training_with_unrolling_a_dcgan_pair(mnist):
    seed_everything(0)
    generator, discriminator = build_models("dcgan", latent_dim=8, width=4)
    config = TrainConfig(num_steps=2, batch_size=8, log_every=1, progress=False, regularization=ganlib.Regularization(unroll_steps=2))
    d_before = copy.deepcopy(discriminator.state_dict())
    run = train(generator, discriminator, mnist[0][:64], config, device="cpu")
    assert len(run.history["g_loss"]) == 2
    assert any(not torch.equal(v, d_before[k]) for k, v in discriminator.state_dict().items())


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_train_config_rejects_bad_unroll_steps(value):
    with pytest.raises(GanlibError, match="unroll_steps"):
        TrainConfig(regularization=ganlib.Regularization(unroll_steps=value))


def test_train_config_default_is_no_unrolling():
    assert TrainConfig().regularization.unroll_steps == 0


def test_unrolled_g_step_rejects_bad_arguments():
    generator, discriminator, x_real = _pair("mlp")
    opt_g = torch.optim.Adam(generator.parameters())
    opt_d = torch.optim.Adam(discriminator.parameters())
    z = torch.randn(B, 4)
    with pytest.raises(GanlibError, match="positive integer"):
        unrolled_g_step(generator, discriminator, opt_g, z, get_loss("ns"), x_real=x_real, opt_d=opt_d,
                        unroll_steps=0)
    with pytest.raises(GanlibError, match="Adam"):
        unrolled_g_step(generator, discriminator, opt_g, z, get_loss("ns"), x_real=x_real,
                        opt_d=torch.optim.SGD(discriminator.parameters(), lr=0.1), unroll_steps=1)
    with pytest.raises(GanlibError, match="amsgrad"):
        unrolled_g_step(generator, discriminator, opt_g, z, get_loss("ns"), x_real=x_real,
                        opt_d=torch.optim.Adam(discriminator.parameters(), amsgrad=True), unroll_steps=1)
    with pytest.raises(GanlibError, match="penalty"):
        unrolled_g_step(generator, discriminator, opt_g, z, get_loss("wgan-gp"), x_real=x_real, opt_d=opt_d,
                        unroll_steps=1)
    with pytest.raises(GanlibError, match="does not hold"):
        unrolled_g_step(generator, discriminator, opt_g, z, get_loss("ns"), x_real=x_real,
                        opt_d=torch.optim.Adam(generator.parameters()), unroll_steps=1)


def test_unrolling_is_refused_with_a_penalty_loss_or_a_conditional_pair(tiny_config, mnist):
    with pytest.raises(GanlibError, match="unroll_steps"):  # refused by the config itself
        ganlib.with_changes(tiny_config, loss="wgan-gp", unroll_steps=1)
    seed_everything(0)
    generator, discriminator = build_models("cdcgan", latent_dim=4, width=4)
    x, y = mnist
    with pytest.raises(GanlibError, match="conditional"):
        train(generator, discriminator, x[:64], TrainConfig(num_steps=1, batch_size=8, progress=False, regularization=ganlib.Regularization(unroll_steps=1)), labels=y[:64], device="cpu")


def test_cli_unroll_steps_reaches_the_config(tmp_path, capsys):
    from ganlib.core.checkpoint import load_checkpoint

    status = main(["train", "--dataset", "ring", "--loss", "ns", "--steps", "3", "--batch-size", "16",
                   "--unroll-steps", "2", "--quiet", "--out", str(tmp_path / "run")])
    assert status == 0
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["config"]["regularization"]["unroll_steps"] == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dataset", "ring", "--unroll-steps", "-1", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert "non-negative" in capsys.readouterr().err
    # the ring recipe's R1 penalty cannot be unrolled: one line says so
    assert main(["train", "--dataset", "ring", "--unroll-steps", "2", "--out", str(tmp_path / "y")]) == 2
    assert "gradient penalty" in capsys.readouterr().err and not (tmp_path / "y").exists()

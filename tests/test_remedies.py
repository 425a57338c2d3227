"""ganlib.variants.remedies and the remedy losses: label smoothing's value and optimal D, R1 as a loss, instance
noise (eval / train / schedule / gradients), packing, the minibatch std layer, the generator EMA, the
callback combinator, and every remedy of chapter 7's ganlib.exercises.remedy_trials.prepare() inside a real
ganlib.train call."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganlib
from ganlib import remedies
from ganlib.cli import build_parser
from ganlib.core.losses import LOSSES, R1_GAMMA, d_loss_bce, d_loss_bce_smooth, get_loss, r1_loss
from ganlib.exercises import remedy_trials
from ganlib.exercises.remedy_trials import prepare
from ganlib.variants.remedies import (EMA, InstanceNoise, MinibatchStdDev, Packed, callbacks, mbstd_mlp_discriminator,
                                      packed_mlp_discriminator)
from ganlib.core.steps import frozen
from ganlib.core.utils import GanlibError

DTYPE = torch.float64
TINY_SPEC = {"name": "mlp", "data_shape": (2,), "latent_dim": 4, "hidden": (16,)}


# --- one-sided label smoothing ---------------------------------------------------------------------

def test_smoothed_loss_equals_the_hand_computed_value():
    d_real = torch.tensor([0.0, 2.0], dtype=DTYPE)
    d_fake = torch.tensor([0.0, -1.0], dtype=DTYPE)
    sig = lambda t: 1 / (1 + math.exp(-t))
    real = [-(0.9 * math.log(sig(l)) + 0.1 * math.log(1 - sig(l))) for l in (0.0, 2.0)]
    fake = [-math.log(1 - sig(l)) for l in (0.0, -1.0)]  # fakes keep the hard target 0
    expected = sum(real) / 2 + sum(fake) / 2
    assert d_loss_bce_smooth(d_real, d_fake).item() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(1.0132421, abs=1e-6)  # the numbers written out once
    # a real target of 1 is plain BCE; bad targets are refused
    torch.testing.assert_close(d_loss_bce_smooth(d_real, d_fake, real_label=1.0), d_loss_bce(d_real, d_fake))
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(GanlibError, match="real_label"):
            d_loss_bce_smooth(d_real, d_fake, real_label=bad)


def _optimal_table_d(d_loss, p_data, p_g):
    """Train a lookup-table D (one logit per point) on exact-frequency batches; return D = sigmoid(logit)."""
    real_idx = torch.repeat_interleave(torch.arange(len(p_data)), torch.tensor(p_data))
    fake_idx = torch.repeat_interleave(torch.arange(len(p_g)), torch.tensor(p_g))
    logits = torch.zeros(len(p_data), dtype=DTYPE, requires_grad=True)
    opt = torch.optim.LBFGS([logits], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = d_loss(logits[real_idx], logits[fake_idx])
        loss.backward()
        return loss

    opt.step(closure)
    return torch.sigmoid(logits.detach())


def test_one_sided_smoothing_recovers_the_scaled_optimal_discriminator():
    p_data, p_g = [5, 3, 2, 0], [1, 3, 4, 2]  # counts out of 10: the last point has only fakes
    d = _optimal_table_d(d_loss_bce_smooth, p_data, p_g)
    expected = torch.tensor([0.9 * a / (a + b) for a, b in zip(p_data, p_g)], dtype=DTYPE)  # 0.75, 0.45, 0.3, 0
    torch.testing.assert_close(d[:3], expected[:3], atol=2e-3, rtol=0)
    assert d[3] < 0.02, "where there is no data, the optimal D of one-sided smoothing is still 0"
    # plain BCE: p_data / (p_data + p_g), larger by 1 / 0.9 where there is data
    plain = _optimal_table_d(d_loss_bce, p_data, p_g)
    torch.testing.assert_close(plain[:3], expected[:3] / 0.9, atol=2e-3, rtol=0)

    def two_sided(d_real, d_fake):  # fake target 0.1 too: the variant the docstring warns against
        return d_loss_bce_smooth(d_real, d_fake) + (0.1 * F.softplus(-d_fake) - 0.1 * F.softplus(d_fake)).mean()

    assert _optimal_table_d(two_sided, p_data, p_g)[3].item() == pytest.approx(0.1, abs=2e-3)


# --- the remedy losses -----------------------------------------------------------------------------

def test_the_remedy_losses_are_registered_and_on_the_command_line():
    assert {"ns-smooth", "ns-r1"} <= set(LOSSES)
    assert get_loss("ns-smooth").d is d_loss_bce_smooth and get_loss("ns-smooth").penalty is None
    assert get_loss("ns-r1").penalty is not None and get_loss("ns-r1").d is d_loss_bce
    for name in ("ns-smooth", "ns-r1"):
        assert build_parser().parse_args(["train", "--loss", name, "--out", "unused"]).loss == name


def test_ns_r1_penalty_is_r1_on_real_data_called_as_d_step_calls_it():
    class Linear2D(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor([3.0, 4.0], dtype=DTYPE))

        def forward(self, x):
            return x @ self.w

    x_real = torch.randn(16, 2, dtype=DTYPE)
    x_fake = torch.full((16, 2), 1e6, dtype=DTYPE)  # the fakes play no part in R1
    penalty = get_loss("ns-r1").penalty(Linear2D(), x_real, x_fake, generator=torch.Generator())
    assert penalty.item() == pytest.approx(R1_GAMMA / 2 * 25.0)
    assert r1_loss(10.0).penalty(Linear2D(), x_real, x_fake).item() == pytest.approx(5 * 25.0)
    for bad in (0, -1.0, float("inf"), True, "1"):
        with pytest.raises(GanlibError, match="gamma"):
            r1_loss(bad)


# --- instance noise --------------------------------------------------------------------------------

class Recorder(nn.Module):
    """D(x) = sum of x, remembering each input."""

    def __init__(self):
        super().__init__()
        self.seen = []
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.w * x.reshape(len(x), -1).sum(dim=1)


def test_instance_noise_is_off_in_eval_mode_and_has_the_right_std_in_training():
    x = torch.zeros(20_000, 2)
    noisy = InstanceNoise(Recorder(), 0.3, generator=torch.Generator().manual_seed(0))
    noisy.eval()
    noisy(x)
    assert torch.equal(noisy.discriminator.seen[-1], x)
    noisy.train()
    noisy(x)
    noise = noisy.discriminator.seen[-1]
    assert noise.std().item() == pytest.approx(0.3, rel=0.03)
    assert abs(noise.mean().item()) < 0.01
    noisy.sigma = 0.0  # a zero sigma adds nothing
    noisy(x)
    assert torch.equal(noisy.discriminator.seen[-1], x)


def test_instance_noise_schedule_and_anneal_callback(make_models, ring_data, tiny_config):
    noisy = InstanceNoise(Recorder(), 0.2, final_sigma=0.0, anneal_steps=100)
    assert [noisy.sigma_at(s) for s in (0, 25, 50, 100, 500)] == pytest.approx([0.2, 0.15, 0.1, 0.0, 0.0])
    assert InstanceNoise(Recorder(), 0.2).sigma_at(10_000) == 0.2  # no schedule: constant
    noisy.anneal(75)
    assert noisy.sigma == pytest.approx(0.05)
    # as a train() callback: after 20 steps sigma is the scheduled value for step 20
    generator, discriminator = make_models()
    noisy = InstanceNoise(discriminator, 0.2, anneal_steps=40)
    run = ganlib.train(generator, noisy, ring_data, tiny_config, callback=noisy.anneal, device="cpu")
    assert run.step == 20 and noisy.sigma == pytest.approx(0.1)
    with pytest.raises(GanlibError, match="sigma"):
        InstanceNoise(discriminator, -0.1)
    with pytest.raises(GanlibError, match="anneal_steps"):
        InstanceNoise(discriminator, 0.1, anneal_steps=0)


def test_gradients_reach_the_generator_through_the_noise(make_models, state_copy, assert_same_state):
    generator, discriminator = make_models()
    noisy = InstanceNoise(discriminator, 0.5).train()
    z = torch.randn(32, generator.latent_dim)
    with frozen(noisy):
        noisy(generator(z)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.parameters())
    assert all(p.grad is None for p in discriminator.parameters())
    # g_step moves G, leaves D (under the wrapper) as it was
    before_d, before_g = state_copy(discriminator), state_copy(generator)
    ganlib.g_step(generator, noisy, torch.optim.Adam(generator.parameters()), z, get_loss("ns"))
    assert_same_state(before_d, state_copy(discriminator))
    assert any(not torch.equal(before_g[k], v) for k, v in state_copy(generator).items())


# --- packing ---------------------------------------------------------------------------------------

def test_packing_shapes_and_order():
    inner = Recorder()
    packed = Packed(inner, 4)
    x = torch.arange(64.0).reshape(32, 2)
    assert packed(x).shape == (8,)
    torch.testing.assert_close(inner.seen[-1][0], x[:4].reshape(-1))  # the first pack: samples 0..3 side by side
    images = torch.randn(8, 1, 3, 3)
    packed_images = Packed(inner, 2).pack(images)
    assert packed_images.shape == (4, 2, 3, 3)
    assert torch.equal(packed_images[1, 0], images[2, 0]) and torch.equal(packed_images[1, 1], images[3, 0])
    d = packed_mlp_discriminator(2, data_shape=(2,), hidden=(8,))
    assert d(torch.randn(10, 2)).shape == (5,) and d.data_shape == (2,)


def test_packing_refuses_a_batch_that_does_not_divide():
    with pytest.raises(GanlibError, match="divisible by 4"):
        packed_mlp_discriminator(4)(torch.randn(30, 2))
    with pytest.raises(GanlibError, match="m must be"):
        Packed(Recorder(), 0)


def test_a_packed_d_trains_in_ganlib_train_and_d_step_changes_only_d(ring_data, tiny_config, state_copy,
                                                                      assert_same_state):
    ganlib.seed_everything(0)
    generator, _ = ganlib.build_models(**TINY_SPEC)
    discriminator = packed_mlp_discriminator(4, hidden=(16,))
    run = ganlib.train(generator, discriminator, ring_data, tiny_config, device="cpu")
    assert run.step == 20 and all(math.isfinite(v) for v in run.history["d_loss"] + run.history["g_loss"])
    before_g, before_d = state_copy(generator), state_copy(discriminator)
    ganlib.d_step(generator, discriminator, run.opt_d, ring_data[:32], torch.randn(32, 4), get_loss("ns"))
    assert_same_state(before_g, state_copy(generator))
    assert any(not torch.equal(before_d[k], v) for k, v in state_copy(discriminator).items())
    with pytest.raises(GanlibError, match="divisible"):
        ganlib.train(generator, packed_mlp_discriminator(3, hidden=(16,)), ring_data, tiny_config, device="cpu")


# --- minibatch standard deviation -------------------------------------------------------------------

def test_minibatch_std_shapes_and_values():
    layer = MinibatchStdDev(group_size=2)
    assert layer(torch.randn(8, 5)).shape == (8, 6)
    assert layer(torch.randn(8, 3, 4, 4)).shape == (8, 4, 4, 4)
    constant = layer(torch.full((8, 3, 4, 4), 7.0))
    assert constant[:, 3].abs().max().item() < 1e-3  # sqrt(0 + 1e-8) = 1e-4
    # groups are samples {0, 2} and {1, 3}: stds 1 (values 0, 2) and 5 (values 0, 10)
    out = layer(torch.tensor([[0.0], [0.0], [2.0], [10.0]]))
    torch.testing.assert_close(out[:, 1], torch.tensor([1.0, 5.0, 1.0, 5.0]))
    torch.testing.assert_close(out[:, 0], torch.tensor([0.0, 0.0, 2.0, 10.0]))  # the input is kept
    with pytest.raises(GanlibError, match="divisible"):
        MinibatchStdDev(4)(torch.randn(6, 2))
    assert MinibatchStdDev(4)(torch.randn(3, 2)).shape == (3, 3)  # a batch smaller than a group is one group


def test_mbstd_discriminator_trains(ring_data, tiny_config):
    ganlib.seed_everything(0)
    generator, _ = ganlib.build_models(**TINY_SPEC)
    discriminator = mbstd_mlp_discriminator(hidden=(16,))
    assert discriminator(torch.randn(8, 2)).shape == (8,)
    run = ganlib.train(generator, discriminator, ring_data, tiny_config, device="cpu")
    assert all(math.isfinite(v) for v in run.history["d_loss"])


# --- EMA of the generator ---------------------------------------------------------------------------

class TinyBNGenerator(nn.Module):
    latent_dim = 3

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))

    def forward(self, z):
        return self.net(z)


def test_ema_equals_the_hand_computed_average_and_handles_buffers():
    torch.manual_seed(0)
    g = TinyBNGenerator()
    ema = EMA(g, decay=0.5)
    w0 = g.net[0].weight.detach().clone()
    history, means = [w0], [g.net[1].running_mean.clone()]
    for _ in range(3):
        g(torch.randn(16, 3))  # a training-mode forward: BatchNorm's buffers move
        with torch.no_grad():
            g.net[0].weight.add_(torch.randn_like(g.net[0].weight))
        history.append(g.net[0].weight.detach().clone())
        means.append(g.net[1].running_mean.clone())
        ema.update()
    w1, w2, w3 = history[1:]
    expected = 0.5 * (0.5 * (0.5 * w0 + 0.5 * w1) + 0.5 * w2) + 0.5 * w3
    torch.testing.assert_close(ema.generator.net[0].weight, expected)
    m0, m1, m2, m3 = means
    torch.testing.assert_close(ema.generator.net[1].running_mean,
                               0.125 * m0 + 0.125 * m1 + 0.25 * m2 + 0.5 * m3)
    assert ema.generator.net[1].num_batches_tracked.item() == 3  # integer buffers are copied
    assert torch.equal(g.net[0].weight, w3), "updating the average does not touch G"
    assert not ema.generator.training and not any(p.requires_grad for p in ema.generator.parameters())


def test_ema_follows_g_before_start_step():
    g = TinyBNGenerator()
    ema = EMA(g, decay=0.9, start_step=2)
    with torch.no_grad():
        g.net[0].weight.fill_(1.0)
    ema.update()  # step 1 < 2: copied
    assert torch.equal(ema.generator.net[0].weight, g.net[0].weight)
    with torch.no_grad():
        g.net[0].weight.fill_(2.0)
    ema.update()  # step 2: averaged
    torch.testing.assert_close(ema.generator.net[0].weight, torch.full((2, 3), 0.9 * 1.0 + 0.1 * 2.0))
    assert ema.num_averaged == 1
    for bad in (1.0, -0.1, True):
        with pytest.raises(GanlibError, match="decay"):
            EMA(g, decay=bad)


def test_ema_as_a_train_callback_leaves_training_unchanged(make_models, ring_data, tiny_config, state_copy,
                                                           assert_same_state):
    generator, discriminator = make_models()
    plain = ganlib.train(generator, discriminator, ring_data, tiny_config, device="cpu")
    generator, discriminator = make_models()
    ema = EMA(generator, decay=0.9)
    run = ganlib.train(generator, discriminator, ring_data, tiny_config, callback=ema.update, device="cpu")
    assert_same_state(state_copy(plain.generator), state_copy(run.generator))
    assert ema.num_updates == 20
    assert not torch.equal(ema.generator.net[-1].weight, generator.net[-1].weight)
    assert ganlib.sample(ema.generator, 10, seed=0).shape == (10, 2)


def test_callbacks_run_in_order_and_skip_none():
    calls = []
    both = callbacks(lambda run: calls.append(("a", run)), None, lambda run: calls.append(("b", run)))
    both("run")
    assert calls == [("a", "run"), ("b", "run")]
    with pytest.raises(GanlibError, match="callbacks"):
        callbacks(3)


# --- every remedy through prepare() and ganlib.train -----------------------------------------------

@pytest.mark.parametrize("name", remedy_trials.REMEDIES)
def test_each_remedy_trains_a_few_steps(name, ring_data, tiny_config):
    ganlib.seed_everything(0)
    p = prepare(name, TINY_SPEC, tiny_config)
    run = ganlib.train(p.generator, p.discriminator, ring_data, p.config, callback=p.callback, device="cpu")
    assert run.step == 20 and all(math.isfinite(v) for v in run.history["d_loss"] + run.history["g_loss"])
    assert ganlib.sample(p.sampler, 16, seed=0).shape == (16, 2)
    if name == "ttur":
        assert p.config.lr_d == pytest.approx(4 * p.config.lr_g)
    if name in ("ns-smooth", "ns-r1"):
        assert p.config.loss == name


def test_prepare_refuses_unknown_names():
    with pytest.raises(GanlibError, match="unknown remedy"):
        prepare("dropout", TINY_SPEC, ganlib.TrainConfig())
    with pytest.raises(GanlibError, match="divisible"):
        prepare("pack4", TINY_SPEC, dataclasses.replace(ganlib.TrainConfig(), batch_size=30))


def test_dcgan_packing_and_minibatch_std_for_digits():
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    packed = remedies.packed_dcgan_discriminator(2, width=4)
    assert packed(images).shape == (4,) and packed.discriminator.net[0].in_channels == 2
    assert remedies.mbstd_dcgan_discriminator(width=4)(images).shape == (8,)
    spec = {"name": "dcgan", "data_shape": (1, 28, 28), "latent_dim": 8, "width": 4}
    config = ganlib.TrainConfig(num_steps=2, batch_size=8, log_every=1, progress=False)
    for name in ("pack2", "mbstd"):
        ganlib.seed_everything(0)
        p = prepare(name, spec, config)
        run = ganlib.train(p.generator, p.discriminator, torch.rand(16, 1, 28, 28) * 2 - 1, p.config, device="cpu")
        assert run.step == 2 and all(math.isfinite(v) for v in run.history["d_loss"])

"""Tests of ganlib.train: step isolation, a seeded smoke run, determinism, resuming, input checks."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math

import numpy as np
import pytest
import torch

import ganlib

from ganlib import build_models, seed_everything
from ganlib.core.losses import get_loss
from ganlib.core.config import TrainConfig
from ganlib.core.run import HISTORY_KEYS, new_run, sample
from ganlib.core.steps import d_step, g_step
from ganlib.core.train import train
from ganlib.core.utils import GanlibError

# `ganlib.core.train` is the function (re-exported by the package), which shadows the module of the
# same name for `import ganlib.core.train as ...`; the module itself is needed to patch d_step/g_step.
train_mod = importlib.import_module("ganlib.core.train")

B = 8  # batch size for single-step tests


def _models(name: str):
    """A tiny pair: the MLP for 2-D points or a narrow DCGAN (it has BatchNorm in G)."""
    seed_everything(0)
    if name == "mlp":
        return build_models("mlp", data_shape=(2,), latent_dim=4, hidden=(16,))
    return build_models("dcgan", latent_dim=4, width=4)


def _batch(name: str) -> torch.Tensor:
    shape = (2,) if name == "mlp" else (1, 28, 28)
    return torch.rand(B, *shape) * 2 - 1  # real data in [-1, 1]


def _adam(module: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(module.parameters(), lr=1e-2)


def _params(module):
    return {k: p.detach().clone() for k, p in module.named_parameters()}


def _history_without_time(history):
    return {k: v for k, v in history.items() if k != "seconds"}  # wall time differs run to run


# --- isolation of the two steps ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_d_step_changes_d_and_no_generator_parameter(name):
    generator, discriminator = _models(name)
    g_before, d_before = _params(generator), _params(discriminator)
    out = d_step(generator, discriminator, _adam(discriminator), _batch(name), torch.randn(B, 4),
                 get_loss("ns"))
    # only parameters: G runs forward in train mode here, so BatchNorm running statistics move
    for k, v in _params(generator).items():
        assert torch.equal(v, g_before[k]), f"d_step changed generator parameter {k}"
    assert all(p.grad is None for p in generator.parameters()), "d_step built a graph through G"
    assert any(not torch.equal(v, d_before[k]) for k, v in _params(discriminator).items())
    assert set(out) == {"d_loss", "d_real", "d_fake"}
    assert all(v.shape == () and not v.requires_grad for v in out.values())
    assert 0 <= out["d_real"] <= 1 and 0 <= out["d_fake"] <= 1


@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_g_step_changes_g_and_no_discriminator_parameter(name):
    generator, discriminator = _models(name)
    g_before, d_before = _params(generator), _params(discriminator)
    out = g_step(generator, discriminator, _adam(generator), torch.randn(B, 4), get_loss("ns"))
    for k, v in _params(discriminator).items():
        assert torch.equal(v, d_before[k]), f"g_step changed discriminator parameter {k}"
    assert all(p.grad is None for p in discriminator.parameters()), "g_step left gradients in D"
    assert all(p.requires_grad for p in discriminator.parameters()), "g_step left D frozen"
    assert any(not torch.equal(v, g_before[k]) for k, v in _params(generator).items())
    assert set(out) == {"g_loss"} and out["g_loss"].shape == ()


def test_g_step_does_not_touch_gradients_left_in_d_by_a_d_step():
    generator, discriminator = _models("mlp")
    loss = get_loss("ns")
    d_step(generator, discriminator, _adam(discriminator), _batch("mlp"), torch.randn(B, 4), loss)
    d_grads = [p.grad.clone() for p in discriminator.parameters()]
    g_step(generator, discriminator, _adam(generator), torch.randn(B, 4), loss)
    for p, before in zip(discriminator.parameters(), d_grads):
        assert torch.equal(p.grad, before)


def test_g_step_takes_no_real_data_and_d_sees_only_fakes():
    # only the relativistic losses (loss.g_uses_real) give G's step a real batch, and only by keyword
    param = inspect.signature(g_step).parameters["x_real"]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is None
    generator, discriminator = _models("mlp")
    z = torch.randn(B, 4)
    with torch.no_grad():
        expected = generator(z)
    seen = []
    discriminator.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    g_step(generator, discriminator, _adam(generator), z, get_loss("ns"))
    assert len(seen) == 1 and torch.equal(seen[0], expected)


def test_g_step_restores_d_trainability_even_when_the_loss_fails():
    generator, discriminator = _models("mlp")

    def broken(d_fake):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        g_step(generator, discriminator, _adam(generator), torch.randn(B, 4), get_loss("ns")._replace(g=broken))
    assert all(p.requires_grad for p in discriminator.parameters())


# --- reuse_fakes: G's step judges the fakes of the D step before it ---------------------------

@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_g_step_on_the_d_steps_kept_fakes_equals_running_g_again(name):
    loss, x_real, z = get_loss("ns"), _batch(name), torch.randn(B, 4)
    (g0, d0), (g1, d1) = _models(name), _models(name)
    d_step(g0, d0, _adam(d0), x_real, z, loss)
    g_step(g0, d0, _adam(g0), z, loss)  # G runs again on the same noise: the same fakes (BatchNorm in train mode)
    g_calls = []
    g1.register_forward_hook(lambda *args: g_calls.append(1))
    out = d_step(g1, d1, _adam(d1), x_real, z, loss, keep_fakes=True)
    assert out["x_fake"].shape == x_real.shape and out["x_fake"].requires_grad
    assert all(p.grad is None for p in g1.parameters()), "D's loss reached G through the kept fakes"
    g_step(g1, d1, _adam(g1), z, loss, x_fake=out["x_fake"])
    assert len(g_calls) == 1
    for a, b in ((g0, g1), (d0, d1)):
        for (key, p0), p1 in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(p1, p0, msg=key)


def test_reuse_fakes_trains_on_one_noise_batch_and_one_g_forward_a_step(make_models, ring_data, tiny_config,
                                                                         state_copy):
    config = ganlib.with_changes(tiny_config, reuse_fakes=True)
    calls = {}
    for reuse in (False, True):
        generator, discriminator = make_models()
        calls[reuse] = []
        generator.register_forward_hook(lambda *args, seen=calls[reuse]: seen.append(1))
        run = train(generator, discriminator, ring_data, ganlib.with_changes(config, reuse_fakes=reuse))
    assert (len(calls[False]), len(calls[True])) == (2 * config.num_steps, config.num_steps)
    # the same updates by hand: per step a real batch and a noise batch from the run's random stream,
    # and both players' steps on that noise (pytorch/examples' DCGAN loop)
    g, d = make_models()
    manual = new_run(g, d, config, torch.device("cpu"))
    loss, b = get_loss(config.loss), config.batch_size
    for _ in range(config.num_steps):
        idx = torch.empty(b, dtype=torch.long).random_(0, len(ring_data), generator=manual.rng)
        z = torch.empty(b, generator.latent_dim).normal_(generator=manual.rng)
        d_step(g, d, manual.opt_d, ring_data[idx], z, loss)
        g_step(g, d, manual.opt_g, z, loss)
    for key, value in state_copy(run.generator).items():
        torch.testing.assert_close(value, g.state_dict()[key], msg=key)


# --- a seeded smoke run -----------------------------------------------------------------------

def test_smoke_run_history(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    run = train(generator, discriminator, ring_data, tiny_config, device="cpu")
    assert run.step == 20
    assert set(run.history) == set(HISTORY_KEYS)
    assert run.history["step"] == [5.0, 10.0, 15.0, 20.0]
    for key, values in run.history.items():
        assert len(values) == 4, key
        assert all(isinstance(v, float) and math.isfinite(v) for v in values), key
    assert all(0 <= v <= 1 for v in run.history["d_real"] + run.history["d_fake"])
    assert run.history["seconds"] == sorted(run.history["seconds"])
    assert generator.training and discriminator.training


def test_a_last_partial_interval_still_gets_a_history_row(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    run = train(generator, discriminator, ring_data, dataclasses.replace(tiny_config, num_steps=7))
    assert run.history["step"] == [5.0, 7.0]


def test_same_seed_same_history_and_weights(make_models, ring_data, tiny_config, state_copy, assert_same_state):
    runs = []
    for _ in range(2):
        generator, discriminator = make_models(seed=0)
        runs.append(train(generator, discriminator, ring_data, tiny_config))
    a, b = runs
    assert _history_without_time(a.history) == _history_without_time(b.history)
    assert_same_state(state_copy(a.generator), state_copy(b.generator))
    assert_same_state(state_copy(a.discriminator), state_copy(b.discriminator))


def test_a_different_run_seed_gives_a_different_run(make_models, ring_data, tiny_config):
    g1, d1 = make_models(seed=0)
    g2, d2 = make_models(seed=0)  # same initial weights: only the batches and noise differ
    a = train(g1, d1, ring_data, tiny_config)
    b = train(g2, d2, ring_data, dataclasses.replace(tiny_config, seed=1))
    assert a.history["d_loss"] != b.history["d_loss"]


def test_continuing_10_plus_10_equals_20_bit_for_bit(make_models, ring_data, tiny_config, state_copy,
                                                     assert_same_state):
    g1, d1 = make_models()
    whole = train(g1, d1, ring_data, tiny_config)  # 20 steps, a row every 5

    g2, d2 = make_models()
    half = dataclasses.replace(tiny_config, num_steps=10)
    part = train(g2, d2, ring_data, half)
    part = train(g2, d2, ring_data, run=part)  # continues with the run's config: 10 more
    assert part.step == whole.step == 20
    assert _history_without_time(part.history) == _history_without_time(whole.history)
    assert_same_state(state_copy(g1), state_copy(g2))
    assert_same_state(state_copy(d1), state_copy(d2))
    assert_same_state(whole.opt_g.state_dict()["state"][0], part.opt_g.state_dict()["state"][0])


def test_continuing_needs_the_runs_own_models(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    run = train(generator, discriminator, ring_data, dataclasses.replace(tiny_config, num_steps=1))
    other_g, _ = make_models()
    with pytest.raises(GanlibError, match="own generator"):
        train(other_g, discriminator, ring_data, run=run)


def test_continuing_with_a_new_learning_rate_uses_it(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    run = train(generator, discriminator, ring_data, dataclasses.replace(tiny_config, num_steps=1))
    run = train(generator, discriminator, ring_data,
                dataclasses.replace(tiny_config, num_steps=1, lr_g=1e-3, lr_d=5e-4), run=run)
    assert run.config.lr_g == 1e-3
    assert run.opt_g.param_groups[0]["lr"] == 1e-3
    assert run.opt_d.param_groups[0]["lr"] == 5e-4


def test_learning_rates_decay_linearly_between_the_two_steps(make_models, ring_data, tiny_config):
    config = ganlib.with_changes(tiny_config, num_steps=10, lr_g=1e-3, lr_d=2e-3, lr_decay_start=4, lr_decay_end=8,
                                 lr_decay_factor=0.1)
    assert [config.lr_scale(s) for s in (0, 4, 6, 8, 20)] == pytest.approx([1, 1, 0.55, 0.1, 0.1])
    generator, discriminator = make_models()
    seen = []
    train(generator, discriminator, ring_data, config,
          callback=lambda run: seen.append((run.opt_g.param_groups[0]["lr"], run.opt_d.param_groups[0]["lr"])))
    # the rates used by step s + 1 are set from run.step = s before it
    expected = [config.lr_scale(s) for s in range(10)]
    assert [g for g, _ in seen] == pytest.approx([1e-3 * f for f in expected])
    assert [d for _, d in seen] == pytest.approx([2e-3 * f for f in expected])


def test_a_decayed_run_continued_in_two_calls_equals_one_call(make_models, ring_data, tiny_config, state_copy,
                                                              assert_same_state):
    config = ganlib.with_changes(tiny_config, lr_decay_start=5, lr_decay_end=15, lr_decay_factor=0.01)
    g1, d1 = make_models()
    train(g1, d1, ring_data, config)  # 20 steps
    g2, d2 = make_models()
    part = train(g2, d2, ring_data, dataclasses.replace(config, num_steps=12))
    part = train(g2, d2, ring_data, dataclasses.replace(config, num_steps=8), run=part)  # decay follows run.step
    assert_same_state(state_copy(g1), state_copy(g2))
    assert part.opt_g.param_groups[0]["lr"] == pytest.approx(config.lr_g * 0.01)


def test_lazy_penalty_runs_on_every_kth_d_update_k_times_as_strong(make_models, ring_data, tiny_config,
                                                                    monkeypatch):
    from ganlib import losses

    calls = []

    def penalty(discriminator, x_real, x_fake, generator=None):
        calls.append(1)
        return discriminator(x_real).sum() * 0 + 1.0  # a constant 1 that is part of D's graph

    monkeypatch.setitem(losses.LOSSES, "ns-counted", losses.LOSSES["ns"]._replace(penalty=penalty))
    config = ganlib.with_changes(tiny_config, loss="ns-counted", d_steps=2, penalty_every=3, num_steps=9,
                                 log_every=1)
    run = train(*make_models(), ring_data, config)
    assert len(calls) == 9 * 2 // 3  # D updates 3, 6, ..., 18 of 18
    plain = train(*make_models(), ring_data, ganlib.with_changes(config, loss="ns", penalty_every=1))
    # The penalty (1, times k = 3) has no gradient, so both runs train alike and differ only in D's logged
    # loss: that of each step's last D update, penalized on steps 3, 6 and 9 (D updates 6, 12 and 18).
    gaps = np.array(run.history["d_loss"]) - np.array(plain.history["d_loss"])
    np.testing.assert_allclose(gaps, [0, 0, 3, 0, 0, 3, 0, 0, 3], atol=1e-4)


def test_a_lazy_penalty_run_continued_in_two_calls_equals_one_call(make_models, ring_data, tiny_config,
                                                                  state_copy, assert_same_state):
    config = ganlib.with_changes(tiny_config, loss="ns-r1", penalty_every=4)
    g1, d1 = make_models()
    train(g1, d1, ring_data, config)  # 20 steps
    g2, d2 = make_models()
    part = train(g2, d2, ring_data, dataclasses.replace(config, num_steps=7))
    train(g2, d2, ring_data, dataclasses.replace(config, num_steps=13), run=part)  # the phase follows run.step
    assert_same_state(state_copy(g1), state_copy(g2))
    assert_same_state(state_copy(d1), state_copy(d2))


def test_callback_is_called_after_every_step(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    seen = []
    train(generator, discriminator, ring_data, dataclasses.replace(tiny_config, num_steps=6),
          callback=lambda run: seen.append(run.step))
    assert seen == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("value, shown", [(None, True), ("", True), ("0", True), ("false", True),
                                          ("1", False), ("true", False), ("yes", False)])
def test_tqdm_disable_switches_the_progress_bar_off(monkeypatch, tiny_config, value, shown):
    # tqdm.auto's notebook widget ignores TQDM_DISABLE, and `make book` relies on it: the bar is not made
    if value is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", value)
    bar = importlib.import_module("ganlib.core.engine")._progress_bar(dataclasses.replace(tiny_config, progress=True))
    assert (bar is not None) == shown
    if bar is not None:
        bar.close()


def test_keyboard_interrupt_returns_the_partial_run(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()

    def stop_at_3(run):
        if run.step == 3:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted at step 3"):
        run = train(generator, discriminator, ring_data, tiny_config, callback=stop_at_3)
    assert run.step == 3
    assert run.history["step"] == [3.0]


# --- TrainConfig validation -------------------------------------------------------------------

@pytest.mark.parametrize("changes", [
    {"num_steps": 0}, {"num_steps": -5}, {"num_steps": 2.0}, {"num_steps": True},
    {"batch_size": 0}, {"batch_size": False}, {"d_steps": 0}, {"log_every": 0}, {"num_fixed": 0},
    {"snapshot_every": -1}, {"snapshot_every": True},
    {"lr_g": float("nan")}, {"lr_g": -1e-3}, {"lr_d": 0.0}, {"lr_d": float("inf")}, {"lr_g": "2e-4"},
    {"betas": (1.0, 0.999)}, {"betas": (0.5, -0.1)}, {"betas": (0.5,)},
    {"loss": "wgan"}, {"seed": -1}, {"seed": True},
    {"lr_decay_start": 5}, {"lr_decay_start": 5, "lr_decay_end": 5}, {"lr_decay_start": -1, "lr_decay_end": 5},
    {"lr_decay_start": 1, "lr_decay_end": 5.0},
    {"lr_decay_factor": 0.0}, {"lr_decay_factor": 1.5}, {"lr_decay_factor": True},
    {"precision": "fp16"}, {"precision": None}, {"compile": 1}, {"compile": True, "loss": "ns-r1-0.1"},
    {"compile": True, "unroll_steps": 2}, {"reuse_fakes": 1}, {"reuse_fakes": True, "unroll_steps": 2},
    {"penalty_every": 0}, {"penalty_every": True}, {"penalty_every": 2.0},
])
def test_train_config_rejects_bad_values(changes):
    with pytest.raises(GanlibError):
        ganlib.with_changes(TrainConfig(), **changes)  # nested knobs by their names, as the recipes take them


def test_train_config_is_frozen_and_has_the_documented_defaults():
    config = TrainConfig()
    assert (config.lr_g, config.lr_d, config.betas, config.loss, config.d_steps) == (2e-4, 2e-4, (0.5, 0.999), "ns", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.num_steps = 5


# --- data checks ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad_data, match", [
    (torch.zeros(64, 3), r"shape \(N, 2\)"),
    (torch.zeros(64, 2, dtype=torch.int64), "floating point"),
    (torch.full((64, 2), float("nan")), "NaN"),
    (torch.zeros(16, 2), "larger than the data"),
    ([[0.0, 0.0]] * 64, "torch.Tensor"),
])
def test_train_rejects_bad_data(make_models, tiny_config, bad_data, match):
    generator, discriminator = make_models()
    with pytest.raises(GanlibError, match=match):
        train(generator, discriminator, bad_data, tiny_config)


def test_train_rejects_0_255_pixels_for_a_tanh_generator(tiny_config):
    generator, discriminator = build_models("mlp", data_shape=(1, 28, 28), latent_dim=4, hidden=(8,))
    pixels = torch.randint(0, 256, (64, 1, 28, 28)).float()
    with pytest.raises(GanlibError, match=r"\[-1, 1\]"):
        train(generator, discriminator, pixels, tiny_config)
    # the same images scaled as the message says are accepted
    train(generator, discriminator, pixels / 127.5 - 1, dataclasses.replace(tiny_config, num_steps=1))


def test_train_accepts_unbounded_data_without_tanh(make_models, tiny_config):
    generator, discriminator = make_models()  # 2-D MLP: no tanh, the grid spans [-4, 4]
    data = 4 * torch.rand(64, 2)
    run = train(generator, discriminator, data, dataclasses.replace(tiny_config, num_steps=1))
    assert run.step == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_on_missing_cuda_raises_ganlib_error(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    with pytest.raises(GanlibError, match="CUDA"):
        train(generator, discriminator, ring_data, tiny_config, device="cuda")


# --- k discriminator steps, snapshots ---------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3])
def test_d_steps_k_makes_k_d_updates_per_g_update(make_models, ring_data, tiny_config, monkeypatch, k):
    calls = {"d": 0, "g": 0}
    real_d_step, real_g_step = train_mod.d_step, train_mod.g_step

    def counting_d_step(*args, **kwargs):
        calls["d"] += 1
        return real_d_step(*args, **kwargs)

    def counting_g_step(*args, **kwargs):
        calls["g"] += 1
        return real_g_step(*args, **kwargs)

    monkeypatch.setattr(train_mod, "d_step", counting_d_step)
    monkeypatch.setattr(train_mod, "g_step", counting_g_step)
    generator, discriminator = make_models()
    run = train(generator, discriminator, ring_data, dataclasses.replace(tiny_config, num_steps=4, d_steps=k))
    assert calls == {"d": 4 * k, "g": 4}
    # and the optimizers agree: Adam counts its own updates
    d_adam_steps = {float(s["step"]) for s in run.opt_d.state.values()}
    g_adam_steps = {float(s["step"]) for s in run.opt_g.state.values()}
    assert d_adam_steps == {4.0 * k} and g_adam_steps == {4.0}


def test_snapshots_every_n_steps_at_fixed_noise(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    config = dataclasses.replace(tiny_config, num_steps=12, snapshot_every=4, num_fixed=6)
    run = train(generator, discriminator, ring_data, config)
    assert [step for step, _ in run.snapshots] == [4, 8, 12]
    for _, x in run.snapshots:
        assert x.shape == (6, 2) and x.device.type == "cpu" and x.dtype == torch.float32
    # the last snapshot is the final generator at the run's fixed noise
    torch.testing.assert_close(run.snapshots[-1][1], sample(generator, 6, z=run.fixed_z))
    assert not torch.equal(run.snapshots[0][1], run.snapshots[-1][1])


def test_no_snapshots_by_default(make_models, ring_data, tiny_config):
    generator, discriminator = make_models()
    assert train(generator, discriminator, ring_data, tiny_config).snapshots == []


def test_new_run_fixed_noise_comes_from_the_seed(make_models, tiny_config):
    g1, d1 = make_models()
    g2, d2 = make_models()
    a = new_run(g1, d1, tiny_config, torch.device("cpu"))
    b = new_run(g2, d2, tiny_config, torch.device("cpu"))
    assert a.fixed_z.shape == (tiny_config.num_fixed, 4)
    assert torch.equal(a.fixed_z, b.fixed_z)


# --- sample -----------------------------------------------------------------------------------

def test_sample_is_reproducible_with_a_seed(make_models):
    generator, _ = make_models()
    a, b, c = sample(generator, 10, seed=3), sample(generator, 10, seed=3), sample(generator, 10, seed=4)
    assert a.shape == (10, 2) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not a.requires_grad


@pytest.mark.parametrize("training", [True, False])
def test_sample_leaves_the_training_mode_as_it_was(training):
    generator, _ = _models("dcgan")
    generator.train(training)
    sample(generator, 3, seed=0)
    assert generator.training is training


def test_sample_uses_eval_mode_so_batchnorm_is_per_example():
    generator, _ = _models("dcgan")
    generator.train()
    z = torch.randn(5, 4)
    together = sample(generator, 5, z=z)
    one_by_one = sample(generator, 5, z=z, batch_size=1)  # batch statistics would fail at batch size 1
    torch.testing.assert_close(together, one_by_one)
    assert together.shape == (5, 1, 28, 28)


def test_sample_with_z_uses_that_noise(make_models):
    generator, _ = make_models()
    z = torch.randn(7, 4)
    with torch.no_grad():
        expected = generator(z)
    torch.testing.assert_close(sample(generator, 7, z=z), expected)


def test_sample_needs_an_integer_latent_dim():
    net = torch.nn.Linear(3, 2)
    with pytest.raises(GanlibError, match="latent_dim"):
        sample(net, 4, seed=0)


class _NaNAfter(torch.nn.Module):
    """Wraps a discriminator; from its ``after``-th forward call on, its logits are NaN."""

    def __init__(self, inner, after):
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0

    def forward(self, x):
        self.calls += 1
        out = self.inner(x)
        return out * float("nan") if self.calls > self.after else out


def test_a_diverging_run_stops_with_a_clear_error_and_keeps_the_last_good_state(make_models, ring_data,
                                                                                 tiny_config, state_copy,
                                                                                 assert_same_state):
    from ganlib.core.run import TrainingDiverged

    generator, discriminator = make_models()
    clean = train(generator, discriminator, ring_data, dataclasses.replace(tiny_config, num_steps=10))
    good_g, good_d = state_copy(clean.generator), state_copy(clean.discriminator)

    generator, discriminator = make_models()
    wrapped = _NaNAfter(discriminator, after=3 * 12)  # 3 D calls per step: NaN from step 13 on
    run = new_run(generator, wrapped, dataclasses.replace(tiny_config, num_steps=20), torch.device("cpu"))
    with pytest.raises(TrainingDiverged, match="back at step 10"):
        train(generator, wrapped, ring_data, run=run)
    assert run.step == 10 and run.history["step"] == [5, 10]
    assert all(math.isfinite(v) for v in run.history["d_loss"])
    assert_same_state(state_copy(run.generator), good_g)
    assert_same_state(state_copy(wrapped.inner), good_d)


def test_keyboard_interrupt_returns_the_partial_run_and_usable_models(make_models, ring_data, tiny_config):
    def stop_at_seven(run):
        if run.step == 7:
            raise KeyboardInterrupt  # what a notebook's "interrupt kernel" raises mid-loop

    generator, discriminator = make_models()
    with pytest.warns(UserWarning, match="interrupted at step 7"):
        run = train(generator, discriminator, ring_data, tiny_config, callback=stop_at_seven)
    assert run.step == 7 and run.history["step"] == [5, 7]  # the partial interval is logged too
    assert generator.training
    run = train(generator, discriminator, ring_data, dataclasses.replace(tiny_config, num_steps=3), run=run)
    assert run.step == 10 and torch.isfinite(sample(generator, 4, seed=0)).all()


# --- precision and compile (options for GPUs; their results are checked here, on the CPU) ----------

def test_compile_gives_the_eager_results_and_keeps_parameter_names(make_models, ring_data, tiny_config,
                                                                   state_copy, tmp_path, monkeypatch):
    # Compiled kernels add the same numbers in another order. Over 20 Adam steps float32 rounding can grow
    # past any fixed tolerance (Adam divides each gradient by its own size), so both runs are in float64,
    # where the bound below, derived from float64's epsilon, leaves orders of magnitude to spare.
    # A compile cache of this test's own: kernels cached in the shared default folder by runs with other
    # settings (other CPU kernels, another dtype) were seen to crash it here.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        data = ring_data.double()
        eager_g, eager_d = make_models()
        eager = train(eager_g, eager_d, data, tiny_config, device="cpu")
        generator, discriminator = make_models()
        names = list(generator.state_dict())
        run = train(generator, discriminator, data, ganlib.with_changes(tiny_config, compile=True), device="cpu")
        compiled_call = generator._compiled_call_impl
        assert compiled_call is not None and list(generator.state_dict()) == names  # checkpoints are unchanged
        bound = 100 * tiny_config.num_steps * tiny_config.lr_g * tiny_config.batch_size * torch.finfo(torch.float64).eps
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            np.testing.assert_allclose(run.history[key], eager.history[key], rtol=0, atol=bound)
        for name, value in state_copy(generator).items():
            torch.testing.assert_close(value, eager_g.state_dict()[name], rtol=0, atol=bound)
        train(generator, discriminator, data, run=run, device="cpu")  # continuing: not compiled twice
        assert generator._compiled_call_impl is compiled_call
    finally:
        torch.set_default_dtype(default)


def test_bf16_autocast_trains_close_to_float32_and_keeps_float32_weights(make_models, ring_data, tiny_config):
    # One step, one history row: D's first loss is computed from the same initial weights in both runs, so
    # they differ only by bfloat16's rounding of the forward passes (relative size eps per rounding, a few
    # per layer), not by a trajectory that rounding has pushed elsewhere.
    one = dataclasses.replace(tiny_config, num_steps=1, log_every=1)
    full = train(*make_models(), ring_data, one, device="cpu")
    generator, discriminator = make_models()
    half = train(generator, discriminator, ring_data, ganlib.with_changes(one, precision="bf16"), device="cpu")
    assert all(p.dtype == torch.float32 for p in generator.parameters())
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in discriminator.parameters())
    gap, loss = abs(half.history["d_loss"][0] - full.history["d_loss"][0]), full.history["d_loss"][0]
    layers = sum(isinstance(m, torch.nn.Linear) for m in (*generator.modules(), *discriminator.modules()))
    assert 0 < gap < layers * torch.finfo(torch.bfloat16).eps * loss, (gap, loss)  # rounded, and only that

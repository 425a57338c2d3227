"""ganlib.cyclegan: shapes, the cycle loss by hand, isolation of the two steps, a seeded run through
ganlib.train, bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import ganlib
from ganlib import cyclegan
from ganlib.variants.cyclegan import (CycleVariant, build_cyclegan, cycle_d_step, cycle_g_step, cycle_loss,
                                      identity_loss)
from ganlib.core.config import TrainConfig
from ganlib.core.losses import get_loss
from ganlib.core.utils import GanlibError

TINY = TrainConfig(num_steps=6, batch_size=16, log_every=3, seed=0, loss="lsgan", progress=False)


def _train(model, x, y, config=TINY, variant=CycleVariant(), **kwargs):
    return ganlib.train(model, None, (x, y), config, variant=variant, device="cpu", **kwargs)


def _points(seed, n=64, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g) + shift


def _model(seed=0, shape=(2,), **kwargs):
    torch.manual_seed(seed)
    return build_cyclegan(data_shape=shape, hidden=(16,), **kwargs)


def _optimizers(model):
    return (torch.optim.Adam(model.generators(), lr=1e-2), torch.optim.Adam(model.discriminators(), lr=1e-2))


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _unchanged(before, module):
    return all(torch.equal(a, b) for a, b in zip(before, module.parameters()))


@pytest.mark.parametrize("shape, act", [((2,), None), ((1, 14, 14), "tanh")])
def test_shapes_of_the_four_networks(shape, act):
    model = _model(shape=shape, out_activation=act)
    x = torch.rand(5, *shape) * 2 - 1
    assert model.g_xy(x).shape == x.shape and model.g_yx(x).shape == x.shape
    assert model.d_x(x).shape == (5,) and model.d_y(x).shape == (5,)
    if act == "tanh":
        assert model.g_xy(x * 100).abs().max() <= 1


def test_cycle_loss_by_hand():
    x = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    x_rec = torch.tensor([[0.5, 1.0], [1.0, 1.0]])
    # |0.5| + 0 + |-1| + |2| = 3.5 over 4 elements
    assert cycle_loss(x, x_rec).item() == pytest.approx(3.5 / 4)
    assert cycle_loss(x, x).item() == 0.0
    assert identity_loss(x, x_rec).item() == pytest.approx(3.5 / 4)


def test_g_loss_is_the_sum_of_its_terms_with_the_paper_weights():
    model = _model()
    x, y = _points(1, 8), _points(2, 8, shift=3.0)
    before = [_snapshot(m) for m in (model.g_xy, model.g_yx)]
    out = cycle_g_step(model, torch.optim.SGD(model.generators(), lr=0.0), x, y, get_loss("lsgan"),
                       cycle_weight=10.0, identity_weight=5.0)
    with torch.no_grad():  # recompute each term by hand from the unchanged networks (lr = 0)
        g, f = model.g_xy, model.g_yx
        adv = 0.5 * ((model.d_y(g(x)) - 1) ** 2).mean() + 0.5 * ((model.d_x(f(y)) - 1) ** 2).mean()
        cyc = (f(g(x)) - x).abs().mean() + (g(f(y)) - y).abs().mean()
        ide = (g(y) - y).abs().mean() + (f(x) - x).abs().mean()
    assert all(_unchanged(b, m) for b, m in zip(before, (model.g_xy, model.g_yx)))
    torch.testing.assert_close(out["adversarial"], adv)
    torch.testing.assert_close(out["cycle"], cyc)
    torch.testing.assert_close(out["identity"], ide)
    torch.testing.assert_close(out["g_loss"], adv + 10 * cyc + 5 * ide)


def test_a_d_step_changes_no_generator_weight_and_a_g_step_no_discriminator_weight():
    model = _model()
    opt_g, opt_d = _optimizers(model)
    x, y = _points(1, 16), _points(2, 16, shift=3.0)
    gens, discs = (model.g_xy, model.g_yx), (model.d_x, model.d_y)
    g_before, d_before = [_snapshot(m) for m in gens], [_snapshot(m) for m in discs]
    cycle_d_step(model, opt_d, x, y, get_loss("lsgan"))
    assert all(_unchanged(b, m) for b, m in zip(g_before, gens)), "D's step moved a translator"
    assert all(p.grad is None for p in model.generators()), "D's step needs no graph through the translators"
    assert not any(_unchanged(b, m) for b, m in zip(d_before, discs)), "D's step must move both discriminators"
    d_before = [_snapshot(m) for m in discs]
    cycle_g_step(model, opt_g, x, y, get_loss("lsgan"), cycle_weight=10.0)
    assert all(_unchanged(b, m) for b, m in zip(d_before, discs)), "G's step moved a discriminator"
    assert not any(_unchanged(b, m) for b, m in zip(g_before, gens)), "G's step must move both translators"
    assert all(p.requires_grad for p in model.parameters()), "the discriminators must be trainable again"


@pytest.mark.parametrize("loss", ["lsgan", "ns", "rsgan", "wgan-gp"])
def test_a_seeded_run_is_reproducible_and_logs_its_history(loss):
    config = dataclasses.replace(TINY, loss=loss)
    x, y = _points(1), _points(2, shift=3.0)
    runs = []
    for _ in range(2):
        model = _model(seed=3)
        history = _train(model, x, y, config).history
        runs.append((history, [p.detach().clone() for p in model.parameters()]))
    (h1, p1), (h2, p2) = runs
    assert set(h1) == {"step", *cyclegan.LOGGED, "seconds"}
    assert h1["step"] == [3.0, 6.0]
    assert h1["d_loss"] == h2["d_loss"] and h1["cycle"] == h2["cycle"]
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))
    other = _train(_model(seed=3), x, y, dataclasses.replace(config, seed=1)).history
    assert other["g_loss"] != h1["g_loss"], "another seed must draw other batches"


def test_a_continued_run_matches_one_long_run():
    x, y = _points(1), _points(2, shift=3.0)
    whole = _train(_model(seed=3), x, y)
    model = _model(seed=3)
    half = dataclasses.replace(TINY, num_steps=3)
    run = _train(model, x, y, half)
    run = ganlib.train(model, None, (x, y), half, variant=CycleVariant(), run=run)
    assert run.step == 6 and run.history["step"] == [3.0, 6.0]
    assert run.history["cycle"] == whole.history["cycle"]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), whole.generator.parameters()))


def test_the_cycle_term_lowers_the_round_trip_error():
    x, y = _points(1, 256), _points(2, 256, shift=3.0)
    model = _model(seed=0)
    config = TrainConfig(num_steps=150, batch_size=64, lr_g=2e-3, lr_d=2e-3, log_every=50, seed=0, loss="lsgan",
                         progress=False)
    history = _train(model, x, y, config).history
    assert history["cycle"][-1] < 0.5 * history["cycle"][0]


@pytest.mark.parametrize("call, match", [
    (lambda m, x, y: _train(m, x[:, :1], y), "x_data must have shape"),
    (lambda m, x, y: _train(m, x, y.long()), "y_data must be a floating-point"),
    (lambda m, x, y: _train(m, x, y.numpy()), "y_data must be a floating-point"),
    (lambda m, x, y: _train(m, x[:4], y), "batch_size 16 is larger"),
    (lambda m, x, y: _train(m, x * float("nan"), y), "NaN"),
    (lambda m, x, y: _train(m.g_xy, x, y), "must be a CycleGAN"),
    (lambda m, x, y: ganlib.train(m, m.d_x, (x, y), TINY, variant=CycleVariant()), "pass None as the discriminator"),
    (lambda m, x, y: ganlib.train(m, None, x, TINY, variant=CycleVariant()), "must be a pair"),
    (lambda m, x, y: _train(m, x, y, ganlib.with_changes(TINY, unroll_steps=2)), "does not support unroll_steps"),
    (lambda m, x, y: m.g_xy(x[:, :1]), "translator's input must have shape"),
    (lambda m, x, y: cycle_loss(x, x[:, :1]), "same shape|shape it started from"),
])
def test_bad_input_raises_a_readable_error(call, match):
    with pytest.raises(GanlibError, match=match):
        call(_model(), _points(1), _points(2))


@pytest.mark.parametrize("make, changes, match", [
    (TrainConfig, {"num_steps": 0}, "num_steps"), (CycleVariant, {"cycle_weight": -1.0}, "cycle_weight"),
    (CycleVariant, {"identity_weight": float("nan")}, "identity_weight"), (TrainConfig, {"lr_g": 0}, "lr_g"),
    (TrainConfig, {"loss": "cycle"}, "unknown loss"), (TrainConfig, {"betas": (0.5, 1.0)}, "betas"),
    (TrainConfig, {"seed": -1}, "seed"),
])
def test_bad_config_raises(make, changes, match):
    with pytest.raises(GanlibError, match=match):
        make(**changes)


def test_bad_model_options_raise():
    with pytest.raises(GanlibError, match="out_activation"):
        build_cyclegan(data_shape=(2,), out_activation="relu")
    with pytest.raises(GanlibError, match="data_shape"):
        build_cyclegan(data_shape=(0,))

"""ganlib.cyclegan: shapes, the cycle loss by hand, isolation of the two steps, a seeded run, bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ganlib import cyclegan
from ganlib.variants.cyclegan import (CycleConfig, build_cyclegan, cycle_d_step, cycle_g_step, cycle_loss, identity_loss,
                             train_cyclegan)
from ganlib.core.losses import get_loss
from ganlib.core.utils import GanlibError

TINY = CycleConfig(num_steps=6, batch_size=16, log_every=3, seed=0)


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
        history = train_cyclegan(model, x, y, config, device="cpu")
        runs.append((history, [p.detach().clone() for p in model.parameters()]))
    (h1, p1), (h2, p2) = runs
    assert set(h1) == set(cyclegan.CYCLE_HISTORY_KEYS)
    assert h1["step"] == [3.0, 6.0]
    assert h1["d_loss"] == h2["d_loss"] and h1["cycle"] == h2["cycle"]
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))
    other = train_cyclegan(_model(seed=3), x, y, dataclasses.replace(config, seed=1), device="cpu")
    assert other["g_loss"] != h1["g_loss"], "another seed must draw other batches"


def test_the_cycle_term_lowers_the_round_trip_error():
    x, y = _points(1, 256), _points(2, 256, shift=3.0)
    model = _model(seed=0)
    config = CycleConfig(num_steps=150, batch_size=64, lr=2e-3, log_every=50, seed=0)
    history = train_cyclegan(model, x, y, config, device="cpu")
    assert history["cycle"][-1] < 0.5 * history["cycle"][0]


@pytest.mark.parametrize("call, match", [
    (lambda m, x, y: train_cyclegan(m, x[:, :1], y, TINY), "x_data must have shape"),
    (lambda m, x, y: train_cyclegan(m, x, y.long(), TINY), "y_data must be a floating-point"),
    (lambda m, x, y: train_cyclegan(m, x, y.numpy(), TINY), "y_data must be a floating-point"),
    (lambda m, x, y: train_cyclegan(m, x[:4], y, TINY), "batch_size 16 is larger"),
    (lambda m, x, y: train_cyclegan(m, x * float("nan"), y, TINY), "NaN"),
    (lambda m, x, y: train_cyclegan(m.g_xy, x, y, TINY), "must be a CycleGAN"),
    (lambda m, x, y: train_cyclegan(m, x, y, {"num_steps": 3}), "must be a CycleConfig"),
    (lambda m, x, y: m.g_xy(x[:, :1]), "translator's input must have shape"),
    (lambda m, x, y: cycle_loss(x, x[:, :1]), "same shape|shape it started from"),
])
def test_bad_input_raises_a_readable_error(call, match):
    with pytest.raises(GanlibError, match=match):
        call(_model(), _points(1), _points(2))


@pytest.mark.parametrize("changes, match", [
    ({"num_steps": 0}, "num_steps"), ({"cycle_weight": -1.0}, "cycle_weight"),
    ({"identity_weight": float("nan")}, "identity_weight"), ({"lr": 0}, "lr"), ({"loss": "cycle"}, "unknown loss"),
    ({"betas": (0.5, 1.0)}, "betas"), ({"seed": -1}, "seed"),
])
def test_bad_config_raises(changes, match):
    with pytest.raises(GanlibError, match=match):
        CycleConfig(**changes)


def test_bad_model_options_raise():
    with pytest.raises(GanlibError, match="out_activation"):
        build_cyclegan(data_shape=(2,), out_activation="relu")
    with pytest.raises(GanlibError, match="data_shape"):
        build_cyclegan(data_shape=(0,))

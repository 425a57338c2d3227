"""Tests of ganlib.infogan: shapes, the codes' distributions, L_I by hand, which weights each step may
change (D and Q share a body), a seeded smoke run, checkpoints, the code-purity measures, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ganlib
from ganlib import build_models, seed_everything
from ganlib.core.checkpoint import load_generator, restore_run, save_checkpoint
from ganlib.eval.codes import code_grid, code_purity, matched_accuracy
from ganlib.variants.infogan import (INFO_HISTORY_KEYS, InfoGANDiscriminator, InfoGANGenerator,
                            info_loss, infogan_d_step, infogan_g_step, make_latent, recipe,
                            sample_codes)
from ganlib.core.losses import get_loss
from ganlib.core.config import TrainConfig
from ganlib.core.run import HISTORY_KEYS
from ganlib.core.utils import GanlibError

B = 8

def _train_infogan(generator, discriminator, data, config, *, lambda_cat=1.0, lambda_cont=1.0, **kwargs):
    """ganlib.train with the InfoGAN variant (the one training loop)."""
    return ganlib.train(generator, discriminator, data, config,
                        variant=ganlib.infogan.InfoGAN(lambda_cat=lambda_cat, lambda_cont=lambda_cont), **kwargs)



def _pair(seed=0, **kwargs):
    seed_everything(seed)
    return build_models("infogan", latent_dim=6, width=4, q_hidden=8, **kwargs)


def _config(**changes):
    return ganlib.with_changes(TrainConfig(num_steps=4, batch_size=8, log_every=2, progress=False), **changes)


@pytest.fixture(scope="module")
def digits():
    x, _ = ganlib.load_mnist()
    return x[:256]


def _params(module):
    return {k: p.detach().clone() for k, p in module.named_parameters()}


# --- shapes and codes -------------------------------------------------------------------------

def test_shapes_and_default_sizes():
    generator, discriminator = InfoGANGenerator(width=4), InfoGANDiscriminator(width=4)
    assert (generator.noise_dim, generator.num_categories, generator.num_continuous) == (62, 10, 2)
    assert generator.latent_dim == 62 + 10 + 2
    z = torch.randn(B, generator.latent_dim)
    x = generator(z)
    assert x.shape == (B, 1, 28, 28) and x.abs().max() <= 1
    assert discriminator(x).shape == (B,)
    logit, cat_logits, cont_mean = discriminator.discriminate(x)
    assert logit.shape == (B,) and cat_logits.shape == (B, 10) and cont_mean.shape == (B, 2)
    torch.testing.assert_close(logit, discriminator(x))  # one body, the same D verdict
    assert not ganlib.conditional.is_conditional(generator)  # takes no labels: the codes are in z


def test_codes_read_from_gaussian_z_have_the_prior_distributions():
    generator, _ = _pair()
    z = torch.randn(40_000, generator.latent_dim, generator=torch.Generator().manual_seed(0))
    noise, c_cat, c_cont = generator.split(z)
    assert torch.equal(noise, z[:, :6])
    shares = torch.bincount(c_cat, minlength=10).double() / len(z)
    assert (shares - 0.1).abs().max() < 0.01                       # uniform over the 10 categories
    assert c_cont.min() >= -1 and c_cont.max() <= 1
    for j in range(2):  # uniform on [-1, 1]: the deciles at -0.8, -0.6, ..., 0.8
        deciles = torch.quantile(c_cont[:, j], torch.linspace(0.1, 0.9, 9))
        assert (deciles - torch.linspace(-0.8, 0.8, 9)).abs().max() < 0.03


def test_sample_codes_has_the_prior_distributions_and_is_seeded():
    c_cat, c_cont = sample_codes(40_000, generator=torch.Generator().manual_seed(1))
    assert c_cat.dtype == torch.int64 and c_cat.shape == (40_000,) and c_cont.shape == (40_000, 2)
    assert (torch.bincount(c_cat, minlength=10) / 40_000 - 0.1).abs().max() < 0.01
    assert c_cont.min() >= -1 and c_cont.max() <= 1 and abs(float(c_cont.mean())) < 0.02
    assert abs(float(c_cont.var()) - 1 / 3) < 0.01
    again = sample_codes(40_000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again[0], c_cat) and torch.equal(again[1], c_cont)


def test_make_latent_round_trips_through_split_and_generate():
    generator, _ = _pair()
    generator.eval()
    noise = torch.randn(5, 6)
    c_cat = torch.tensor([0, 3, 9, 9, 1])
    c_cont = torch.tensor([[-1.0, 0.5], [0.0, 1.0], [0.25, -0.75], [0.9, -0.1], [1.0, -1.0]])
    z = make_latent(noise, c_cat, c_cont, 10)
    back = generator.split(z)
    assert torch.equal(back[0], noise) and torch.equal(back[1], c_cat)
    torch.testing.assert_close(back[2], c_cont, rtol=0, atol=1e-6)
    torch.testing.assert_close(generator(z), generator.generate(noise, c_cat, c_cont), rtol=0, atol=1e-5)


# --- the mutual-information term --------------------------------------------------------------

def test_info_loss_equals_a_hand_computed_value():
    cat_logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    c_cat = torch.tensor([0, 2])
    cont_mean = torch.tensor([[0.2], [-0.5]])
    c_cont = torch.tensor([[0.6], [0.5]])
    ce0 = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-1)))
    ce1 = -math.log(1 / (2 * math.exp(0.5) + 1))
    nll0 = 0.5 * 0.4 ** 2 + 0.5 * math.log(2 * math.pi)
    nll1 = 0.5 * 1.0 ** 2 + 0.5 * math.log(2 * math.pi)
    cat, cont = (ce0 + ce1) / 2, (nll0 + nll1) / 2
    got = info_loss(cat_logits, cont_mean, c_cat, c_cont)
    assert float(got) == pytest.approx(cat + cont, rel=1e-6)
    got = info_loss(cat_logits, cont_mean, c_cat, c_cont, lambda_cat=2.0, lambda_cont=0.1)
    assert float(got) == pytest.approx(2 * cat + 0.1 * cont, rel=1e-6)
    assert float(info_loss(cat_logits, cont_mean, c_cat, c_cont, lambda_cont=0.0)) == pytest.approx(cat, rel=1e-6)


def test_info_loss_is_smallest_when_q_reads_the_codes():
    c_cat, c_cont = sample_codes(64, generator=torch.Generator().manual_seed(0))
    perfect = info_loss(20 * torch.nn.functional.one_hot(c_cat, 10).float(), c_cont, c_cat, c_cont)
    blind = info_loss(torch.zeros(64, 10), torch.zeros(64, 2), c_cat, c_cont)
    assert float(perfect) == pytest.approx(2 * 0.5 * math.log(2 * math.pi), abs=1e-6)  # CE ~ 0, no error
    assert float(blind) > float(perfect) + math.log(10) - 1e-3


# --- which weights each step changes ----------------------------------------------------------

def test_g_step_changes_g_and_no_parameter_of_d_or_q(digits):
    generator, discriminator = _pair()
    g_before, d_before = _params(generator), _params(discriminator)
    out = infogan_g_step(generator, discriminator, torch.optim.Adam(generator.parameters(), lr=1e-2),
                         torch.randn(B, generator.latent_dim), get_loss("ns"))
    assert set(out) == {"g_loss", "info_loss"}
    for k, v in _params(discriminator).items():  # body, D head and Q head alike: Q learns in the D step
        assert torch.equal(v, d_before[k]), f"the G step changed {k}"
    assert all(p.requires_grad for p in discriminator.parameters())
    assert not torch.equal(generator.project[0].weight, g_before["project.0.weight"]), "G did not move"


def test_g_step_gradient_includes_the_info_term():
    generator, discriminator = _pair()
    z = torch.randn(B, generator.latent_dim)
    grads = []
    for lam in (0.0, 1.0):
        opt = torch.optim.SGD(generator.parameters(), lr=0.0)
        infogan_g_step(generator, discriminator, opt, z, get_loss("ns"), lambda_cat=lam, lambda_cont=lam)
        grads.append(generator.project[0].weight.grad.clone())
    assert not torch.allclose(grads[0], grads[1])


def test_d_step_trains_body_d_head_and_q_head_and_no_generator_parameter(digits):
    generator, discriminator = _pair()
    g_before, d_before = _params(generator), _params(discriminator)
    out = infogan_d_step(generator, discriminator, torch.optim.Adam(discriminator.parameters(), lr=1e-2),
                         digits[:B], torch.randn(B, generator.latent_dim), get_loss("ns"))
    assert set(out) == {"d_loss", "d_real", "d_fake", "info_loss", "mi_cat"}
    for k, v in _params(generator).items():
        assert torch.equal(v, g_before[k]), f"the D step changed generator parameter {k}"
    changed = {k for k, v in _params(discriminator).items() if not torch.equal(v, d_before[k])}
    assert "net.0.weight" in changed and "net.6.weight" in changed and "q.3.weight" in changed


def test_q_head_learns_from_the_info_term_only_and_the_body_from_both(digits):
    generator, discriminator = _pair()
    z = torch.randn(B, generator.latent_dim)
    opt = torch.optim.SGD(discriminator.parameters(), lr=0.0)
    infogan_d_step(generator, discriminator, opt, digits[:B], z, get_loss("ns"), lambda_cat=0.0, lambda_cont=0.0)
    assert discriminator.q[3].weight.grad.abs().max() == 0  # no L_I: Q's head gets nothing
    body_gan_only = discriminator.net[0].weight.grad.clone()
    infogan_d_step(generator, discriminator, opt, digits[:B], z, get_loss("ns"))
    assert discriminator.q[3].weight.grad.abs().max() > 0
    assert not torch.allclose(discriminator.net[0].weight.grad, body_gan_only)  # L_I reaches the shared body


# --- the loop, checkpoints, CLI-facing pieces -------------------------------------------------

def _history(run):
    return {k: v for k, v in run.history.items() if k != "seconds"}


def test_seeded_smoke_run_is_reproducible_and_records_the_info_loss(digits):
    runs = []
    for seed in (0, 0, 1):
        generator, discriminator = _pair()
        runs.append(_train_infogan(generator, discriminator, digits, _config(seed=seed), device="cpu"))
    assert set(runs[0].history) == set(HISTORY_KEYS) | set(INFO_HISTORY_KEYS)
    assert runs[0].history["step"] == [2.0, 4.0]
    assert all(math.isfinite(v) for vals in runs[0].history.values() for v in vals)
    assert all(v > 0 for v in runs[0].history["info_loss"])
    assert _history(runs[0]) == _history(runs[1])
    for p, q in zip(runs[0].generator.parameters(), runs[1].generator.parameters()):
        assert torch.equal(p, q)
    assert _history(runs[0]) != _history(runs[2])
    assert runs[0].model_spec["name"] == "infogan"


def test_checkpoint_round_trip_sample_and_continue(digits, tmp_path):
    generator, discriminator = _pair()
    straight = _train_infogan(generator, discriminator, digits, _config(num_steps=4), device="cpu")
    g2, d2 = _pair()
    half = _train_infogan(g2, d2, digits, _config(num_steps=2), device="cpu")
    path = save_checkpoint(tmp_path / "ckpt.pt", half)
    loaded = load_generator(path)
    assert isinstance(loaded, InfoGANGenerator)
    torch.testing.assert_close(ganlib.sample(loaded, 6, seed=3), ganlib.sample(g2, 6, seed=3), rtol=0, atol=0)
    run = restore_run(path, device="cpu")
    assert isinstance(run.discriminator, InfoGANDiscriminator)
    assert set(run.history) == set(HISTORY_KEYS) | set(INFO_HISTORY_KEYS)
    run = _train_infogan(run.generator, run.discriminator, digits, _config(num_steps=2), run=run)
    assert _history(run) == _history(straight)  # 2 + 2 steps == 4 steps, bit for bit
    for p, q in zip(run.generator.parameters(), straight.generator.parameters()):
        assert torch.equal(p, q)


def test_code_grid_rows_are_categories_and_columns_sweep_one_code():
    generator, _ = _pair()
    grid = code_grid(generator, continuous_index=1, num_columns=5, seed=0)
    assert grid.shape == (50, 1, 28, 28)
    noise = torch.randn(1, 6, generator=ganlib.rng(0))  # code_grid seeds as ganlib does (GANLIB_SEED_OFFSET)
    generator.eval()
    with torch.no_grad():  # row 3, last column: category 3, c_cont = (0, 1)
        expected = generator.generate(noise, torch.tensor([3]), torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(grid[3 * 5 + 4], expected[0], rtol=0, atol=1e-6)
    assert generator.training is False  # left as it was (eval)
    generator.train()
    code_grid(generator, continuous_index=None, num_columns=3)
    assert generator.training
    assert code_grid(generator, continuous_index=None, num_columns=3).shape == (30, 1, 28, 28)


def test_matched_accuracy_and_purity_on_hand_made_shares(monkeypatch):
    assert matched_accuracy(np.eye(10)[np.random.default_rng(0).permutation(10)]) == 1.0
    assert matched_accuracy(np.eye(10)[[4] * 10]) == pytest.approx(0.1)  # one digit for every code
    shares = np.array([[0.6, 0.4, 0.0], [0.7, 0.3, 0.0]])
    assert matched_accuracy(shares) == pytest.approx((0.4 + 0.7) / 2)   # code 0 -> class 1, code 1 -> class 0
    assert matched_accuracy(np.array([[0.5, 0.5], [0.9, 0.1]])) == pytest.approx((0.5 + 0.9) / 2)
    # code_purity on a generator whose samples the classifier reads as "code value mod 3"
    generator, _ = _pair()
    import ganlib.eval.metrics as metrics_mod

    def fake_features(images):
        n = len(images)
        labels = np.repeat(np.arange(10) % 3, n // 10)
        return None, np.eye(10)[labels]

    monkeypatch.setattr(metrics_mod, "mnist_features", fake_features)
    result = code_purity(generator, n_per_category=4)
    assert result["purity"] == 1.0 and result["distinct_classes"] == 3.0
    assert result["matched_accuracy"] == pytest.approx(0.3)


def test_recipe_and_build_models_spec():
    plan = recipe("mnist", num_steps=7)
    assert plan.model["name"] == "infogan" and plan.config.num_steps == 7
    generator, discriminator = build_models(**plan.model)
    assert isinstance(generator, InfoGANGenerator) and generator.noise_dim == 62


# --- bad input --------------------------------------------------------------------------------

def test_bad_inputs_raise_ganlib_error(digits):
    generator, discriminator = _pair()
    with pytest.raises(GanlibError, match="positive integer"):
        sample_codes(0)
    with pytest.raises(GanlibError, match="num_categories"):
        InfoGANGenerator(num_categories=1)
    with pytest.raises(GanlibError, match=r"\[-1, 1\]"):
        make_latent(torch.zeros(1, 6), torch.tensor([0]), torch.tensor([[1.5, 0.0]]), 10)
    with pytest.raises(GanlibError, match="categories must lie"):
        generator.generate(torch.zeros(1, 6), torch.tensor([10]), torch.zeros(1, 2))
    with pytest.raises(GanlibError, match="c_cont"):
        generator.generate(torch.zeros(1, 6), torch.tensor([1]), torch.zeros(1, 3))
    with pytest.raises(GanlibError, match="expects z of shape"):
        generator(torch.zeros(2, 6))
    with pytest.raises(GanlibError, match="lambda_cat"):
        info_loss(torch.zeros(1, 10), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), torch.zeros(1, 2),
                  lambda_cat=-1.0)
    with pytest.raises(GanlibError, match="do not fit"):
        info_loss(torch.zeros(2, 10), torch.zeros(2, 2), torch.zeros(3, dtype=torch.long), torch.zeros(2, 2))
    with pytest.raises(GanlibError, match="28x28"):
        build_models("infogan", data_shape=(2,))
    with pytest.raises(GanlibError, match="only set up for mnist"):
        recipe("ring")
    with pytest.raises(GanlibError, match="InfoGANGenerator"):
        _train_infogan(*build_models("dcgan", width=4), digits, _config())
    with pytest.raises(GanlibError, match="code sizes"):
        _train_infogan(generator, build_models("infogan", width=4, num_categories=5)[1], digits, _config())
    with pytest.raises(GanlibError, match="wgan-gp"):
        _train_infogan(generator, discriminator, digits, _config(loss="wgan-gp"))
    with pytest.raises(GanlibError, match="rsgan"):
        _train_infogan(generator, discriminator, digits, _config(loss="rsgan"))
    with pytest.raises(GanlibError, match="unroll_steps"):
        _train_infogan(generator, discriminator, digits, _config(unroll_steps=1))
    with pytest.raises(GanlibError, match="lambda_cont"):
        _train_infogan(generator, discriminator, digits, _config(), lambda_cont=float("nan"))
    with pytest.raises(GanlibError, match="continuous_index"):
        code_grid(generator, continuous_index=2)
    with pytest.raises(GanlibError, match="InfoGANGenerator"):
        code_grid(build_models("dcgan", width=4)[0])
    with pytest.raises(GanlibError, match="at most as many codes"):
        matched_accuracy(np.ones((11, 10)) / 10)


# --- the pretrained generator (scripts/train_infogan.py) ------------------------------------------

def test_pretrained_weights_match_their_hash_and_record():
    from ganlib import infogan
    from ganlib.eval.metrics import file_sha256

    assert file_sha256(infogan.PRETRAINED_PATH) == infogan.PRETRAINED_SHA256 == infogan.pretrained_info()["sha256"]


def test_pretrained_generator_reproduces_its_recorded_code_purity():
    from ganlib import infogan

    generator = infogan.load_pretrained()
    assert isinstance(generator, InfoGANGenerator) and not generator.training
    record = infogan.pretrained_info()["final"]
    measured = code_purity(generator, n_per_category=infogan.pretrained_info()["eval_samples_per_value"])
    for key in ("matched_accuracy", "purity", "distinct_classes"):
        assert measured[key] == pytest.approx(record[key], abs=0.02), key


def test_corrupt_pretrained_weights_are_refused(tmp_path, monkeypatch):
    from ganlib import infogan

    bad = tmp_path / "infogan_generator.pt"
    data = bytearray(infogan.PRETRAINED_PATH.read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(infogan, "PRETRAINED_PATH", bad)
    with pytest.raises(GanlibError, match="SHA-256"):
        infogan.load_pretrained()
    bad.unlink()
    with pytest.raises(GanlibError, match="not found"):
        infogan.load_pretrained()


# --- style measures -------------------------------------------------------------------------------

def _blank(n=1):
    return -torch.ones(n, 1, 28, 28)


def test_stroke_moments_on_drawn_strokes():
    from ganlib.eval.codes import stroke_moments

    strokes = _blank(4)
    for i in range(20):                      # "/" : up and to the right (y grows downwards)
        strokes[0, 0, 23 - i, 4 + i] = 1
        strokes[1, 0, 4 + i, 4 + i] = 1      # "\\"
    strokes[2, 0, 12:16, 10:18] = 1          # a short thick bar
    strokes[3, 0, 12:16, 4:24] = 1           # a long thick bar: wider, more ink
    m = stroke_moments(strokes)
    assert m["slant"][0] == pytest.approx(-1.0) and m["slant"][1] == pytest.approx(1.0)
    assert m["slant"][2] == pytest.approx(0.0) and m["width"][3] > 2 * m["width"][2]
    assert m["ink"][3] == pytest.approx(2.5 * m["ink"][2])
    with pytest.raises(GanlibError, match="shape"):
        stroke_moments(torch.zeros(2, 28, 28))


class _BarGenerator(InfoGANGenerator):
    """A stand-in whose bar gets wider with continuous code 0 and ignores code 1."""

    def generate(self, noise, c_cat, c_cont):
        images = _blank(len(noise))
        for i, c in enumerate(c_cont[:, 0].tolist()):
            half = 2 + round(5 * (c + 1))        # 2 .. 12 pixels each side of the centre
            images[i, 0, 12:16, max(0, 14 - half):14 + half] = 1
        return images


def test_continuous_code_effect_finds_the_code_that_controls_width():
    from ganlib.eval.codes import continuous_code_effect

    generator = _BarGenerator(width=4)
    width_code = continuous_code_effect(generator, 0, n=4, num_values=5)
    assert width_code["width"]["rank_corr"] == pytest.approx(1.0) and width_code["width"]["change"] > 1
    assert width_code["ink"]["rank_corr"] == pytest.approx(1.0)
    idle_code = continuous_code_effect(generator, 1, n=4, num_values=5)
    assert idle_code["width"] == {"rank_corr": 0.0, "change": 0.0}
    with pytest.raises(GanlibError, match="index"):
        continuous_code_effect(generator, 2)

"""Conditional DCGAN (ganlib.conditional) and train(..., labels=): shapes, labels reach both players,
the unconditional path is unchanged, reproducibility, bad labels get clear errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import ganlib
from ganlib.core.utils import GanlibError

WIDTH, LATENT = 4, 8  # tiny networks: a few steps in well under a second


@pytest.fixture
def digits(mnist):
    x, y = mnist
    return x[:256], y[:256]


def _pair(name="cdcgan", seed=0):
    ganlib.seed_everything(seed)
    return ganlib.build_models(name, latent_dim=LATENT, width=WIDTH)


def test_shapes_and_that_the_label_changes_the_output():
    generator, discriminator = _pair()
    generator.eval()
    z = torch.randn(3, LATENT).repeat(2, 1)
    y = torch.tensor([0, 0, 0, 7, 7, 7])
    x = generator(z, y)
    assert x.shape == (6, 1, 28, 28) and discriminator(x, y).shape == (6,)
    assert not torch.allclose(x[:3], x[3:]), "the same noise with another label gives another image"
    d0, d7 = discriminator(x, torch.zeros(6, dtype=torch.long)), discriminator(x, torch.full((6,), 7))
    assert not torch.allclose(d0, d7), "D's verdict depends on the label it is told"


@pytest.mark.parametrize("bad,match", [
    (torch.tensor([0.0, 1.0, 2.0]), "integer"),
    (torch.tensor([0, 1, 10]), r"\[0, 10\)"),
    (torch.tensor([0, 1]), "expected 3 labels"),
    (torch.tensor([[0, 1, 2]]), "1-D"),
])
def test_bad_labels_are_refused(bad, match):
    generator, _ = _pair()
    with pytest.raises(GanlibError, match=match):
        generator(torch.randn(3, LATENT), bad)


def test_conditional_training_is_reproducible_and_uses_the_labels(digits, tiny_config, state_copy,
                                                                   assert_same_state, monkeypatch):
    x, y = digits
    config = dataclasses.replace(tiny_config, num_steps=6, log_every=3)
    seen = []
    runs = []
    for i in range(2):
        generator, discriminator = _pair()
        if i == 0:
            forward = type(discriminator).forward
            monkeypatch.setattr(type(discriminator), "forward",
                                lambda self, xx, yy: seen.append(yy.clone()) or forward(self, xx, yy))
        runs.append(ganlib.train(generator, discriminator, x, config, labels=y, device="cpu"))
        monkeypatch.undo()
    assert_same_state(state_copy(runs[0].generator), state_copy(runs[1].generator))
    assert len(seen) == 6 * 3  # per step: D on real and fake, then D in G's step
    real_labels = seen[0]
    assert set(real_labels.tolist()) <= set(y.tolist()) and len(set(seen[1].tolist())) > 1
    samples = ganlib.sample(runs[0].generator, 20, seed=0)
    assert samples.shape == (20, 1, 28, 28)
    again = ganlib.sample(runs[0].generator, 20, seed=0, labels=torch.arange(20) % 10)
    assert torch.equal(samples, again), "default labels cycle through the classes"


def test_reusing_the_fakes_keeps_their_labels_for_gs_step(digits, tiny_config, monkeypatch):
    x, y = digits
    generator, discriminator = _pair()
    seen = []
    forward = type(discriminator).forward
    monkeypatch.setattr(type(discriminator), "forward",
                        lambda self, xx, yy: seen.append(yy.clone()) or forward(self, xx, yy))
    config = ganlib.with_changes(tiny_config, num_steps=3, log_every=3, reuse_fakes=True)
    ganlib.train(generator, discriminator, x, config, labels=y, device="cpu")
    assert len(seen) == 3 * 3  # per step: D on real and fake, then D in G's step
    for step in range(3):  # G's step judges the D step's fakes as the classes they were drawn for
        assert torch.equal(seen[3 * step + 2], seen[3 * step + 1])


def test_labels_must_match_the_model(digits, tiny_config):
    x, y = digits
    generator, discriminator = _pair()
    with pytest.raises(GanlibError, match="needs labels"):
        ganlib.train(generator, discriminator, x, tiny_config, device="cpu")
    with pytest.raises(GanlibError, match="expected 256 labels"):
        ganlib.train(generator, discriminator, x, tiny_config, labels=y[:10], device="cpu")
    plain_g, plain_d = _pair("dcgan")
    with pytest.raises(GanlibError, match="not conditional"):
        ganlib.train(plain_g, plain_d, x, tiny_config, labels=y, device="cpu")
    with pytest.raises(GanlibError, match="not conditional"):
        ganlib.sample(plain_g, 4, labels=torch.zeros(4, dtype=torch.long))


def test_the_spectrally_normalized_conditional_pair_trains(digits, tiny_config):
    x, y = digits
    generator, discriminator = _pair("cdcgan-sn")
    run = ganlib.train(generator, discriminator, x, dataclasses.replace(tiny_config, num_steps=3, log_every=3,
                                                                        loss="hinge"), labels=y, device="cpu")
    assert run.step == 3 and all(torch.isfinite(torch.tensor(run.history["d_loss"])))

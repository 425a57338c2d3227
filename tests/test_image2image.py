"""Tests of ganlib.image2image: shapes, the helpers, player isolation, determinism, L1 learning, contracts."""

from __future__ import annotations

import copy

import pytest
import torch

import ganlib
from ganlib import image2image as i2i
from ganlib.core.losses import get_loss
from ganlib.core.utils import GanlibError, seed_everything

B = 4  # batch size for shape tests


@pytest.fixture(autouse=True)
def _seed():
    seed_everything(0)


def _pairs(n: int = 64, seed: int = 0):
    """Toy targets (a bright square on a dark page) and their 4x-downsampled, upsampled conditions."""
    rng = torch.Generator().manual_seed(seed)
    targets = -torch.ones(n, 1, 28, 28)
    for k, (r, c) in enumerate(torch.randint(4, 16, (n, 2), generator=rng).tolist()):
        targets[k, :, r:r + 8, c:c + 8] = 1.0
    return i2i.bicubic_upsample(i2i.downsample(targets, 4)), targets


def _train(generator, discriminator, inputs, targets, *, l1_weight=100.0, adv_weight=1.0, lr=2e-4, **config):
    """``ganlib.train`` with :class:`~ganlib.image2image.Image2ImageVariant` on the CPU; returns the history."""
    config = ganlib.TrainConfig(lr_g=lr, lr_d=lr, progress=False, **config)
    variant = i2i.Image2ImageVariant(l1_weight=l1_weight, adv_weight=adv_weight)
    return ganlib.train(generator, discriminator, (inputs, targets), config, variant=variant, device="cpu").history


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


# --- shapes and helpers ------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 2])
def test_shapes(channels):
    generator = i2i.Image2ImageGenerator(in_channels=channels)
    discriminator = i2i.PatchDiscriminator(in_channels=channels)
    condition = torch.rand(B, channels, 28, 28) * 2 - 1
    x = generator(condition)
    assert x.shape == (B, 1, 28, 28) and x.abs().max() <= 1
    assert discriminator(condition, x).shape == (B, 49)


def test_downsample_and_bicubic_upsample():
    x = torch.rand(B, 1, 28, 28) * 2 - 1
    small = i2i.downsample(x, 4)
    assert small.shape == (B, 1, 7, 7)
    torch.testing.assert_close(small[:, :, 0, 0], x[:, :, :4, :4].mean(dim=(-1, -2)))
    up = i2i.bicubic_upsample(small)
    assert up.shape == (B, 1, 28, 28) and up.min() >= -1 and up.max() <= 1
    flat = torch.full((2, 1, 7, 7), 0.3)
    torch.testing.assert_close(i2i.bicubic_upsample(flat), torch.full((2, 1, 28, 28), 0.3))


def test_random_mask_has_one_square_hole():
    masks = i2i.random_mask(50, hole=10, generator=torch.Generator().manual_seed(0))
    assert masks.shape == (50, 1, 28, 28)
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    assert torch.all((1 - masks).sum(dim=(1, 2, 3)) == 100)
    again = i2i.random_mask(50, hole=10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(masks, again)


def test_mask_condition_hides_the_missing_pixels():
    x = torch.rand(B, 1, 28, 28) * 2 - 1
    mask = i2i.random_mask(B, hole=14)
    condition = i2i.mask_condition(x, mask)
    assert condition.shape == (B, 2, 28, 28)
    assert torch.equal(condition[:, 1:], mask)
    assert torch.all(condition[:, :1][mask == 0] == i2i.MASK_FILL)
    assert torch.equal(condition[:, :1][mask == 1], x[mask == 1])


def test_psnr_matches_the_formula():
    x = torch.zeros(2, 1, 28, 28)
    y = torch.stack([torch.full((1, 28, 28), 0.1), torch.full((1, 28, 28), 0.2)])
    expected = (10 * torch.log10(torch.tensor(4 / 0.01)) + 10 * torch.log10(torch.tensor(4 / 0.04))) / 2
    assert i2i.psnr(x, y) == pytest.approx(float(expected), rel=1e-6)


# --- the training step -------------------------------------------------------------------------

def _players_and_batch():
    inputs, targets = _pairs(16)
    generator, discriminator = i2i.Image2ImageGenerator(), i2i.PatchDiscriminator()
    return generator, discriminator, inputs[:8], targets[:8]


def test_d_step_changes_d_and_leaves_g_alone():
    generator, discriminator, condition, x_real = _players_and_batch()
    g0, d0 = _state(generator), _state(discriminator)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-2)
    d_loss = i2i.d_step(generator, discriminator, opt_d, condition, x_real, get_loss("ns"))
    assert d_loss.dim() == 0 and torch.isfinite(d_loss)
    assert _same(_state(generator), g0) and all(p.grad is None for p in generator.parameters())
    assert not _same(_state(discriminator), d0)


def test_g_step_changes_g_and_leaves_d_alone():
    generator, discriminator, condition, x_real = _players_and_batch()
    discriminator.net[0].bias.requires_grad_(False)  # a layer frozen on purpose must stay frozen
    g0, d0 = _state(generator), _state(discriminator)
    flags = [p.requires_grad for p in discriminator.parameters()]
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-2)
    g_adv, g_l1 = i2i.g_step(generator, discriminator, opt_g, condition, x_real, get_loss("ns"),
                             l1_weight=10.0, adv_weight=1.0)
    assert g_adv > 0 and g_l1 > 0
    assert not _same(_state(generator), g0)
    assert _same(_state(discriminator), d0) and all(p.grad is None for p in discriminator.parameters())
    assert [p.requires_grad for p in discriminator.parameters()] == flags


def test_l1_only_g_step_needs_no_discriminator():
    generator, _, condition, x_real = _players_and_batch()
    with torch.no_grad():
        expected = (generator(condition) - x_real).abs().mean()
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-2)
    g_adv, g_l1 = i2i.g_step(generator, None, opt_g, condition, x_real, get_loss("ns"),
                             l1_weight=1.0, adv_weight=0.0)
    assert g_adv == 0
    torch.testing.assert_close(g_l1, expected)


def test_same_seed_same_result():
    inputs, targets = _pairs(32)
    generator, discriminator = i2i.Image2ImageGenerator(), i2i.PatchDiscriminator()
    runs = []
    for _ in range(2):
        g, d = copy.deepcopy(generator), copy.deepcopy(discriminator)
        history = _train(g, d, inputs, targets, num_steps=4, batch_size=8, seed=5, log_every=2)
        runs.append((history, _state(g), _state(d)))
    (h1, g1, d1), (h2, g2, d2) = runs
    assert h1["g_l1"] == h2["g_l1"] and h1["d_loss"] == h2["d_loss"] and h1["step"] == [2, 4]
    assert _same(g1, g2) and _same(d1, d2)


def test_l1_only_training_reduces_the_l1_error():
    inputs, targets = _pairs(64)
    generator = i2i.Image2ImageGenerator(width=8)
    with torch.no_grad():
        before = (generator(inputs) - targets).abs().mean().item()
    history = _train(generator, None, inputs, targets, num_steps=60, batch_size=16, lr=3e-3,
                     l1_weight=1.0, adv_weight=0.0, log_every=20)
    with torch.no_grad():
        after = (generator(inputs) - targets).abs().mean().item()
    assert after < 0.6 * before, (before, after)
    assert history["d_loss"] == [0.0, 0.0, 0.0] and history["g_adv"] == [0.0, 0.0, 0.0]


# --- contracts ---------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors():
    inputs, targets = _pairs(8)
    generator, discriminator = i2i.Image2ImageGenerator(), i2i.PatchDiscriminator()
    with pytest.raises(GanlibError, match="upsample it with bicubic_upsample"):
        generator(torch.zeros(2, 1, 7, 7))
    with pytest.raises(GanlibError, match=r"shape \(B, 2, 28, 28\)"):
        i2i.Image2ImageGenerator(in_channels=2)(torch.zeros(2, 1, 28, 28))
    with pytest.raises(GanlibError, match="batches differ"):
        discriminator(torch.zeros(2, 1, 28, 28), torch.zeros(3, 1, 28, 28))
    with pytest.raises(GanlibError, match="dividing 28"):
        i2i.downsample(targets, 3)
    with pytest.raises(GanlibError, match="hole"):
        i2i.random_mask(2, hole=40)
    with pytest.raises(GanlibError, match="same shape"):
        i2i.psnr(targets, targets[:2])
    train = dict(num_steps=1, batch_size=4)
    with pytest.raises(GanlibError, match="pair up"):
        _train(generator, discriminator, inputs, targets[:6], **train)
    with pytest.raises(GanlibError, match="needs a discriminator"):
        _train(generator, None, inputs, targets, **train)
    with pytest.raises(GanlibError, match="both 0"):
        _train(generator, discriminator, inputs, targets, l1_weight=0, adv_weight=0, **train)
    with pytest.raises(GanlibError, match="larger than the data"):
        _train(generator, discriminator, inputs, targets, **{**train, "batch_size": 9})
    with pytest.raises(GanlibError, match=r"\[-1, 1\]"):
        _train(generator, discriminator, inputs, (targets + 1) * 127.5, **train)
    with pytest.raises(GanlibError, match="num_steps"):
        _train(generator, discriminator, inputs, targets, **{**train, "num_steps": 0})
    with pytest.raises(GanlibError, match="must be a pair"):
        ganlib.train(generator, discriminator, inputs, ganlib.TrainConfig(batch_size=4),
                     variant=i2i.Image2ImageVariant(), device="cpu")
    with pytest.raises(GanlibError, match="does not support loss 'wgan-gp'"):
        _train(generator, discriminator, inputs, targets, loss="wgan-gp", **train)

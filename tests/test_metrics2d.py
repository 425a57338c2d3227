"""Tests for ganlib.metrics2d: the VEEGAN / PacGAN mode metrics on the 2-D ring and grid."""

import math

import numpy as np
import pytest
import torch

from ganlib.core.data import TOY_STD, grid_means, ring_means, sample_toy
from ganlib.eval.metrics2d import evaluate_points, mode_metrics, nearest_modes
from ganlib.core.utils import GanlibError

MEANS = {"ring": ring_means, "grid": grid_means}


def hits(dataset: str, modes: list[int], per_mode: int = 100, seed: int = 0) -> np.ndarray:
    """``per_mode`` points on each listed mode, every one within 1 sigma of its mean: all HQ."""
    rng = np.random.default_rng(seed)
    means = MEANS[dataset]().numpy()[modes]                               # (k, 2)
    angle = rng.uniform(0, 2 * np.pi, (len(modes), per_mode))
    radius = TOY_STD[dataset] * rng.uniform(0, 1, (len(modes), per_mode))
    offset = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    return (means[:, None, :] + offset).reshape(-1, 2)                   # (k * per_mode, 2)


@pytest.mark.parametrize("dataset,k", [("ring", 1), ("ring", 3), ("ring", 8), ("grid", 1),
                                       ("grid", 7), ("grid", 25)])
def test_a_sampler_hitting_k_modes_gets_modes_k_and_all_hq(dataset, k):
    out = evaluate_points(hits(dataset, list(range(k))), dataset)
    assert out["modes"] == k
    assert out["hq_fraction"] == 1.0
    assert out["total_modes"] == len(MEANS[dataset]())


@pytest.mark.parametrize("dataset", ["ring", "grid"])
def test_even_hits_give_zero_reverse_kl_and_one_mode_gives_log_k(dataset):
    num_modes = len(MEANS[dataset]())
    even = hits(dataset, list(range(num_modes)))
    assert evaluate_points(even, dataset)["reverse_kl"] == pytest.approx(0, abs=1e-12)
    assert evaluate_points(hits(dataset, [0]), dataset)["reverse_kl"] == pytest.approx(math.log(num_modes))


def test_reverse_kl_matches_the_formula():
    # 300 HQ points on mode 0, 100 on mode 5 of the ring: p_hat = (3/4, 1/4) over K = 8 modes
    points = np.concatenate([hits("ring", [0], 300), hits("ring", [5], 100)])
    expected = 0.75 * math.log(8 * 0.75) + 0.25 * math.log(8 * 0.25)
    assert mode_metrics(points, "ring") == (2, 1.0, pytest.approx(expected))


def test_real_samples_cover_every_mode_with_the_gaussian_hq_rate():
    # within 3 sigma of a 2-D isotropic Gaussian: P(chi2_2 <= 9) = 1 - exp(-4.5) = 0.989
    for dataset in ("ring", "grid"):
        points = sample_toy(dataset, 2500, generator=torch.Generator().manual_seed(1))
        out = evaluate_points(points, dataset)
        assert out["modes"] == len(MEANS[dataset]())
        assert out["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
        assert out["reverse_kl"] < 0.03


def test_points_far_from_every_mode_are_not_hq():
    # the grid's modes are 2 apart: (1, 1) + small noise is ~1.41 from the nearest, far beyond 3 sigma
    points = np.array([1.0, 1.0]) + 0.01 * np.random.default_rng(0).standard_normal((500, 2))
    out = evaluate_points(points, "grid")
    assert (out["hq_fraction"], out["modes"]) == (0.0, 0.0)
    assert out["reverse_kl"] == pytest.approx(math.log(25))  # the convention: worst value
    assert evaluate_points(np.zeros((50, 2)), "ring")["hq_fraction"] == 0.0  # the ring's centre


def test_the_hq_radius_is_three_sigma():
    sigma = TOY_STD["ring"]  # 3, not HQ_STDS: the papers' number, so a changed constant fails here
    inside = np.tile([1 + 2.99 * sigma, 0.0], (20, 1))
    outside = np.tile([1 + 3.01 * sigma, 0.0], (20, 1))
    assert evaluate_points(inside, "ring")["hq_fraction"] == 1.0
    assert evaluate_points(outside, "ring")["hq_fraction"] == 0.0


def test_nearest_modes_finds_the_right_mean():
    means = grid_means().numpy()
    index, distance = nearest_modes(means[[3, 17, 24]] + 0.1, "grid")
    assert index.tolist() == [3, 17, 24]
    assert np.allclose(distance, math.sqrt(0.02))


def test_numpy_and_torch_inputs_agree():
    points = hits("grid", [0, 4, 9])
    assert evaluate_points(points, "grid") == evaluate_points(torch.from_numpy(points).float(), "grid")


@pytest.mark.parametrize("bad,match", [
    (np.full((100, 2), np.nan), "finite"),
    (np.zeros((100, 3)), r"\(N, 2\)"),
    (np.zeros(100), r"\(N, 2\)"),
    (np.zeros((3, 2)), "at least"),
    (np.array([["a", "b"]] * 20), "numbers"),
])
def test_bad_points_raise_a_clear_error(bad, match):
    with pytest.raises(GanlibError, match=match):
        evaluate_points(bad, "ring")


def test_unknown_dataset_raises():
    with pytest.raises(GanlibError, match="ring"):
        evaluate_points(np.zeros((100, 2)), "spiral")

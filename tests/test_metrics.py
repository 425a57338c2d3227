"""Tests for ganlib.metrics: the bundled MNIST classifier (ganlib.eval.classifier) and the image metrics built on it."""

import math
import shutil

import numpy as np
import pytest
import torch

from ganlib import metrics
from ganlib.eval import classifier
from ganlib.eval.metrics import (CLASSIFIER_PATH, CLASSIFIER_SHA256, MIN_SAMPLES, class_coverage,
                            class_kl, classifier_info, classifier_split, evaluate, evaluate_images,
                            frechet_distance, inception_score, kid, load_classifier, mnist_features,
                            precision_recall)
from ganlib.core.utils import GanlibError

MAX_WEIGHTS_BYTES = 1_000_000  # the weights ship inside the package: keep them small


@pytest.fixture(scope="module")
def mnist():
    """All 5 000 offline digits, labels, and the classifier's train / held-out indices (parsed once)."""
    return classifier._split_mnist()


@pytest.fixture(scope="module")
def heldout_outputs(mnist):
    """Features, probabilities and labels of the 1 000 held-out digits."""
    x, y, _, heldout = mnist
    return (*mnist_features(x[heldout]), y[heldout].numpy())


# --- the classifier and its weights -------------------------------------------------------------

def test_bundled_weights_match_their_hash_and_record():
    assert metrics.file_sha256(CLASSIFIER_PATH) == CLASSIFIER_SHA256 == classifier_info()["sha256"]
    assert CLASSIFIER_PATH.stat().st_size < MAX_WEIGHTS_BYTES


def test_split_is_stratified_disjoint_and_the_one_recorded(mnist):
    _, y, train, heldout = mnist
    assert (len(train), len(heldout)) == (4000, 1000)
    assert not set(train.tolist()) & set(heldout.tolist())
    assert torch.bincount(y[heldout]).tolist() == [100] * 10
    assert heldout.tolist() == classifier_info()["heldout_indices"]
    assert torch.equal(classifier_split(y)[1], heldout)  # same seed, same split


def test_heldout_accuracy_is_at_least_97_percent(heldout_outputs):
    _, probs, labels = heldout_outputs
    accuracy = (probs.argmax(1) == labels).mean()
    assert accuracy >= 0.97
    assert accuracy == pytest.approx(classifier_info()["heldout_accuracy"], abs=1e-9)


def test_corrupt_weights_raise_a_clear_error(tmp_path, monkeypatch):
    copy = tmp_path / "mnist_classifier.pt"
    shutil.copy(CLASSIFIER_PATH, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(GanlibError, match=r"SHA-256.*python scripts/train_classifier\.py"):
        load_classifier(copy, sha256=CLASSIFIER_SHA256)
    monkeypatch.setattr(classifier, "CLASSIFIER_PATH", copy)  # the bundled route checks too
    with pytest.raises(GanlibError, match="SHA-256"):
        load_classifier()
    with pytest.raises(GanlibError, match="not found"):
        load_classifier(tmp_path / "missing.pt")


# --- the statistics, against their formulas -----------------------------------------------------

def test_identical_sets_have_zero_fid(heldout_outputs):
    feats = heldout_outputs[0]
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6 * np.trace(np.cov(feats.T)))


def test_fid_matches_the_closed_form_for_diagonal_gaussians():
    # for diagonal covariances: |mu_a - mu_b|^2 + sum (sd_a - sd_b)^2; whitened samples make it exact
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4000, 3))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T))).T  # sample cov = I exactly
    sd_a, sd_b, shift = np.array([1.0, 2.0, 0.5]), np.array([3.0, 2.0, 1.0]), np.array([1.0, 0, -2])
    expected = (shift ** 2).sum() + ((sd_a - sd_b) ** 2).sum()
    assert frechet_distance(z * sd_a, z * sd_b + shift) == pytest.approx(expected, rel=1e-9)


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((12, 4)), rng.standard_normal((12, 4)) + 0.5
    k = lambda u, v: (u @ v / 4 + 1) ** 3  # noqa: E731
    n = len(a)
    expected = (sum(k(a[i], a[j]) + k(b[i], b[j]) for i in range(n) for j in range(n) if i != j)
                / (n * (n - 1)) - 2 * np.mean([k(x, y) for x in a for y in b]))
    assert kid(a, b, subsets=3, subset_size=n)[0] == pytest.approx(expected)
    same = kid(rng.standard_normal((1000, 8)), rng.standard_normal((1000, 8)))[0]
    assert abs(same) < 0.1 * kid(a, b)[0]


def test_inception_score_and_class_kl_on_extreme_predictions():
    one_hot_even = np.eye(10)[np.arange(1000) % 10]
    one_class = np.eye(10)[np.zeros(1000, dtype=int)]
    assert inception_score(one_hot_even) == pytest.approx(10.0, rel=1e-6)
    assert inception_score(one_class) == pytest.approx(1.0)
    assert inception_score(np.full((50, 10), 0.1)) == pytest.approx(1.0)
    assert class_kl(one_hot_even) == pytest.approx(0.0)
    assert class_kl(one_class) == pytest.approx(math.log(10))
    assert class_coverage(np.full((50, 10), 0.1)) == 0.0  # nothing confident, nothing covered


def test_precision_recall_of_a_set_against_itself_and_a_far_set():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((500, 8))
    assert precision_recall(real, real) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)


# --- the whole evaluation on real, one-class and noise "generators" -----------------------------

def test_real_heldout_digits_score_high_inception(heldout_outputs):
    assert inception_score(heldout_outputs[1]) > 8.0


def test_real_digits_score_near_the_floor(mnist):
    x, _, train, _ = mnist
    fake = x[train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:1000]]]
    out = evaluate_images(fake)
    assert out["fid"] < 2 * out["fid_floor"]
    assert out["inception_score"] > 9.0 and out["class_coverage"] == 1.0 and out["class_kl"] < 0.02
    assert out["precision"] > 0.8 and out["recall"] > 0.8 and out["confident_fraction"] > 0.95
    assert all(isinstance(v, float) for v in out.values())
    assert sum(out[f"share_{c}"] for c in range(10)) == pytest.approx(1.0)


def test_one_class_generator_covers_a_tenth_with_kl_log10(mnist):
    x, y, _, heldout = mnist
    fake = x[heldout][y[heldout] == 3]  # a "generator" that only draws threes: 100 real ones
    out = evaluate_images(fake)
    assert out["class_coverage"] == 0.1
    assert out["class_kl"] == pytest.approx(math.log(10), abs=0.05)
    assert out["inception_score"] < 1.1
    assert out["recall"] < 0.3 and out["fid"] > 20 * out["fid_floor"]


def test_uniform_noise_is_far_above_the_floor_and_never_a_confident_digit():
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = evaluate(noise.numpy(), "mnist")  # numpy input, through the dispatcher
    assert out["fid"] > 100 * out["fid_floor"]
    assert out["confident_fraction"] < 0.05 and out["class_coverage"] == 0.0
    assert out["precision"] < 0.05 and out["recall"] < 0.05


# --- input validation -----------------------------------------------------------------------------

GOOD = torch.zeros(MIN_SAMPLES, 1, 28, 28)


@pytest.mark.parametrize("bad,match", [
    (GOOD.clone().index_fill_(0, torch.tensor([5]), float("nan")), "finite"),
    (GOOD[:, 0], r"\(N, 1, 28, 28\), got \(100, 28, 28\)"),
    (GOOD.expand(-1, 3, -1, -1), r"\(N, 1, 28, 28\)"),
    (GOOD + 255.0, r"\[-1, 1\], got values in \[255, 255\]"),
    (GOOD.to(torch.uint8), "floating-point"),
    (GOOD[: MIN_SAMPLES - 1], f"at least {MIN_SAMPLES}"),
])
def test_bad_images_raise_a_clear_error(bad, match):
    with pytest.raises(GanlibError, match=match):
        evaluate_images(bad)


def test_bad_reference_and_dataset_raise():
    with pytest.raises(GanlibError, match="reference"):
        evaluate_images(GOOD, reference=GOOD[:10])
    with pytest.raises(GanlibError, match="unknown dataset"):
        evaluate(GOOD, "cifar")


def test_dispatcher_routes_points_to_the_2d_metrics():
    points = np.tile([1.0, 0.0], (100, 1))
    assert evaluate(points, "ring")["modes"] == 1.0

"""Metrics for generated MNIST digits, computed with the small bundled classifier.

Holds: statistics of the classifier's predictions (:func:`inception_score`, :func:`class_shares`,
:func:`class_kl`, :func:`confident_fraction`, :func:`class_coverage`) and :func:`evaluate_images` /
:func:`evaluate`, which return every metric as one flat dict of floats. The classifier and its
features are in :mod:`.classifier`, the distances between feature sets (FID, KID, precision/recall)
in :mod:`.distances`; their names are re-exported here, so ``ganlib.metrics.<name>`` reaches every
MNIST metric. It does not hold the 2-D toy metrics (:mod:`ganlib.eval.metrics2d`).

Every number here lives in *this* classifier's 128-d features or softmax: compare it only with
numbers from the same weights, and never an MNIST-FID with an Inception FID from a paper.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..core.checkpoint import load_checked_state
from ..core.utils import GanlibError, file_sha256
from .classifier import (CLASSIFIER_PATH, CLASSIFIER_SHA256, CLASSIFIER_SPLIT_SEED, MNISTClassifier, _split_mnist,
                         check_images, classifier_info, classifier_split, heldout_mnist, load_classifier,
                         mnist_features)
from .distances import (KID_SUBSET_SIZE, KID_SUBSETS, PR_NEIGHBOURS, as_matrix, frechet_distance, kid,
                        precision_recall)
from .metrics2d import evaluate_points

__all__ = ["inception_score", "class_shares", "class_kl", "confident_fraction", "class_coverage", "evaluate_images",
           "evaluate", "CONFIDENCE", "COVERAGE_MIN_SHARE", "MIN_SAMPLES"]

#: What this module re-exports, so that ``ganlib.metrics.<name>`` keeps reaching every MNIST metric and the
#: classifier (the chapters call ``ganlib.metrics.heldout_mnist``, ``ganlib.metrics.frechet_distance``, ...):
#: the classifier's names (:mod:`.classifier`), the distances (:mod:`.distances`), and the weight check
#: (:func:`ganlib.core.checkpoint.load_checked_state`, :func:`ganlib.core.utils.file_sha256`). Each is
#: documented once, where it is defined.
REEXPORTED = (MNISTClassifier, load_classifier, classifier_info, classifier_split, heldout_mnist, check_images,
              mnist_features, CLASSIFIER_PATH, CLASSIFIER_SHA256, CLASSIFIER_SPLIT_SEED,
              frechet_distance, kid, precision_recall, KID_SUBSETS, KID_SUBSET_SIZE, PR_NEIGHBOURS,
              load_checked_state, file_sha256)

CONFIDENCE = 0.9                # a prediction is "confident" when its max softmax prob >= this
COVERAGE_MIN_SHARE = 0.01       # a class is covered when >= 1 % of the confident samples are it
MIN_SAMPLES = 100               # fewer images than this give metrics too noisy to report


def inception_score(probs) -> float:
    """Classifier Inception Score ``exp(E_x KL(p(y|x) || p(y)))`` (Salimans et al., 2016).

    1 when every sample gets the same prediction; at most 10 (confident and even over classes).
    Computed on the whole set at once, not averaged over 10 splits: small splits bias it down.

    Parameters
    ----------
    probs : array-like
        ``(N, 10)`` class probabilities.

    Returns
    -------
    float
    """
    p = np.clip(as_matrix(probs, "probs", 1), 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)                              # (1, 10) p(y)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def class_shares(probs) -> np.ndarray:
    """Share of the samples predicted (argmax) as each class: ``(10,)``, summing to 1."""
    p = as_matrix(probs, "probs", 1)
    return np.bincount(p.argmax(1), minlength=p.shape[1]) / len(p)


def class_kl(probs) -> float:
    """KL(p_hat || uniform) of the predicted-class histogram, in nats: 0 when even, log 10 for one class."""
    shares = class_shares(probs)
    nz = shares[shares > 0]
    return float(max(np.sum(nz * np.log(len(shares) * nz)), 0.0))


def confident_fraction(probs, threshold: float = CONFIDENCE) -> float:
    """Share of the samples whose largest class probability is at least ``threshold``."""
    return float((as_matrix(probs, "probs", 1).max(1) >= threshold).mean())


def class_coverage(probs, threshold: float = CONFIDENCE, min_share: float = COVERAGE_MIN_SHARE) -> float:
    """Fraction of the 10 classes present among the confidently classified samples.

    A class is present when at least ``min_share`` of the confident samples (max prob >=
    ``threshold``) are predicted as it, so a stray misclassification does not count as a mode.
    0 when no sample is confident.
    """
    p = as_matrix(probs, "probs", 1)
    confident = p[p.max(1) >= threshold]
    if len(confident) == 0:
        return 0.0
    shares = np.bincount(confident.argmax(1), minlength=p.shape[1]) / len(confident)
    return float((shares >= min_share).mean())


@functools.lru_cache(maxsize=4)
def _real_outputs(device: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features and probabilities of all of ``load_mnist()``, and its train / held-out indices."""
    x, _, train_idx, heldout_idx = _split_mnist()
    return (*mnist_features(x, device=device), train_idx.numpy(), heldout_idx.numpy())


def evaluate_images(samples, reference=None, *, seed: int = 0,
                    device: str | torch.device = "cpu") -> dict[str, float]:
    """Every image metric of generated digits against real ones, as one flat dict of floats.

    Parameters
    ----------
    samples : array-like or torch.Tensor
        ``(N, 1, 28, 28)`` floats in [-1, 1], ``N >= MIN_SAMPLES``; 2 000-10 000 is typical.
    reference : array-like or torch.Tensor, optional
        Real images to compare with (at least ``MIN_SAMPLES``, none of them from the classifier's
        training split); default the 1 000 held-out digits of :func:`heldout_mnist`.
    seed : int
        Seeds KID's subsets and the subsampling of the floor and of precision/recall.
    device : str or torch.device
        Where the classifier runs.

    Returns
    -------
    dict of str to float
        ``fid`` (MNIST-FID) beside ``fid_floor``: the FID of real digits, as many as the samples
        (at most the 4 000 of the classifier's training split), against the same reference, i.e.
        what a generator that reproduces real digits scores (FID grows as sets shrink, so compare
        at equal N); ``kid`` and ``kid_std``; ``inception_score`` beside
        ``inception_score_reference`` (the reference's own: the ceiling); ``class_coverage``,
        ``class_kl``, ``confident_fraction``, ``precision``, ``recall``; ``share_0`` ...
        ``share_9`` (the predicted-class histogram); ``n_samples``, ``n_reference``.
    """
    x = check_images(samples, "samples", MIN_SAMPLES)
    feats, probs = mnist_features(x, device=device)
    real_feats, real_probs, train_idx, heldout_idx = _real_outputs(str(device))
    if reference is None:
        ref_feats, ref_probs = real_feats[heldout_idx], real_probs[heldout_idx]
    else:
        ref_feats, ref_probs = mnist_features(check_images(reference, "reference", MIN_SAMPLES),
                                              device=device)
    rng = np.random.default_rng(seed)
    floor_idx = rng.choice(train_idx, min(len(x), len(train_idx)), replace=False)
    kid_mean, kid_std = kid(ref_feats, feats, seed=seed)
    precision, recall = precision_recall(ref_feats, feats, seed=seed)
    out = {
        "fid": frechet_distance(ref_feats, feats),
        "fid_floor": frechet_distance(ref_feats, real_feats[floor_idx]),
        "kid": kid_mean, "kid_std": kid_std,
        "inception_score": inception_score(probs),
        "inception_score_reference": inception_score(ref_probs),
        "class_coverage": class_coverage(probs), "class_kl": class_kl(probs),
        "confident_fraction": confident_fraction(probs),
        "precision": precision, "recall": recall,
    }
    shares = class_shares(probs)
    out.update({f"share_{c}": float(share) for c, share in enumerate(shares)})
    out["min_class_share"] = float(shares.min())  # the rarest digit's share: 0.1 is perfectly even
    out.update(n_samples=float(len(x)), n_reference=float(len(ref_feats)))
    return out


def evaluate(samples, dataset: str, **kwargs) -> dict[str, float]:
    """Evaluate generated samples by data set name, as ``python -m ganlib evaluate`` does.

    Parameters
    ----------
    samples : array-like or torch.Tensor
        ``(N, 1, 28, 28)`` images in [-1, 1] for ``"mnist"``; ``(N, 2)`` points for the toys.
    dataset : {"mnist", "ring", "grid"}
    **kwargs
        Passed to :func:`evaluate_images` (MNIST only).

    Returns
    -------
    dict of str to float
        :func:`evaluate_images` or :func:`ganlib.eval.metrics2d.evaluate_points`.
    """
    if dataset == "mnist":
        return evaluate_images(samples, **kwargs)
    if dataset in ("ring", "grid"):
        if kwargs:
            raise GanlibError(f"evaluate({dataset!r}) takes no options, got {sorted(kwargs)}")
        return evaluate_points(samples, dataset)
    raise GanlibError(f"unknown dataset {dataset!r}; expected one of ('mnist', 'ring', 'grid')")

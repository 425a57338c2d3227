"""Distances between two sets of features: Fréchet distance, KID, improved precision and recall.

Holds: :func:`frechet_distance` (FID on the features given), :func:`kid` and :func:`precision_recall`,
and :func:`as_matrix`, the check every statistic applies to its input. They take any ``(N, D)``
features; :mod:`.metrics` feeds them the bundled classifier's. It does not hold the classifier
(:mod:`.classifier`) or statistics of class predictions (:mod:`.metrics`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.utils import GanlibError

__all__ = ["frechet_distance", "kid", "precision_recall", "as_matrix", "KID_SUBSETS", "KID_SUBSET_SIZE",
           "PR_NEIGHBOURS"]

KID_SUBSETS = 50                # KID averages the unbiased MMD^2 over this many random subsets
KID_SUBSET_SIZE = 500           # ... of at most this many samples from each set
PR_NEIGHBOURS = 3               # k of the k-NN manifolds (Kynkaenniemi et al., 2019)
BATCH = 1000                    # rows of a pairwise-distance block: bounds the memory of precision/recall


def as_matrix(a, what: str, min_rows: int = 2) -> np.ndarray:
    """Array-like ``(N, D)`` -> float64 array, or a GanlibError naming the problem."""
    a = np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    if a.ndim != 2 or len(a) < min_rows:
        raise GanlibError(f"{what} must be a 2-D array with at least {min_rows} rows, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise GanlibError(f"{what} must be finite")
    return a


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on the features given).

    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)``, in float64. The
    last trace uses the symmetric form, so the matrix square roots come from ``eigh`` of symmetric
    PSD matrices and never turn complex. On classifier features this is "MNIST-FID": never
    compare it with an Inception FID. It is biased upwards for small sets (see ``fid_floor``).

    Parameters
    ----------
    feats_a, feats_b : array-like
        ``(N, D)`` and ``(M, D)`` features.

    Returns
    -------
    float
    """
    a, b = as_matrix(feats_a, "feats_a"), as_matrix(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise GanlibError(f"feature sets differ in width: {a.shape[1]} vs {b.shape[1]}")
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)   # (D, D)
    root_a = _sqrt_psd(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    dist = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    return float(max(dist, 0.0))


def kid(feats_a, feats_b, *, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al., 2018) on the features given: mean and std.

    The unbiased MMD^2 with the cubic polynomial kernel ``k(x, y) = (x.y / D + 1)^3``, averaged
    over random subsets of ``min(subset_size, N, M)`` samples from each set. Unbiased: two sets
    from one distribution score about 0 (slightly negative values happen).

    Parameters
    ----------
    feats_a, feats_b : array-like
        ``(N, D)`` and ``(M, D)`` features.
    subsets, subset_size : int
    seed : int
        Seeds the choice of subsets.

    Returns
    -------
    mean, std : float
        Over the subsets.
    """
    a, b = as_matrix(feats_a, "feats_a"), as_matrix(feats_b, "feats_b")
    m, d = min(subset_size, len(a), len(b)), a.shape[1]
    rng = np.random.default_rng(seed)

    def kernel(u: np.ndarray, v: np.ndarray) -> np.ndarray:  # float64: MMD^2 is a small difference
        k = u @ v.T                                          # of large sums
        k /= d
        k += 1
        return k * k * k                                     # in place and cubed by hand: ** is slow

    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]          # (m, D)
        y = b[rng.choice(len(b), m, replace=False)]          # (m, D)
        kxx, kyy = kernel(x, x), kernel(y, y)                # (m, m) each
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(within - 2 * kernel(x, y).mean())
    return float(np.mean(values)), float(np.std(values))


def _pairwise_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(len(a), len(b))`` via |a|^2 + |b|^2 - 2 a.b in float64."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(sq, 0, None))


def _knn_radius(a: np.ndarray, k: int) -> np.ndarray:
    """Distance from every row of ``a`` to its k-th nearest other row."""
    return np.concatenate([np.partition(_pairwise_dist(a[i:i + BATCH], a), k, axis=1)[:, k]
                           for i in range(0, len(a), BATCH)])   # column 0 is the row itself


def _covered(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each point lies inside at least one ball (centre, radius)."""
    return np.concatenate([(_pairwise_dist(points[i:i + BATCH], centres) <= radii[None]).any(1)
                           for i in range(0, len(points), BATCH)])


def precision_recall(feats_real, feats_fake, *, k: int = PR_NEIGHBOURS, seed: int = 0) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019) with k-NN manifolds.

    Each set's manifold is the union of balls around its points, each ball reaching the point's
    k-th nearest neighbour in the same set. Precision = share of fake points inside the real
    manifold (are samples realistic?); recall = share of real points inside the fake manifold
    (is the real variety produced?). The larger set is first subsampled (seeded) to the size of the
    smaller, as the paper compares equal sizes: radii shrink as a set grows.

    Parameters
    ----------
    feats_real, feats_fake : array-like
        ``(N, D)`` and ``(M, D)`` features.
    k : int
        Neighbour that sets each radius.
    seed : int
        Seeds the subsampling.

    Returns
    -------
    precision, recall : float
    """
    real = as_matrix(feats_real, "feats_real", k + 1)
    fake = as_matrix(feats_fake, "feats_fake", k + 1)
    n, rng = min(len(real), len(fake)), np.random.default_rng(seed)
    real, fake = (s[np.sort(rng.choice(len(s), n, replace=False))] for s in (real, fake))
    precision = _covered(fake, real, _knn_radius(real, k)).mean()
    recall = _covered(real, fake, _knn_radius(fake, k)).mean()
    return float(precision), float(recall)

"""Mode-collapse metrics for the 2-D toys (ring, grid): the VEEGAN / PacGAN protocol.

Holds: :func:`nearest_modes`, :func:`mode_metrics` and :func:`evaluate_points` (one flat dict of
floats). It does not hold the toy distributions themselves (:mod:`ganlib.core.data`) or image metrics
(:mod:`ganlib.eval.metrics`).

The protocol (Srivastava et al., 2017, VEEGAN; Lin et al., 2018, PacGAN), on ``PROTOCOL_SAMPLES``
generated points:

* every point is assigned to its nearest mean (Euclidean distance);
* a point is *high quality* (HQ) when that distance is at most ``HQ_STDS`` = 3 standard deviations
  (``ganlib.data.TOY_STD``: 0.01 for the ring, 0.05 for the grid). Real data is HQ with probability
  ``1 - exp(-9/2)`` = 0.989 (the squared distance of an isotropic 2-D Gaussian is sigma^2 chi^2_2);
* ``modes`` = how many means are the nearest mean of at least one HQ point;
* ``hq_fraction`` = HQ points / all points;
* ``reverse_kl`` = KL(p_hat || uniform) = sum_k p_hat_k log(K p_hat_k), where p_hat_k is the share of
  the *HQ* points whose nearest mean is mode k, and K the number of modes (8 or 25). Terms with
  p_hat_k = 0 add 0: a missed mode costs through the larger shares of the others. It is 0 for
  perfectly even hits and log K when every HQ point sits on one mode. "Reverse" because the
  generated distribution comes first. With no HQ point at all it is set to log K, the worst value,
  so a run that made nothing near any mode never scores better than a total collapse.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..core.data import TOY_STD, grid_means, ring_means
from ..core.utils import GanlibError

__all__ = ["nearest_modes", "mode_metrics", "evaluate_points", "HQ_STDS", "PROTOCOL_SAMPLES",
           "TOY_DATASETS"]

HQ_STDS = 3.0            # a point is high quality within this many standard deviations of its mean
PROTOCOL_SAMPLES = 2500  # points VEEGAN / PacGAN evaluate per run (`modes` grows with the count)
MIN_POINTS = 10          # fewer points than this are refused
TOY_DATASETS = ("ring", "grid")


def _means(dataset: str) -> np.ndarray:
    if dataset == "ring":
        return ring_means().double().numpy()
    if dataset == "grid":
        return grid_means().double().numpy()
    raise GanlibError(f"unknown 2-D dataset {dataset!r}; expected one of {TOY_DATASETS}")


def _check_points(samples, min_n: int = 1) -> np.ndarray:
    """Array-like ``(N, 2)`` -> float64 numpy, or a GanlibError naming what was expected."""
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    try:
        x = np.asarray(samples)
    except Exception as exc:  # ragged lists and the like
        raise GanlibError(f"samples must be an array of shape (N, 2), got {type(samples).__name__}") from exc
    if x.ndim != 2 or x.shape[1] != 2:
        raise GanlibError(f"samples must have shape (N, 2), got {x.shape}")
    if x.dtype.kind not in "fiu":
        raise GanlibError(f"samples must be numbers, got dtype {x.dtype}")
    if x.shape[0] < min_n:
        raise GanlibError(f"samples must hold at least {min_n} points, got {x.shape[0]}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise GanlibError(f"samples must be finite, got {int((~np.isfinite(x)).sum())} NaN/inf values")
    return x


def nearest_modes(samples, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Nearest mean of every point and the distance to it.

    Parameters
    ----------
    samples : array-like or torch.Tensor
        ``(N, 2)`` points.
    dataset : {"ring", "grid"}

    Returns
    -------
    index : np.ndarray
        ``(N,)`` int, the row of the nearest mean in ``ring_means()`` / ``grid_means()``.
    distance : np.ndarray
        ``(N,)`` float64 Euclidean distance to it.
    """
    means = _means(dataset)                                       # (K, 2)
    x = _check_points(samples)                                    # (N, 2)
    return _nearest(x, means)


def _nearest(x: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dist = np.linalg.norm(x[:, None, :] - means[None], axis=2)    # (N, K)
    index = dist.argmin(axis=1)
    return index, dist[np.arange(len(x)), index]


def mode_metrics(samples, dataset: str) -> tuple[int, float, float]:
    """Modes hit, high-quality fraction and reverse KL of a set of points (see the module doc).

    Parameters
    ----------
    samples : array-like or torch.Tensor
        ``(N, 2)`` points, at least ``MIN_POINTS``.
    dataset : {"ring", "grid"}

    Returns
    -------
    modes : int
        Means that are the nearest mean of at least one high-quality point.
    hq_fraction : float
        Share of points within ``HQ_STDS`` standard deviations of their nearest mean.
    reverse_kl : float
        KL(p_hat || uniform) of the high-quality points' nearest-mode histogram, in nats.
    """
    means = _means(dataset)
    index, distance = _nearest(_check_points(samples, MIN_POINTS), means)
    num_modes = len(means)
    hq = distance <= HQ_STDS * TOY_STD[dataset]
    counts = np.bincount(index[hq], minlength=num_modes)          # (K,) HQ hits per mode
    if counts.sum() == 0:
        return 0, 0.0, math.log(num_modes)
    p_hat = counts[counts > 0] / counts.sum()
    reverse_kl = float(np.sum(p_hat * np.log(num_modes * p_hat)))
    return int((counts > 0).sum()), float(hq.mean()), max(reverse_kl, 0.0)


def evaluate_points(samples, dataset: str) -> dict[str, float]:
    """Evaluate generated 2-D points with the VEEGAN / PacGAN protocol.

    Parameters
    ----------
    samples : array-like or torch.Tensor
        ``(N, 2)`` finite points; the protocol uses ``PROTOCOL_SAMPLES`` = 2 500.
    dataset : {"ring", "grid"}

    Returns
    -------
    dict of str to float
        ``modes``, ``total_modes`` (8 or 25), ``hq_fraction``, ``reverse_kl``, ``n_samples``.
    """
    modes, hq_fraction, reverse_kl = mode_metrics(samples, dataset)
    return {"modes": float(modes), "total_modes": float(len(_means(dataset))),
            "hq_fraction": hq_fraction, "reverse_kl": reverse_kl, "n_samples": float(len(samples))}

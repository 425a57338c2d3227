"""Metrics for generated MNIST digits, computed with a small bundled classifier.

Holds: :class:`MNISTClassifier` with its bundled weights (:func:`load_classifier`, SHA-256 checked;
:func:`classifier_info`) and the split it was trained on (:func:`classifier_split`,
:func:`heldout_mnist`); :func:`mnist_features`; the metrics :func:`frechet_distance` (MNIST-FID),
:func:`kid`, :func:`inception_score`, :func:`class_shares`, :func:`class_kl`,
:func:`confident_fraction`, :func:`class_coverage`, :func:`precision_recall`; and
:func:`evaluate_images` / :func:`evaluate`, which return one flat dict of floats. It does not hold
the 2-D toy metrics (:mod:`ganlib.metrics2d`) or the classifier's training
(``scripts/train_classifier.py``).

The classifier saw 4 000 of the 5 000 offline digits (:func:`classifier_split`); the other 1 000
are the default reference, so real and generated digits are both new to it. It was also taught to
answer noise, blobs and blank pages with a flat softmax (outlier exposure), so an untrained
generator's output is not confidently called a digit. Every number here lives in *this*
classifier's 128-d features or softmax: compare it only with numbers from the same weights, and
never an MNIST-FID with an Inception FID from a paper.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.data import load_mnist
from .metrics2d import evaluate_points
from ..core.utils import GanlibError, file_sha256  # file_sha256 re-exported: the scripts import it from here

__all__ = [
    "MNISTClassifier", "load_classifier", "classifier_info", "classifier_split", "heldout_mnist",
    "mnist_features", "frechet_distance", "kid", "inception_score", "class_shares", "class_kl",
    "confident_fraction", "class_coverage", "precision_recall", "evaluate_images", "evaluate",
    "CLASSIFIER_PATH", "CLASSIFIER_SHA256", "CONFIDENCE", "MIN_SAMPLES",
]

NUM_CLASSES = 10
FEATURE_DIM = 128               # width of the penultimate layer the metrics live in
CLASSIFIER_PATH = Path(__file__).parents[1] / "assets" / "mnist_classifier.pt"
CLASSIFIER_SHA256 = "04d15856a6a30ca53e2428d26f4cb93b2ef1bb1f023aa8c9a31ac7a7f7e9eb8f"
CLASSIFIER_SPLIT_SEED = 0       # seeds the stratified train/held-out split of load_mnist()
HELDOUT_PER_CLASS = 100         # held-out digits per class: 1 000 of the 5 000, never trained on
CONFIDENCE = 0.9                # a prediction is "confident" when its max softmax prob >= this
COVERAGE_MIN_SHARE = 0.01       # a class is covered when >= 1 % of the confident samples are it
KID_SUBSETS = 50                # KID averages the unbiased MMD^2 over this many random subsets
KID_SUBSET_SIZE = 500           # ... of at most this many samples from each set
PR_NEIGHBOURS = 3               # k of the k-NN manifolds (Kynkaenniemi et al., 2019)
RETRAIN = "python scripts/train_classifier.py"  # how to rebuild the weights from the repository
MIN_SAMPLES = 100               # fewer images than this give metrics too noisy to report
RANGE_TOL = 1e-3                # slack on the [-1, 1] pixel range (float rounding of tanh outputs)
BATCH = 1000                    # images per classifier forward pass


class MNISTClassifier(nn.Module):
    """A small CNN for 28x28 digits: three conv blocks, a 128-d feature layer, 10 logits.

    Parameters
    ----------
    width : int
        Channels of the first convolution; the next two have ``2 * width`` and ``4 * width``.
    dropout : float
        Dropout on the features during training (switched off by ``eval()``).
    """

    def __init__(self, *, width: int = 16, dropout: float = 0.3):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),                  # (B, w, 14, 14)
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),          # (B, 2w, 7, 7)
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),      # (B, 4w, 3, 3)
            nn.Flatten(),                                                                   # (B, 36w)
            nn.Linear(4 * width * 9, FEATURE_DIM),                                          # (B, 128)
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(FEATURE_DIM, NUM_CLASSES))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(B, 128)`` of images ``(B, 1, 28, 28)`` in [-1, 1], before the ReLU.

        Before the ReLU, because after it every non-digit the classifier rejects lands on the
        same point (all zeros), and distances between such samples would mean nothing.
        """
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, 10)``."""
        return self.head(self.features(x))


def load_checked_state(path: str | Path, sha256: str | None, *, what: str, retrain: str) -> dict:
    """Load a state_dict saved at ``path`` (``weights_only``) after checking the file's SHA-256.

    Shared by the bundled classifier and :func:`ganlib.infogan.load_pretrained`.

    Parameters
    ----------
    path : str or Path
    sha256 : str or None
        The expected hex digest; ``None`` skips the check.
    what : str
        What the file holds, for the messages (e.g. ``"classifier weights"``).
    retrain : str
        The command that regenerates the file, for the messages.

    Returns
    -------
    dict
        The state_dict, on the CPU.
    """
    path = Path(path)
    if not path.is_file():
        raise GanlibError(f"{what} not found at {path}; regenerate them with {retrain}")
    if sha256 is not None and (got := file_sha256(path)) != sha256:
        raise GanlibError(f"{what} {path} have SHA-256 {got[:12]}..., expected {sha256[:12]}...: "
                          f"corrupt or stale; reinstall ganlib or regenerate with {retrain}")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_classifier(path: str | Path | None = None, *, sha256: str | None = None,
                    device: str | torch.device = "cpu") -> MNISTClassifier:
    """Load the classifier's weights (a state_dict), check their SHA-256, switch to eval mode.

    Parameters
    ----------
    path : str or Path, optional
        Default: the bundled weights, always checked against ``CLASSIFIER_SHA256``.
    sha256 : str, optional
        Expected SHA-256 of a file given by ``path``; ``None`` skips the check.
    device : str or torch.device

    Returns
    -------
    MNISTClassifier
        In eval mode, gradients off.
    """
    if path is None:
        path, sha256 = CLASSIFIER_PATH, CLASSIFIER_SHA256
    model = MNISTClassifier()
    model.load_state_dict(load_checked_state(path, sha256, what="classifier weights", retrain=RETRAIN))
    return model.to(device).eval().requires_grad_(False)


@functools.lru_cache(maxsize=4)
def _bundled_classifier(device: str) -> MNISTClassifier:
    return load_classifier(device=device)


def classifier_info() -> dict:
    """The record written beside the bundled weights: held-out accuracy, seeds, SHA-256, held-out indices."""
    return json.loads(CLASSIFIER_PATH.with_suffix(".json").read_text())


def classifier_split(labels=None, *, seed: int = CLASSIFIER_SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's stratified split of ``load_mnist()``: 4 000 digits to train on, 1 000 held out.

    Parameters
    ----------
    labels : array-like, optional
        ``(N,)`` labels to split; default the labels of ``load_mnist()`` (500 per class).
    seed : int
        Seed of the split; the bundled weights used ``CLASSIFIER_SPLIT_SEED``.

    Returns
    -------
    train_idx, heldout_idx : torch.Tensor
        Sorted int64 indices; ``HELDOUT_PER_CLASS`` of every class are held out.
    """
    y = np.asarray(load_mnist()[1] if labels is None else labels)
    rng = np.random.default_rng(seed)
    heldout = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:HELDOUT_PER_CLASS]
                                      for c in range(NUM_CLASSES)]))
    train = np.setdiff1d(np.arange(len(y)), heldout)
    return torch.as_tensor(train, dtype=torch.int64), torch.as_tensor(heldout, dtype=torch.int64)


@functools.lru_cache(maxsize=1)
def _split_mnist() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = load_mnist()  # checked and read once per process
    train_idx, heldout_idx = classifier_split(y)
    return x, y, train_idx, heldout_idx


def heldout_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1 000 held-out digits ``(1000, 1, 28, 28)`` in [-1, 1] and labels: the default reference."""
    x, y, _, heldout_idx = _split_mnist()
    return x[heldout_idx], y[heldout_idx]


def _check_images(samples, what: str = "samples", min_n: int = 1) -> torch.Tensor:
    """Array-like images -> float32 tensor ``(N, 1, 28, 28)``, or a GanlibError naming the problem."""
    try:
        x = samples if isinstance(samples, torch.Tensor) else torch.as_tensor(np.asarray(samples))
    except (TypeError, ValueError) as exc:  # ragged lists, strings, objects
        raise GanlibError(f"{what} must be an array of shape (N, 1, 28, 28), "
                          f"got {type(samples).__name__}") from exc
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise GanlibError(f"{what} must have shape (N, 1, 28, 28), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise GanlibError(f"{what} must be floating-point images in [-1, 1], got dtype {x.dtype}")
    if len(x) < min_n:
        raise GanlibError(f"{what} must hold at least {min_n} images, got {len(x)}")
    x = x.detach().float()
    if not torch.isfinite(x).all():
        raise GanlibError(f"{what} must be finite, got {int((~torch.isfinite(x)).sum())} NaN/inf pixels")
    lo, hi = x.min().item(), x.max().item()
    if lo < -1 - RANGE_TOL or hi > 1 + RANGE_TOL:
        raise GanlibError(f"{what} must lie in [-1, 1], got values in [{lo:.3g}, {hi:.3g}] "
                          "(images in [0, 1]? use x * 2 - 1)")
    return x.clamp(-1, 1)


@torch.no_grad()
def mnist_features(images, *, classifier: MNISTClassifier | None = None,
                   device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features (before the ReLU) and class probabilities of images under the classifier.

    Parameters
    ----------
    images : array-like or torch.Tensor
        ``(N, 1, 28, 28)`` floats in [-1, 1].
    classifier : MNISTClassifier, optional
        In eval mode; default the bundled one (:func:`load_classifier`), loaded once per device.
    device : str or torch.device
        Where the bundled classifier runs.

    Returns
    -------
    features : np.ndarray
        ``(N, 128)`` float64.
    probs : np.ndarray
        ``(N, 10)`` float64 softmax probabilities.
    """
    x = _check_images(images, "images")
    model = _bundled_classifier(str(device)) if classifier is None else classifier
    dev = next(model.parameters()).device
    feats, logits = [], []
    for i in range(0, len(x), BATCH):
        f = model.features(x[i:i + BATCH].to(dev))                 # (B, 128)
        feats.append(f.double().cpu())
        logits.append(model.head(f).double().cpu())                # (B, 10)
    return torch.cat(feats).numpy(), torch.cat(logits).softmax(1).numpy()


def _as_matrix(a, what: str, min_rows: int = 2) -> np.ndarray:
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
    a, b = _as_matrix(feats_a, "feats_a"), _as_matrix(feats_b, "feats_b")
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
    a, b = _as_matrix(feats_a, "feats_a"), _as_matrix(feats_b, "feats_b")
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
    p = np.clip(_as_matrix(probs, "probs", 1), 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)                              # (1, 10) p(y)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def class_shares(probs) -> np.ndarray:
    """Share of the samples predicted (argmax) as each class: ``(10,)``, summing to 1."""
    p = _as_matrix(probs, "probs", 1)
    return np.bincount(p.argmax(1), minlength=p.shape[1]) / len(p)


def class_kl(probs) -> float:
    """KL(p_hat || uniform) of the predicted-class histogram, in nats: 0 when even, log 10 for one class."""
    shares = class_shares(probs)
    nz = shares[shares > 0]
    return float(max(np.sum(nz * np.log(len(shares) * nz)), 0.0))


def confident_fraction(probs, threshold: float = CONFIDENCE) -> float:
    """Share of the samples whose largest class probability is at least ``threshold``."""
    return float((_as_matrix(probs, "probs", 1).max(1) >= threshold).mean())


def class_coverage(probs, threshold: float = CONFIDENCE, min_share: float = COVERAGE_MIN_SHARE) -> float:
    """Fraction of the 10 classes present among the confidently classified samples.

    A class is present when at least ``min_share`` of the confident samples (max prob >=
    ``threshold``) are predicted as it, so a stray misclassification does not count as a mode.
    0 when no sample is confident.
    """
    p = _as_matrix(probs, "probs", 1)
    confident = p[p.max(1) >= threshold]
    if len(confident) == 0:
        return 0.0
    shares = np.bincount(confident.argmax(1), minlength=p.shape[1]) / len(confident)
    return float((shares >= min_share).mean())


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
    real = _as_matrix(feats_real, "feats_real", k + 1)
    fake = _as_matrix(feats_fake, "feats_fake", k + 1)
    n, rng = min(len(real), len(fake)), np.random.default_rng(seed)
    real, fake = (s[np.sort(rng.choice(len(s), n, replace=False))] for s in (real, fake))
    precision = _covered(fake, real, _knn_radius(real, k)).mean()
    recall = _covered(real, fake, _knn_radius(fake, k)).mean()
    return float(precision), float(recall)


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
    x = _check_images(samples, "samples", MIN_SAMPLES)
    feats, probs = mnist_features(x, device=device)
    real_feats, real_probs, train_idx, heldout_idx = _real_outputs(str(device))
    if reference is None:
        ref_feats, ref_probs = real_feats[heldout_idx], real_probs[heldout_idx]
    else:
        ref_feats, ref_probs = mnist_features(_check_images(reference, "reference", MIN_SAMPLES),
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
        :func:`evaluate_images` or :func:`ganlib.metrics2d.evaluate_points`.
    """
    if dataset == "mnist":
        return evaluate_images(samples, **kwargs)
    if dataset in ("ring", "grid"):
        if kwargs:
            raise GanlibError(f"evaluate({dataset!r}) takes no options, got {sorted(kwargs)}")
        return evaluate_points(samples, dataset)
    raise GanlibError(f"unknown dataset {dataset!r}; expected one of ('mnist', 'ring', 'grid')")

"""The small MNIST classifier every image metric lives in: its network, bundled weights, data split, outputs.

Holds: :class:`MNISTClassifier` with its bundled weights (:func:`load_classifier`, SHA-256 checked;
:func:`classifier_info`), the split it was trained on (:func:`classifier_split`, :func:`heldout_mnist`),
:func:`check_images` (what every image metric accepts) and :func:`mnist_features` (features and class
probabilities). It does not hold the metrics computed from them (:mod:`.metrics`, :mod:`.distances`) or
the classifier's training (``scripts/train_classifier.py``).

The classifier saw 4 000 of the 5 000 offline digits (:func:`classifier_split`); the other 1 000
are the default reference, so real and generated digits are both new to it. It was also taught to
answer noise, blobs and blank pages with a flat softmax (outlier exposure), so an untrained
generator's output is not confidently called a digit. Every number computed from it lives in *this*
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

from ..core.checkpoint import load_checked_state
from ..core.data import load_mnist
from ..core.utils import GanlibError

__all__ = [
    "MNISTClassifier", "load_classifier", "classifier_info", "classifier_split", "heldout_mnist",
    "check_images", "mnist_features", "CLASSIFIER_PATH", "CLASSIFIER_SHA256", "CLASSIFIER_SPLIT_SEED",
]

NUM_CLASSES = 10
FEATURE_DIM = 128               # width of the penultimate layer the metrics live in
CLASSIFIER_PATH = Path(__file__).parents[1] / "assets" / "mnist_classifier.pt"
CLASSIFIER_SHA256 = "04d15856a6a30ca53e2428d26f4cb93b2ef1bb1f023aa8c9a31ac7a7f7e9eb8f"
CLASSIFIER_SPLIT_SEED = 0       # seeds the stratified train/held-out split of load_mnist()
HELDOUT_PER_CLASS = 100         # held-out digits per class: 1 000 of the 5 000, never trained on
RETRAIN = "python scripts/train_classifier.py"  # how to rebuild the weights from the repository
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


def check_images(samples, what: str = "samples", min_n: int = 1) -> torch.Tensor:
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
    x = check_images(images, "images")
    model = _bundled_classifier(str(device)) if classifier is None else classifier
    dev = next(model.parameters()).device
    feats, logits = [], []
    for i in range(0, len(x), BATCH):
        f = model.features(x[i:i + BATCH].to(dev))                 # (B, 128)
        feats.append(f.double().cpu())
        logits.append(model.head(f).double().cpu())                # (B, 10)
    return torch.cat(feats).numpy(), torch.cat(logits).softmax(1).numpy()

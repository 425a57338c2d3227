"""Metrics for generated MNIST digits, computed on a small bundled classifier.

Holds: :class:`MNISTClassifier` and its bundled weights (:func:`load_classifier`, checked by SHA-256),
the split it was trained on (:func:`classifier_split`, :func:`heldout_mnist`), :func:`mnist_features`,
the metrics :func:`frechet_distance` ("MNIST-FID"), :func:`kid`, :func:`inception_score`,
:func:`class_coverage`, :func:`class_kl`, :func:`confident_fraction`, :func:`class_shares`,
:func:`precision_recall`, and :func:`evaluate_images` / :func:`evaluate` (one flat dict of floats).
It does not hold the 2-D toy metrics (:mod:`ganlib.metrics2d`) or the training script of the
classifier (``scripts/train_classifier.py``).

Every image metric here lives in the 128-d penultimate features (or the softmax) of *this*
classifier, so its numbers are only comparable with other numbers from the same weights. In
particular MNIST-FID is never comparable with an Inception FID from a paper.
"""

from __future__ import annotations

import functools
import hashlib
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import load_mnist
from .metrics2d import evaluate_points
from .utils import GanlibError

__all__ = [
    "MNISTClassifier", "load_classifier", "classifier_split", "heldout_mnist", "mnist_features",
    "frechet_distance", "kid", "inception_score", "class_coverage", "class_kl",
    "confident_fraction", "class_shares", "precision_recall", "evaluate_images", "evaluate",
    "CLASSIFIER_PATH", "CLASSIFIER_SHA256", "CONFIDENCE", "NUM_CLASSES",
]

NUM_CLASSES = 10
FEATURE_DIM = 128               # width of the penultimate layer the metrics live in
CLASSIFIER_PATH = Path(__file__).parent / "assets" / "mnist_classifier.pt"
CLASSIFIER_SHA256 = "TO_BE_FILLED"
CLASSIFIER_SPLIT_SEED = 0       # seeds the stratified train/held-out split of load_mnist()
HELDOUT_PER_CLASS = 100         # held-out digits per class: 1 000 of the 5 000, never trained on
CONFIDENCE = 0.9                # a prediction is "confident" when its max softmax prob >= this
COVERAGE_MIN_SHARE = 0.01       # a class is covered when >= 1 % of the confident samples are it
KID_SUBSETS = 50                # KID averages the unbiased MMD^2 over this many random subsets
KID_SUBSET_SIZE = 500           # ... of at most this many samples from each set
PR_NEIGHBOURS = 3               # k of the k-NN manifolds (Kynkaenniemi et al., 2019)
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
            nn.Linear(4 * width * 9, FEATURE_DIM), nn.ReLU(),                               # (B, 128)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(B, 128)`` of images ``(B, 1, 28, 28)`` in [-1, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, 10)``."""
        return self.head(self.dropout(self.features(x)))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_classifier(path: str | Path | None = None, *, sha256: str | None = CLASSIFIER_SHA256,
                    device: str | torch.device = "cpu") -> MNISTClassifier:
    """Load the bundled classifier (or another weights file), check its hash, set eval mode.

    Parameters
    ----------
    path : str or Path, optional
        A state_dict saved by ``scripts/train_classifier.py``; default the bundled weights.
    sha256 : str or None
        Expected SHA-256 of the file; ``None`` skips the check (your own weights).
    device : str or torch.device

    Returns
    -------
    MNISTClassifier
        In eval mode, gradients off.
    """
    path = Path(CLASSIFIER_PATH if path is None else path)
    if not path.is_file():
        raise GanlibError(f"classifier weights not found at {path}; "
                          "regenerate them with python scripts/train_classifier.py")
    if sha256 is not None and (got := file_sha256(path)) != sha256:
        raise GanlibError(f"classifier weights {path} have SHA-256 {got[:16]}..., expected "
                          f"{sha256[:16]}...: the file is corrupt or stale; reinstall ganlib, or "
                          "regenerate with python scripts/train_classifier.py (and set CLASSIFIER_SHA256)")
    model = MNISTClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval().requires_grad_(False)


@functools.lru_cache(maxsize=4)
def _bundled_classifier(device: str) -> MNISTClassifier:
    return load_classifier(device=device)


def classifier_split(labels: torch.Tensor | None = None, *,
                     seed: int = CLASSIFIER_SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's stratified split of ``load_mnist()``: 4 000 to train on, 1 000 held out.

    Parameters
    ----------
    labels : torch.Tensor, optional
        ``(N,)`` labels to split; default the labels of ``load_mnist()`` (500 per class).
    seed : int
        Seed of the split; the bundled weights used ``CLASSIFIER_SPLIT_SEED``.

    Returns
    -------
    train_idx, heldout_idx : torch.Tensor
        Sorted int64 indices; ``HELDOUT_PER_CLASS`` of every class are held out.
    """
    labels = load_mnist()[1] if labels is None else torch.as_tensor(labels)
    rng = np.random.default_rng(seed)
    y = labels.cpu().numpy()
    heldout = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:HELDOUT_PER_CLASS]
                              for c in range(NUM_CLASSES)])
    train = np.setdiff1d(np.arange(len(y)), heldout)
    return torch.as_tensor(train), torch.as_tensor(np.sort(heldout))


def heldout_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1 000 held-out digits ``(1000, 1, 28, 28)`` in [-1, 1] and their labels: the default reference."""
    x, y = load_mnist()
    heldout = classifier_split(y)[1]
    return x[heldout], y[heldout]

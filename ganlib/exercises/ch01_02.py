"""Checkers of chapters 1 and 2: D's accuracy (ex-1-2), D's decision surface (ex-2-2), modes covered (ex-2-3)."""

from __future__ import annotations

from ._common import CheckResult, _checker, _require_callable, _run, _scalar_close

__all__ = ["ex_1_2", "ex_2_2", "ex_2_3"]


def _d_accuracy_reference(discriminator, x_real, x_fake) -> float:
    import torch

    with torch.no_grad():
        correct = (discriminator(x_real) > 0).sum() + (discriminator(x_fake) <= 0).sum()
    return float(correct) / (len(x_real) + len(x_fake))


@_checker("ex-1-2")
def ex_1_2(d_accuracy) -> CheckResult:
    """Check ``d_accuracy(discriminator, x_real, x_fake)``: the share of all samples D classifies correctly.

    D returns logits; it calls a sample real when its logit is positive (D(x) > ½). Real samples are
    correct when called real, fakes when called fake; the answer is a number in [0, 1].
    """
    import torch
    from torch import nn

    from ..core.data import gaussian_1d
    from ..core.zoo import build_models

    label = "ex-1-2"
    _require_callable(label, d_accuracy)
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # leave the reader's random stream alone
        line = nn.Linear(1, 1)  # logit = x: calls x > 0 real, so D(x) = sigmoid(x)
        line.weight.fill_(1.0)
        line.bias.zero_()
    # the fakes at 0.1..0.4 have logits in (0, 0.5): called real by D, so classified *wrongly*
    real = torch.tensor([[0.2], [1.0], [2.0], [-0.5], [3.0], [0.7]])
    fake = torch.tensor([[-1.0], [0.1], [0.4], [-2.0], [-0.3], [-0.1]])
    cases = [("D(x) = sigmoid(x) on 6 real and 6 fake points", (line, real, fake),
              _d_accuracy_reference(line, real, fake), _scalar_close(1e-6))]
    for seed in (0, 1):
        with torch.random.fork_rng(devices=[]):  # leave the reader's random stream alone
            torch.manual_seed(seed)
            _, discriminator = build_models("mlp", data_shape=(1,), latent_dim=2, hidden=(8,))
        stream = torch.Generator().manual_seed(seed)
        x_real = gaussian_1d(50, generator=stream)
        x_fake = gaussian_1d(50, mean=float(seed), std=2.0, generator=stream)
        cases.append((f"a random MLP discriminator (seed {seed}) on 50 real and 50 fake points",
                      (discriminator, x_real, x_fake),
                      _d_accuracy_reference(discriminator, x_real, x_fake), _scalar_close(1e-6)))
    return _run(label, d_accuracy, cases,
                "D returns logits: a sample is called real when its logit is > 0 (D(x) = sigmoid(logit) > ½); "
                "count real samples called real and fakes called fake, divided by all samples")


def _surface_compare(got, expected):
    import numpy as np

    try:
        array = np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"expected an array, got {type(got).__name__}"
    if array.shape != expected.shape:
        return f"expected shape {expected.shape}, got {array.shape}"
    if np.allclose(array, expected, atol=1e-5):
        return None
    if array.min() < 0 or array.max() > 1:
        return "values outside [0, 1]: these look like logits, not D(x) = sigmoid(logit)"
    if np.allclose(array, expected.T, atol=1e-5):
        return "rows and columns are swapped: row i must hold the points with y = ys[i]"
    if np.allclose(array, expected[::-1], atol=1e-5):
        return "the rows are upside down: row 0 must be y = -lim"
    return f"largest difference from the reference {np.abs(array - expected).max():.3g}"


@_checker("ex-2-2")
def ex_2_2(surface_fn) -> CheckResult:
    """Check ``surface_fn(discriminator, lim, resolution)``: D(x) on a square grid, as :func:`ganlib.viz.decision_surface`.

    The result is ``(resolution, resolution)`` with entry ``[i, j]`` = sigmoid(logit) at
    ``(xs[j], ys[i])``, ``xs = ys = linspace(-lim, lim, resolution)``.
    """
    import torch
    from torch import nn

    from ..core.zoo import build_models
    from ..eval.viz import decision_surface

    label = "ex-2-2"
    _require_callable(label, surface_fn)
    with torch.random.fork_rng(devices=[]):  # leave the reader's random stream alone
        tilted = nn.Linear(2, 1)  # logit = x - 2y + 0.3: not symmetric in x and y, so a transpose shows
        with torch.no_grad():
            tilted.weight.copy_(torch.tensor([[1.0, -2.0]]))
            tilted.bias.fill_(0.3)
        torch.manual_seed(0)
        _, mlp_d = build_models("mlp", data_shape=(2,), latent_dim=2, hidden=(16,))
    tilted_d = nn.Sequential(tilted, nn.Flatten(0))  # (B, 2) -> (B,) logits
    cases = []
    for description, discriminator, lim, resolution in [
            ("a linear D, logit = x - 2y + 0.3, lim 1, 5 points per side", tilted_d, 1.0, 5),
            ("a random MLP D, lim 2, 7 points per side", mlp_d, 2.0, 7)]:
        expected = decision_surface(discriminator, lim=lim, resolution=resolution).astype("float64")
        cases.append((description, (discriminator, lim, resolution), expected, _surface_compare))
    return _run(label, surface_fn, cases,
                "with torch.meshgrid(ticks, ticks, indexing='ij') the first grid varies down the rows: it is y; "
                "D takes (N, 2) points (x, y) and returns logits, so apply torch.sigmoid before reshaping")


def _modes_covered_reference(points, means, radius: float) -> int:
    import torch

    distances = torch.cdist(torch.as_tensor(means, dtype=torch.float64),
                            torch.as_tensor(points, dtype=torch.float64))  # (K, N)
    return int((distances <= radius).any(dim=1).sum())


@_checker("ex-2-3")
def ex_2_3(modes_covered) -> CheckResult:
    """Check ``modes_covered(points, means, radius)``: how many means have a point within ``radius``.

    ``points`` is ``(N, 2)``, ``means`` is ``(K, 2)``; a mean counts when at least one point lies at
    Euclidean distance ``<= radius`` from it. The answer is an integer from 0 to K.
    """
    import torch

    from ..core.data import ring_means

    label = "ex-2-3"
    _require_callable(label, modes_covered)
    means = ring_means()  # (8, 2)
    stream = torch.Generator().manual_seed(0)
    collapsed = means[[0, 0, 3, 5]].repeat(25, 1) + 0.02 * torch.randn(100, 2, generator=stream)
    spread = torch.cat([means[1:7] + 0.05 * torch.randn(6, 2, generator=stream),   # near 6 of the 8 modes
                        0.3 * torch.randn(40, 2, generator=stream).clamp(-1, 1)])  # a cloud within 0.3 of 0
    far = torch.tensor([[5.0, 5.0], [-5.0, 0.0], [0.0, -7.0]])  # nearest to some mean, but far from all
    cases = []
    for description, points, radius in [
            ("100 points on 3 of the 8 ring modes, radius 0.1", collapsed, 0.1),
            ("points near 6 modes plus a cloud in the middle, radius 0.1", spread, 0.1),
            ("3 points far from the ring, radius 0.1", far, 0.1),
            ("the same 3 far points, radius 10 (every mean is within reach)", far, 10.0)]:
        cases.append((description, (points.clone(), means.clone(), radius),
                      _modes_covered_reference(points, means, radius), _scalar_close(0.0)))
    return _run(label, modes_covered, cases,
                "torch.cdist(means, points) gives the (K, N) distances; a mean is covered when any entry in "
                "its row is <= radius; count the covered means, not the points")

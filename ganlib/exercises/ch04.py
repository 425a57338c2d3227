"""Checkers of chapter 4: the optimal discriminator (ex-4-1), the JSD (ex-4-2), D's loss from logits (ex-4-3)."""

from __future__ import annotations

from ._common import CheckResult, _array_gap, _checker, _run, _scalar_gap

__all__ = ["ex_4_1", "ex_4_2", "ex_4_3"]


def _reference_d_star(p_data, p_g):
    import numpy as np

    p_data, p_g = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    return p_data / (p_data + p_g)


def _gaussian_pdf(x, mean: float, std: float):
    import numpy as np

    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


@_checker("ex-4-1")
def ex_4_1(optimal_discriminator) -> CheckResult:
    """Check ``optimal_discriminator(p_data, p_g)``: D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise.

    The two arguments are NumPy arrays of the densities on the same points (their sum is positive).
    """
    import numpy as np

    x = np.linspace(-4, 4, 41)
    cases = []
    for description, p_data, p_g in (
            ("p_data = N(0, 1), p_g = N(1, 0.5)", _gaussian_pdf(x, 0, 1), _gaussian_pdf(x, 1, 0.5)),
            ("p_g = p_data", _gaussian_pdf(x, 0, 1), _gaussian_pdf(x, 0, 1)),
            ("p_g = 0 on the left half", _gaussian_pdf(x, 0, 1), np.where(x < 0, 0.0, 0.25)),
            ("a single point", np.array([0.3]), np.array([0.1]))):
        expected = _reference_d_star(p_data, p_g)
        cases.append((description, (p_data.copy(), p_g.copy()), expected,
                      lambda got, exp: _array_gap(got, exp, 1e-9)))
    return _run("ex-4-1", optimal_discriminator, cases,
                "for a fixed x, maximize a*log(y) + b*log(1 - y) over y in (0, 1): set the derivative to zero")


def _reference_jsd(p, q, x) -> float:
    """JSD(p || q) in nats by the trapezoid rule, with 0 log 0 = 0."""
    import numpy as np

    p, q, x = (np.asarray(a, dtype=np.float64) for a in (p, q, x))
    m = 0.5 * (p + q)

    def kl(a):
        with np.errstate(divide="ignore", invalid="ignore"):
            integrand = np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
        return float(np.sum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(x)))

    return 0.5 * kl(p) + 0.5 * kl(q)


@_checker("ex-4-2")
def ex_4_2(jsd) -> CheckResult:
    """Check ``jsd(p, q, x)``: the Jensen-Shannon divergence (natural log) of densities sampled on grid ``x``.

    Any quadrature as accurate as the trapezoid rule on these fine grids passes.
    """
    import numpy as np

    x = np.linspace(-10, 10, 4001)
    uniform_left = np.where((x >= -3) & (x < -1), 0.5, 0.0)
    uniform_right = np.where((x >= 1) & (x < 3), 0.5, 0.0)
    cases = []
    for description, p, q in (
            ("p = q = N(0, 1) (expect 0)", _gaussian_pdf(x, 0, 1), _gaussian_pdf(x, 0, 1)),
            ("N(0, 1) vs N(1, 1)", _gaussian_pdf(x, 0, 1), _gaussian_pdf(x, 1, 1)),
            ("N(0, 1) vs N(0, 2)", _gaussian_pdf(x, 0, 1), _gaussian_pdf(x, 0, 2)),
            ("disjoint supports (expect log 2)", uniform_left, uniform_right)):
        expected = _reference_jsd(p, q, x)
        cases.append((description, (p.copy(), q.copy(), x.copy()), expected,
                      lambda got, exp: _scalar_gap(got, exp, 1e-3, "where a density is 0, p log(p/m) is 0")))
    return _run("ex-4-2", jsd, cases,
                "JSD = ½ KL(p || m) + ½ KL(q || m) with m = (p + q) / 2; where p = 0 the integrand p log(p/m) "
                "is 0 (torch.xlogy / scipy.special.xlogy do this)")


@_checker("ex-4-3")
def ex_4_3(d_loss_from_logits) -> CheckResult:
    """Check ``d_loss_from_logits(d_real, d_fake)``: D's binary cross-entropy -V(D, G) from logits ``(B,)``.

    Real = 1, fake = 0; the mean over each batch; finite for any finite logit.
    """
    import torch

    from ..core.losses import d_loss_bce

    rng = torch.Generator().manual_seed(4)
    cases = []
    for description, d_real, d_fake in (
            ("random logits", torch.randn(64, generator=rng), torch.randn(64, generator=rng)),
            ("unequal batch sizes", torch.randn(8, generator=rng), torch.randn(24, generator=rng)),
            ("a confident D (logits ±30)", torch.full((16,), 30.0), torch.full((16,), -30.0)),
            ("a badly wrong D (logits ∓200)", torch.full((16,), -200.0), torch.full((16,), 200.0))):
        expected = float(d_loss_bce(d_real, d_fake))
        cases.append((description, (d_real.clone(), d_fake.clone()), expected,
                      lambda got, exp: _scalar_gap(got, exp, 1e-4 * max(1.0, abs(exp)),
                                                   "log(sigmoid(l)) overflows for large |l|")))
    return _run("ex-4-3", d_loss_from_logits, cases,
                "-log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l) are exact and never "
                "overflow; average each batch, then add (no factor ½)")

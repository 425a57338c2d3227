"""Checkers of chapters 8 and 9: PSNR per image (ex-8-1) and the VAE's KL term (ex-9-1)."""

from __future__ import annotations

from ._common import CheckResult, _array_gap, _as_float, _checker, _require_callable, _run

__all__ = ["ex_8_1", "ex_9_1"]


def _psnr_reference(output, target) -> float:
    """Mean over images of 10 log10(2² / MSE): peak-to-peak 2 for pixels in [-1, 1]."""
    mse = (output.double() - target.double()).pow(2).flatten(1).mean(1)  # (B,) one MSE per image
    return float((10 * (4.0 / mse).log10()).mean())


def _psnr_compare(output, target):
    """Compare a reader's PSNR with the reference; name the two usual slips."""
    import math

    batch_mse = float((output.double() - target.double()).pow(2).mean())

    def compare(got, expected):
        value = _as_float(got)
        if value is None:
            return f"expected one number (dB), got {type(got).__name__}"
        if abs(value - expected) <= 1e-3:
            return None
        if abs(value - (expected - 20 * math.log10(2))) <= 1e-3:
            return f"got {value:.4f} dB, expected {expected:.4f}: 6.02 dB too low, as if the peak were 1, not 2"
        if abs(value - 10 * math.log10(4.0 / batch_mse)) <= 1e-3:
            return f"got {value:.4f} dB, expected {expected:.4f}: that is the PSNR of the batch's pooled MSE"
        return f"got {value:.4f} dB, expected {expected:.4f}"

    return compare


@_checker("ex-8-1")
def ex_8_1(psnr) -> CheckResult:
    """Check ``psnr(output, target)``: the mean over images of each image's PSNR in dB, pixels in [-1, 1].

    PSNR = 10 log10(peak² / MSE) with peak = 2 (the range of [-1, 1]) and the MSE over one image's pixels.
    """
    import torch

    label = "ex-8-1"
    _require_callable(label, psnr)
    rng = torch.Generator().manual_seed(8)
    target = torch.rand(6, 1, 28, 28, generator=rng) * 2 - 1
    noise = torch.randn(6, 1, 28, 28, generator=rng) * torch.tensor([0.02, 0.05, 0.1, 0.2, 0.4, 0.8]).view(6, 1, 1, 1)
    cases = []
    for description, output, truth in (
            ("one image with small noise", (target[:1] + noise[:1]).clamp(-1, 1), target[:1]),
            ("6 images, each with a different noise level", (target + noise).clamp(-1, 1), target),
            ("a blank page against 6 random images", -torch.ones_like(target), target)):
        cases.append((description, (output.clone(), truth.clone()), _psnr_reference(output, truth),
                      _psnr_compare(output, truth)))
    return _run(label, psnr, cases,
                "pixels in [-1, 1] span 2, so peak² = 4; compute one MSE per image (mean over its pixels), "
                "turn each into dB, then average the dB values over the batch")


@_checker("ex-9-1")
def ex_9_1(kl_diag_gaussian) -> CheckResult:
    """Check ``kl_diag_gaussian(mean, log_var)``: KL(N(mean, diag(exp(log_var))) || N(0, I)) per row, ``(B,)``.

    The reference is :func:`ganlib.vae.kl_to_standard_normal`; float64 inputs, tolerance 1e-6.
    """
    import torch

    from ..variants.vae import kl_to_standard_normal

    rng = torch.Generator().manual_seed(9)
    f64 = dict(dtype=torch.float64)
    cases = []
    for description, mean, log_var in (
            ("q = p (expect 0)", torch.zeros(3, 4, **f64), torch.zeros(3, 4, **f64)),
            ("random means and variances", torch.randn(8, 16, generator=rng, **f64),
             torch.randn(8, 16, generator=rng, **f64)),
            ("a shifted mean only", torch.full((2, 5), 2.0, **f64), torch.zeros(2, 5, **f64)),
            ("a narrow q (log_var = -6)", torch.zeros(2, 3, **f64), torch.full((2, 3), -6.0, **f64)),
            ("one image, one latent dimension", torch.tensor([[0.5]], **f64), torch.tensor([[1.0]], **f64))):
        expected = kl_to_standard_normal(mean, log_var).numpy()
        cases.append((description, (mean.clone(), log_var.clone()), expected,
                      lambda got, exp: _array_gap(got, exp, 1e-6)))
    return _run("ex-9-1", kl_diag_gaussian, cases,
                "per latent dimension KL = ½ (μ² + σ² − 1 − log σ²) with σ² = exp(log_var); sum over the "
                "latent dimensions (dim=1), one number per image")

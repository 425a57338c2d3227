"""Checkers of chapter 6: WGAN-GP's penalty (ex-6-1), RSGAN's D loss (ex-6-2), CycleGAN's cycle loss (ex-6-3)."""

from __future__ import annotations

from ._common import CheckResult, _checker, _run, _scalar_gap

__all__ = ["ex_6_1", "ex_6_2", "ex_6_3"]


def _ch6_critics():
    """Critics for ex-6-1, float64: a unit-gradient linear one, a small MLP on points, a CNN on 8x8 images."""
    import torch
    from torch import nn

    class Linear(nn.Module):  # D(x) = w . x: gradient w everywhere
        def __init__(self, w):
            super().__init__()
            self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

        def forward(self, x):
            return x.reshape(len(x), -1) @ self.w

    torch.manual_seed(6)
    mlp = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0)).double()
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Softplus(), nn.Flatten(), nn.Linear(4 * 64, 1),
                        nn.Flatten(0)).double()
    return Linear([0.6, 0.8]), mlp, cnn


def _penalty_compare(critic):
    """Compare a reader's penalty with the reference: its value, then its gradient w.r.t. the critic."""
    import torch

    params = [p for p in critic.parameters() if p.requires_grad]

    def compare(got, expected):
        value, ref_grads = expected
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            return f"expected a 0-d tensor, got {type(got).__name__} {tuple(getattr(got, 'shape', ()))}"
        if abs(float(got.detach()) - value) > 1e-6 * max(1.0, abs(value)):
            return f"got {float(got.detach()):.6f}, expected {value:.6f}"
        if not got.requires_grad:
            return ("the value is right but it carries no gradient: the critic cannot be trained on it "
                    "(take the input gradient with create_graph=True)")
        grads = torch.autograd.grad(got.reshape(()), params, allow_unused=True)
        for param, mine, ref in zip(params, grads, ref_grads):
            mine = torch.zeros_like(param) if mine is None else mine
            if not torch.allclose(mine, ref, atol=1e-6, rtol=1e-5):
                return "the value is right but its gradient w.r.t. the critic's weights is not"
        return None

    return compare


@_checker("ex-6-1")
def ex_6_1(gradient_penalty) -> CheckResult:
    """Check ``gradient_penalty(critic, x_real, x_fake, alpha)``: WGAN-GP's penalty with lambda = 10.

    ``alpha`` holds one mixing weight per example ``(B,)``; x_hat = alpha x_real + (1 - alpha) x_fake,
    and the penalty is 10 E[(||grad critic(x_hat)|| - 1)^2], the norm taken per example. The reference is
    :func:`ganlib.losses.gradient_penalty` with the same alphas; the penalty's gradient w.r.t. the
    critic's weights is compared as well.
    """
    import torch

    from ..core.losses import gradient_penalty as reference_penalty

    linear, mlp, cnn = _ch6_critics()
    cases = []
    for description, critic, shape, seed in (
            ("a critic with gradient norm 1 everywhere (expect 0)", linear, (16, 2), 0),
            ("a small MLP critic on 2-D points", mlp, (32, 2), 1),
            ("a convolutional critic on (B, 1, 8, 8) images", cnn, (12, 1, 8, 8), 2)):
        g = torch.Generator().manual_seed(60 + seed)
        x_real = torch.randn(shape, generator=g, dtype=torch.float64)
        x_fake = torch.randn(shape, generator=g, dtype=torch.float64) + 1.0
        # the reference draws one alpha per example from its generator: the same numbers as these
        alpha = torch.rand(shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        ref = reference_penalty(critic, x_real, x_fake, generator=torch.Generator().manual_seed(seed))
        params = [p for p in critic.parameters() if p.requires_grad]
        grads = torch.autograd.grad(ref, params, allow_unused=True)  # a last bias never reaches the penalty
        expected = (float(ref.detach()), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)])
        cases.append((description, (critic, x_real.clone(), x_fake.clone(), alpha.clone()), expected,
                      _penalty_compare(critic)))
    return _run("ex-6-1", gradient_penalty, cases,
                "reshape alpha to (B, 1, ...) so each example gets its own; detach the inputs, make x_hat "
                "require grad, torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True); flatten "
                "the gradient per example, take its norm along dim 1, then 10 * ((norm - 1) ** 2).mean()")


@_checker("ex-6-2")
def ex_6_2(rsgan_d_loss) -> CheckResult:
    """Check ``rsgan_d_loss(d_real, d_fake)``: the relativistic standard GAN's discriminator loss from logits.

    -E[log sigmoid(C(x_r) - C(x_f))] over the pairs (real i, fake i) of two batches of equal size; the
    reference is :func:`ganlib.losses.d_loss_rsgan`. Finite for any finite logits.
    """
    import torch

    from ..core.losses import d_loss_rsgan

    rng = torch.Generator().manual_seed(62)
    cases = []
    for description, d_real, d_fake in (
            ("random logits", torch.randn(64, generator=rng), torch.randn(64, generator=rng)),
            ("equal logits (expect log 2)", torch.full((8,), 1.5), torch.full((8,), 1.5)),
            ("real and fake logits that differ pair by pair", torch.linspace(-3, 3, 16),
             torch.linspace(3, -3, 16) + torch.randn(16, generator=rng)),
            ("a confident critic (differences ±200)", torch.full((16,), 100.0), torch.full((16,), -100.0)),
            ("a badly wrong critic (differences ∓200)", torch.full((16,), -100.0), torch.full((16,), 100.0))):
        expected = float(d_loss_rsgan(d_real, d_fake))
        cases.append((description, (d_real.clone(), d_fake.clone()), expected,
                      lambda got, exp: _scalar_gap(got, exp, 1e-4 * max(1.0, abs(exp)),
                                                   "log(sigmoid(.)) overflows for large differences")))
    return _run("ex-6-2", rsgan_d_loss, cases,
                "D is asked how much more real x_r looks than x_f: apply the BCE 'real' term to the *difference* "
                "of logits, pair by pair: softplus(-(d_real - d_fake)).mean(); no separate fake term")


def _cycle_compare(got, expected):
    import torch

    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        return f"expected a 0-d tensor, got {type(got).__name__} {tuple(getattr(got, 'shape', ()))}"
    if abs(float(got.detach()) - expected) > 1e-6 * max(1.0, abs(expected)):
        return f"got {float(got.detach()):.6f}, expected {expected:.6f}"
    if not got.requires_grad:
        return "the value is right but it carries no gradient, so the translators cannot learn from it"
    return None


@_checker("ex-6-3")
def ex_6_3(cycle_consistency) -> CheckResult:
    """Check ``cycle_consistency(g_xy, g_yx, x, y)``: both cycle terms, E|F(G(x)) - x| + E|G(F(y)) - y|.

    Each term is the mean absolute difference over every element of its batch (the reference is
    :func:`ganlib.cyclegan.cycle_loss`); the result must stay differentiable.
    """
    import torch
    from torch import nn

    from ..variants.cyclegan import Translator, cycle_loss

    torch.manual_seed(63)
    shift = nn.Linear(2, 2).double()           # G: an affine map of the plane
    back = nn.Linear(2, 2).double()            # F: another (not G's inverse, so both terms are non-zero)
    g_img = Translator(data_shape=(1, 6, 6), hidden=(8,), out_activation="tanh").double()
    f_img = Translator(data_shape=(1, 6, 6), hidden=(8,), out_activation="tanh").double()
    rng = torch.Generator().manual_seed(63)
    cases = []
    for description, g_xy, g_yx, x, y in (
            ("affine maps of 2-D points", shift, back, torch.randn(32, 2, generator=rng, dtype=torch.float64),
             torch.randn(20, 2, generator=rng, dtype=torch.float64) + 3),
            ("MLP translators of (B, 1, 6, 6) images", g_img, f_img,
             torch.rand(8, 1, 6, 6, generator=rng, dtype=torch.float64) * 2 - 1,
             torch.rand(5, 1, 6, 6, generator=rng, dtype=torch.float64) * 2 - 1)):
        with torch.no_grad():
            expected = float(cycle_loss(x, g_yx(g_xy(x))) + cycle_loss(y, g_xy(g_yx(y))))
        cases.append((description, (g_xy, g_yx, x.clone(), y.clone()), expected, _cycle_compare))
    return _run("ex-6-3", cycle_consistency, cases,
                "go there and back in both directions, g_yx(g_xy(x)) and g_xy(g_yx(y)); each term is "
                "(reconstruction - original).abs().mean() (L1, a mean over every element); add the two")

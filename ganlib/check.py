"""Exercise checkers: ``check.ex_4_1(your_function)`` runs a reader's answer against the book's own.

Holds one function per code exercise, named ``ex_<chapter>_<number>`` after the exercise's label in the
chapter (``ex-4-1`` → :func:`ex_4_1`). Each calls the reader's code on a few seeded cases, compares with
a reference computed here (never a hand-typed number) and returns a :class:`CheckResult` that prints as
one friendly line: ``✅ ex-4-1 passed`` or ``❌ ex-4-1: <what went wrong> — hint: <a nudge>``.
A checker never raises because the answer is wrong; it raises :class:`~ganlib.utils.GanlibError` only
when it is called with something that is not an answer at all (e.g. not callable).

It does not hold the solutions' prose (that lives, hidden, in the chapters).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Callable

from .core.utils import SEED_OFFSET_ENV, GanlibError

__all__ = ["CheckResult", "CHECKERS"]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one checker: ``passed`` plus a one-line message (and a hint when it failed)."""

    exercise: str   # the exercise label, e.g. "ex-4-1"
    passed: bool    # True when every case agreed with the reference
    message: str    # what was checked, or what went wrong
    hint: str = ""  # a nudge towards the answer, shown only on failure

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return f"✅ {self.exercise} passed: {self.message}"
        return f"❌ {self.exercise}: {self.message}" + (f" — hint: {self.hint}" if self.hint else "")

    def _repr_markdown_(self) -> str:  # a notebook shows the line, not the dataclass
        return str(self)


CHECKERS: dict[str, Callable[..., CheckResult]] = {}  # exercise label -> checker, filled by @_checker


@contextlib.contextmanager
def _fixed_seeds():
    # A checker's cases are fixed, like a unit test's: GANLIB_SEED_OFFSET redraws the book's experiments,
    # not the cases (a reader who seeds a torch.Generator with config.seed must match ganlib.train).
    saved = os.environ.pop(SEED_OFFSET_ENV, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[SEED_OFFSET_ENV] = saved


def _checker(label: str):
    """Register a checker under its exercise label (``"ex-4-1"``); its cases ignore ``GANLIB_SEED_OFFSET``."""

    def register(fn):
        @functools.wraps(fn)
        def checked(*args, **kwargs):
            with _fixed_seeds():
                return fn(*args, **kwargs)

        CHECKERS[label] = checked
        return checked

    return register


def _require_callable(label: str, fn) -> None:
    if not callable(fn):
        raise GanlibError(f"{label}: expected your function (a callable), got {type(fn).__name__}")


def _run(label: str, fn, cases, hint: str) -> CheckResult:
    """Call ``fn`` on each ``(description, args, expected, compare)`` case; first failure wins.

    ``compare(got, expected)`` returns ``None`` when they agree, else a short description of the
    difference. An exception raised by the reader's code is reported as a failure, not re-raised.
    """
    _require_callable(label, fn)
    for description, args, expected, compare in cases:
        try:
            got = fn(*args)
        except Exception as error:  # the reader's code failing is a result, not a crash
            return CheckResult(label, False, f"{description}: your code raised {type(error).__name__}: {error}",
                               hint)
        problem = compare(got, expected)
        if problem:
            return CheckResult(label, False, f"{description}: {problem}", hint)
    return CheckResult(label, True, f"{len(cases)} cases agree with the reference")


# --- Chapters 1 and 2 -------------------------------------------------------------------------------

def _as_float(got) -> float | None:
    """A reader's scalar answer (float, int, 0-d tensor or array) as a float, or None if it is not one."""
    try:
        value = float(got.item() if hasattr(got, "item") else got)
    except (TypeError, ValueError, RuntimeError):
        return None
    return value


def _scalar_close(atol: float):
    def compare(got, expected):
        value = _as_float(got)
        if value is None:
            return f"expected one number, got {type(got).__name__}"
        if abs(value - expected) > atol:
            return f"got {value:.6g}, expected {expected:.6g}"
        return None

    return compare


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

    from .core.data import gaussian_1d
    from .core.zoo import build_models

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

    from .core.zoo import build_models
    from .eval.viz import decision_surface

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

    from .core.data import ring_means

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


# --- Chapters 3 and 4 -------------------------------------------------------------------------------

_CH3_LATENT, _CH3_HIDDEN = 4, (16,)  # the tiny 2-D pair the chapter 3 checkers train


def _ch3_models(seed: int):
    """A tiny MLP ``(generator, discriminator)`` for 2-D points, identical for the same seed."""
    import torch

    from .core.zoo import build_models

    with torch.random.fork_rng(devices=[]):  # do not disturb the reader's global random stream
        torch.manual_seed(seed)
        return build_models("mlp", data_shape=(2,), latent_dim=_CH3_LATENT, hidden=_CH3_HIDDEN)


def _params_differ(got, expected, what: str, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """Compare two lists of (name, tensor); describe the first parameter that differs."""
    import torch

    for (name, a), (_, b) in zip(got, expected):
        if a.shape != b.shape or not torch.allclose(a, b, atol=atol, rtol=rtol):
            gap = (a - b).abs().max().item() if a.shape == b.shape else float("nan")
            return f"{what} parameter {name} differs from the reference (largest gap {gap:.2e})"
    return None


def _named(module) -> list:
    return [(n, p.detach().clone()) for n, p in module.named_parameters()]


def _g_step_case(seed: int, loss_name: str, frozen: str | None):
    """One case for :func:`ex_3_2`: the reader's models, the reference result, and a comparison."""
    import copy

    import torch

    from .core.losses import get_loss
    from .core.train import g_step

    generator, discriminator = _ch3_models(seed)
    if frozen is not None:  # a D with a layer frozen on purpose: the step must leave it frozen
        discriminator.get_parameter(frozen).requires_grad_(False)
    for p in discriminator.parameters():  # gradients left over from a D step: a G step must not touch them
        p.grad = torch.full_like(p, 0.5)
    z = torch.randn(32, _CH3_LATENT, generator=torch.Generator().manual_seed(seed))
    ref_g, ref_d = copy.deepcopy(generator), copy.deepcopy(discriminator)
    g_step(ref_g, ref_d, torch.optim.Adam(ref_g.parameters(), lr=1e-2), z.clone(), get_loss(loss_name))
    flags = [p.requires_grad for p in discriminator.parameters()]
    d_before = _named(discriminator)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-2)

    def compare(_got, _expected):
        problem = _params_differ(_named(generator), _named(ref_g), "G")
        if problem:
            return problem + " (G should take one Adam step on -log D(G(z)), gradients through D)"
        if any(not torch.equal(a, b) for (_, a), (_, b) in zip(_named(discriminator), d_before)):
            return "a weight of D changed: the generator step must leave D's weights alone"
        if any(p.grad is None or not torch.equal(p.grad, torch.full_like(p, 0.5)) for p in discriminator.parameters()):
            return "D's .grad changed: your backward pass also wrote gradients into D"
        if [p.requires_grad for p in discriminator.parameters()] != flags:
            return "D's requires_grad flags are not as they were before the step: restore them"
        return None

    return (generator, discriminator, opt_g, z.clone()), None, compare


@_checker("ex-3-2")
def ex_3_2(g_step_fn) -> CheckResult:
    """Check a generator step ``g_step_fn(generator, discriminator, opt_g, z)`` with the non-saturating loss.

    It must move G exactly as :func:`ganlib.train.g_step` does, and leave D's weights, D's gradients and
    D's ``requires_grad`` flags as it found them.
    """
    label = "ex-3-2"
    _require_callable(label, g_step_fn)
    cases = [("a fresh pair", *_g_step_case(0, "ns", None)),
             ("a pair whose D has a frozen layer", *_g_step_case(1, "ns", "net.1.weight"))]
    return _run(label, g_step_fn, cases,
                "freeze D for the step (requires_grad_(False) on its trainable parameters, restored in a "
                "finally: block) or use torch.autograd.grad with respect to G's parameters only")


def _train_case(seed: int, **changes):
    """One case for :func:`ex_3_3`: a config, fresh models, ganlib.train's result, and a comparison."""
    import copy

    import torch

    from .core.data import sample_toy
    from .core.train import TrainConfig, train

    config = TrainConfig(num_steps=6, batch_size=16, lr_g=1e-2, lr_d=1e-2, log_every=3, num_fixed=8,
                         progress=False, seed=seed, **changes)
    data = sample_toy("ring", 256, generator=torch.Generator().manual_seed(seed))
    generator, discriminator = _ch3_models(seed)
    ref_g, ref_d = copy.deepcopy(generator), copy.deepcopy(discriminator)
    train(ref_g, ref_d, data, config, device="cpu")
    described = ", ".join(f"{k}={v!r}" for k, v in changes.items())

    def compare(_got, _expected):
        for module, ref, what in ((generator, ref_g, "G"), (discriminator, ref_d, "D")):
            problem = _params_differ(_named(module), _named(ref), what)
            if problem:
                return f"{problem} after {config.num_steps} steps with {described}"
        return None

    return (generator, discriminator, data.clone(), config), None, compare


@_checker("ex-3-3")
def ex_3_3(train_fn) -> CheckResult:
    """Check a from-scratch Algorithm 1 ``train_fn(generator, discriminator, data, config)`` against ganlib.train.

    ``train_fn`` trains the two models in place for ``config.num_steps`` generator steps, with
    ``config.d_steps`` discriminator steps before each and the loss ``config.loss`` ("ns" or "minimax");
    the final weights must equal those :func:`ganlib.train` reaches from the same start.
    """
    label = "ex-3-3"
    _require_callable(label, train_fn)
    cases = [(f"seed {seed}, loss {loss!r}, k = {k}", *_train_case(seed, loss=loss, d_steps=k))
             for seed, loss, k in ((1, "ns", 1), (2, "minimax", 2), (3, "minimax", 3))]
    return _run(label, train_fn, cases,
                "one torch.Generator(device=data.device).manual_seed(config.seed); draw config.num_fixed "
                "fixed noise vectors first; then per D step the batch indices (torch.randint) before the "
                "noise; fresh noise for the G step; Adam with config.betas for each player")


def _reference_d_star(p_data, p_g):
    import numpy as np

    p_data, p_g = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    return p_data / (p_data + p_g)


def _array_gap(got, expected, atol: float) -> str | None:
    import numpy as np

    try:
        got = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"expected an array of numbers, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"expected shape {expected.shape}, got {got.shape}"
    if not np.all(np.isfinite(got)):
        return "the result has NaN or infinite values"
    gap = float(np.max(np.abs(got - expected))) if got.size else 0.0
    return None if gap <= atol else f"largest difference from the reference {gap:.3g}"


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


def _scalar_gap(got, expected: float, atol: float, if_not_finite: str) -> str | None:
    try:
        got = float(got)
    except (TypeError, ValueError, RuntimeError):
        return f"expected one number, got {type(got).__name__}"
    if got != got or abs(got) == float("inf"):
        return f"got {got}, expected {expected:.6f}: {if_not_finite}"
    return None if abs(got - expected) <= atol else f"got {got:.6f}, expected {expected:.6f}"


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

    from .core.losses import d_loss_bce

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


# --- Chapter 5 onwards ------------------------------------------------------------------------------

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

    from .variants.vae import kl_to_standard_normal

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


# --- Chapter 6 (variants) ---------------------------------------------------------------------------

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

    from .core.losses import gradient_penalty as reference_penalty

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

    from .core.losses import d_loss_rsgan

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

    from .variants.cyclegan import Translator, cycle_loss

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


# --- Chapter 7 (pitfalls) ---------------------------------------------------------------------------

def _smooth_d_loss_compare(d_real, d_fake, real_label: float):
    """Compare a reader's smoothed D loss with the reference; name the two classic slips."""
    import torch.nn.functional as F

    two_sided = float((real_label * F.softplus(-d_real) + (1 - real_label) * F.softplus(d_real)).mean()
                      + ((1 - real_label) * F.softplus(-d_fake) + real_label * F.softplus(d_fake)).mean())
    scaled = float(real_label * F.softplus(-d_real).mean() + F.softplus(d_fake).mean())

    def compare(got, expected):
        value = _as_float(got)
        if value is None:
            return f"expected one number (a 0-d tensor), got {type(got).__name__}"
        if value != value or abs(value) == float("inf"):
            return f"got {value}, expected {expected:.6f}: compute log(sigmoid(l)) as -softplus(-l)"
        tol = 1e-4 * max(1.0, abs(expected))
        if abs(value - expected) <= tol:
            return None
        if real_label < 1 and abs(value - two_sided) <= tol:
            return (f"got {value:.6f}, expected {expected:.6f}: that is two-sided smoothing (fakes at "
                    f"{1 - real_label:g}); keep the fakes' target at 0")
        if real_label < 1 and abs(value - scaled) <= tol:
            return (f"got {value:.6f}, expected {expected:.6f}: that scales the real term by {real_label:g} "
                    "instead of using the soft target")
        return f"got {value:.6f}, expected {expected:.6f}"

    return compare


@_checker("ex-7-1")
def ex_7_1(d_loss_smooth) -> CheckResult:
    """Check ``d_loss_smooth(d_real, d_fake, real_label)``: D's BCE from logits with one-sided label smoothing.

    The target is ``real_label`` for real data and 0 for fakes; each batch is averaged, then the two
    terms are added. The reference is :func:`ganlib.losses.d_loss_bce_smooth`.
    """
    import torch

    from .core.losses import d_loss_bce_smooth

    label = "ex-7-1"
    _require_callable(label, d_loss_smooth)
    rng = torch.Generator().manual_seed(7)
    cases = []
    for description, d_real, d_fake, real_label in (
            ("random logits, real_label 0.9", torch.randn(64, generator=rng), torch.randn(64, generator=rng), 0.9),
            ("unequal batch sizes, real_label 0.8", torch.randn(8, generator=rng), torch.randn(24, generator=rng), 0.8),
            ("real_label 1 (no smoothing)", torch.randn(32, generator=rng), torch.randn(32, generator=rng), 1.0),
            ("a confident D (logits ±30), real_label 0.9", torch.full((16,), 30.0), torch.full((16,), -30.0), 0.9),
            ("a badly wrong D (logits ∓200), real_label 0.9", torch.full((16,), -200.0), torch.full((16,), 200.0), 0.9)):
        expected = float(d_loss_bce_smooth(d_real, d_fake, real_label=real_label))
        cases.append((description, (d_real.clone(), d_fake.clone(), real_label), expected,
                      _smooth_d_loss_compare(d_real, d_fake, real_label)))
    return _run(label, d_loss_smooth, cases,
                "the real term is the cross-entropy with target a: a*softplus(-l) + (1 - a)*softplus(l); the "
                "fake term keeps target 0: softplus(l); average each batch, then add")


def _ema_case(seed: int):
    """A small generator with BatchNorm, and an averaged copy whose weights and statistics differ from it."""
    import copy

    import torch
    from torch import nn

    torch.manual_seed(seed)
    generator = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.LeakyReLU(0.2), nn.Linear(5, 2))
    averaged = copy.deepcopy(generator)
    rng = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        generator(torch.randn(16, 3, generator=rng))          # moves the running statistics and the counter
        generator(torch.randn(16, 3, generator=rng))
        averaged(torch.randn(16, 3, generator=rng) * 2 + 1)
        for p in generator.parameters():
            p.add_(torch.randn(p.shape, generator=rng))
    return generator, averaged


def _ema_reference(generator, averaged, decay: float) -> dict:
    """The averaged copy's state after one ``ganlib.remedies.EMA`` update from ``averaged``."""
    from .variants.remedies import EMA

    ema = EMA(generator, decay)
    ema.generator.load_state_dict(averaged.state_dict())
    ema.update()
    return {k: v.clone() for k, v in ema.generator.state_dict().items()}


def _ema_gap(state: dict, expected: dict) -> list:
    """Names of the entries of ``state`` that differ from ``expected``."""
    import torch

    return [k for k, v in expected.items()
            if not torch.allclose(state[k].double(), v.double(), rtol=1e-5, atol=1e-6)]


@_checker("ex-7-2")
def ex_7_2(ema_update) -> CheckResult:
    """Check ``ema_update(ema_generator, generator, decay)``: one in-place EMA step of G's weights and buffers.

    Float parameters and buffers become ``decay * average + (1 - decay) * current``, integer buffers
    are copied, ``generator`` is unchanged. The reference is one update of ``ganlib.remedies.EMA``.
    """
    import torch

    label = "ex-7-2"
    _require_callable(label, ema_update)
    hint = ("for every parameter *and* buffer: float ones become decay * average + (1 - decay) * current "
            "(in place, e.g. avg.lerp_(cur, 1 - decay)), integer ones are copied; return nothing")
    for seed, decay in ((0, 0.9), (1, 0.99), (2, 0.0), (3, 0.7)):
        generator, averaged = _ema_case(seed)
        expected = _ema_reference(generator, averaged, decay)
        swapped = _ema_reference(generator, averaged, 1.0 - decay) if 0.0 < decay < 1.0 else None
        before_g = {k: v.clone() for k, v in generator.state_dict().items()}
        before_avg = {k: v.clone() for k, v in averaged.state_dict().items()}
        description = f"decay {decay:g}"
        try:
            with torch.no_grad():
                ema_update(averaged, generator, decay)
        except Exception as error:  # the reader's code failing is a result, not a crash
            return CheckResult(label, False, f"{description}: your code raised {type(error).__name__}: {error}", hint)
        if _ema_gap(generator.state_dict(), before_g):
            return CheckResult(label, False, f"{description}: the generator itself was changed", hint)
        state = averaged.state_dict()
        wrong = _ema_gap(state, expected)
        if not wrong:
            continue
        if not _ema_gap(state, before_avg):
            message = "the averaged copy did not change: update its tensors in place"
        elif swapped is not None and not _ema_gap(state, swapped):
            message = "decay weighs the new weights, not the average: average = decay * average + (1 - decay) * current"
        elif all("running" in k or "num_batches" in k for k in wrong):
            message = f"the BatchNorm buffers were not updated ({', '.join(wrong)})"
        else:
            message = f"these entries differ from the reference: {', '.join(wrong)}"
        return CheckResult(label, False, f"{description}: {message}", hint)
    return CheckResult(label, True, "4 cases agree with the reference")

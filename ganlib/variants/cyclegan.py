"""CycleGAN in miniature: unpaired translation between two domains X and Y (Zhu et al., 2017).

Holds :class:`CycleConfig`, :class:`Translator` (a small MLP that maps a sample to a sample of the same
shape), :class:`CycleGAN` (the two translators G: X -> Y and F: Y -> X and the two discriminators
D_X and D_Y), :func:`build_cyclegan`, the losses :func:`cycle_loss` and :func:`identity_loss`, the
explicit steps :func:`cycle_d_step` and :func:`cycle_g_step`, and :func:`train_cyclegan`. It works on any
fixed sample shape, e.g. 2-D points ``(2,)`` or small images ``(1, 14, 14)``. The adversarial losses
are those of :mod:`ganlib.losses`; D is frozen in G's step with :func:`ganlib.train.frozen`. It does not
hold the paper's ResNet generators or PatchGAN discriminators, which are too slow for a CPU chapter.

The generators' objective (each discriminator trained with the adversarial loss alone)::

    L(G, F) = L_adv(G, D_Y) + L_adv(F, D_X)
              + cycle_weight    * (E|F(G(x)) - x| + E|G(F(y)) - y|)     # cycle consistency (L1)
              + identity_weight * (E|G(y) - y| + E|F(x) - x|)           # optional identity term

The adversarial terms alone only ask G(x) to *look like* some y; the cycle term asks that x can be
recovered from G(x), so G must keep what identifies x instead of mapping every x to the same y.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..core.losses import LOSSES, GANLoss, get_loss
from ..core.models import MLPDiscriminator, mlp_hidden_layers
from ..core.steps import frozen
from ..core.utils import GanlibError, get_device, rng as seeded

__all__ = ["CycleConfig", "Translator", "CycleGAN", "build_cyclegan", "cycle_loss", "identity_loss",
           "cycle_d_step", "cycle_g_step", "train_cyclegan", "CYCLE_HISTORY_KEYS"]

#: The keys of the history that :func:`train_cyclegan` returns.
CYCLE_HISTORY_KEYS = ("step", "d_loss", "g_loss", "adversarial", "cycle", "identity", "seconds")


@dataclass(frozen=True)
class CycleConfig:
    """Everything that decides a CycleGAN run. Make variants with ``dataclasses.replace``."""

    num_steps: int = 1000                      # updates of the two translators
    batch_size: int = 64                       # samples of each domain per minibatch
    lr: float = 2e-4                           # Adam learning rate of all four networks (the paper's)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas (the paper's)
    cycle_weight: float = 10.0                 # lambda of the cycle-consistency term (the paper's)
    identity_weight: float = 0.0               # weight of the identity term; 0 turns it off
    loss: str = "lsgan"                        # adversarial loss in ganlib.losses.LOSSES (the paper's least squares)
    log_every: int = 50                        # steps between history rows
    seed: int = 0                              # seeds the batches

    def __post_init__(self):
        for name in ("num_steps", "batch_size", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GanlibError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise GanlibError(f"lr must be a positive finite number, got {self.lr!r}")
        for name in ("cycle_weight", "identity_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise GanlibError(f"{name} must be a non-negative finite number, got {value!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise GanlibError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.loss not in LOSSES:
            raise GanlibError(f"unknown loss {self.loss!r}; expected one of {tuple(LOSSES)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GanlibError(f"seed must be a non-negative integer, got {self.seed!r}")


class Translator(nn.Module):
    """An MLP that maps one sample to a sample of the same shape: ``(B, *data_shape) -> (B, *data_shape)``.

    Parameters
    ----------
    data_shape : sequence of int
        Shape of one sample of both domains, e.g. ``(2,)`` or ``(1, 14, 14)``.
    hidden : sequence of int
        Widths of the hidden layers.
    out_activation : {"tanh", None}
        ``"tanh"`` for images in [-1, 1]; ``None`` for unbounded data such as 2-D points.
    """

    def __init__(self, *, data_shape: Sequence[int], hidden: Sequence[int] = (128, 128),
                 out_activation: str | None = None):
        super().__init__()
        if out_activation not in ("tanh", None):
            raise GanlibError(f"out_activation must be 'tanh' or None, got {out_activation!r}")
        self.data_shape = tuple(int(s) for s in data_shape)
        hidden_layers, width = mlp_hidden_layers(math.prod(self.data_shape), hidden)
        layers: list[nn.Module] = [nn.Flatten(), *hidden_layers]
        layers.append(nn.Linear(width, math.prod(self.data_shape)))
        if out_activation == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_batch(x, self.data_shape, "the translator's input")
        return self.net(x).view(-1, *self.data_shape)  # (B, *data_shape)


class CycleGAN(nn.Module):
    """The four networks of CycleGAN: ``g_xy`` (G: X -> Y), ``g_yx`` (F: Y -> X), ``d_x`` and ``d_y``.

    Parameters
    ----------
    g_xy, g_yx : nn.Module
        The translators; each maps a batch ``(B, *data_shape)`` to a batch of the same shape.
    d_x, d_y : nn.Module
        The discriminators of domain X and of domain Y; each returns logits ``(B,)``.
    """

    def __init__(self, g_xy: nn.Module, g_yx: nn.Module, d_x: nn.Module, d_y: nn.Module):
        super().__init__()
        self.g_xy, self.g_yx, self.d_x, self.d_y = g_xy, g_yx, d_x, d_y

    def generators(self) -> list[nn.Parameter]:
        """The parameters of both translators (they share one optimizer, as in the paper's code)."""
        return list(itertools.chain(self.g_xy.parameters(), self.g_yx.parameters()))

    def discriminators(self) -> list[nn.Parameter]:
        """The parameters of both discriminators."""
        return list(itertools.chain(self.d_x.parameters(), self.d_y.parameters()))


def build_cyclegan(*, data_shape: Sequence[int], hidden: Sequence[int] = (128, 128),
                   d_hidden: Sequence[int] | None = None, out_activation: str | None = None) -> CycleGAN:
    """Build a small CycleGAN: two MLP translators (:class:`Translator`) and two MLP discriminators.

    Parameters
    ----------
    data_shape : sequence of int
        Shape of one sample (both domains share it), e.g. ``(2,)`` or ``(1, 14, 14)``.
    hidden : sequence of int
        Hidden widths of the translators.
    d_hidden : sequence of int, optional
        Hidden widths of the discriminators; default ``hidden``.
    out_activation : {"tanh", None}
        The translators' output activation: ``"tanh"`` for images in [-1, 1].

    Returns
    -------
    CycleGAN
    """
    data_shape = tuple(int(s) for s in data_shape)
    if not data_shape or any(s < 1 for s in data_shape):
        raise GanlibError(f"data_shape must be positive sizes, e.g. (2,) or (1, 14, 14), got {data_shape}")
    d_hidden = tuple(hidden if d_hidden is None else d_hidden)
    return CycleGAN(Translator(data_shape=data_shape, hidden=hidden, out_activation=out_activation),
                    Translator(data_shape=data_shape, hidden=hidden, out_activation=out_activation),
                    MLPDiscriminator(data_shape=data_shape, hidden=d_hidden),
                    MLPDiscriminator(data_shape=data_shape, hidden=d_hidden))


def cycle_loss(x: torch.Tensor, x_reconstructed: torch.Tensor) -> torch.Tensor:
    """Cycle-consistency loss: the mean absolute difference E|F(G(x)) - x| over every element.

    Parameters
    ----------
    x : torch.Tensor
        A batch ``(B, *data_shape)``.
    x_reconstructed : torch.Tensor
        The batch after the round trip, e.g. ``F(G(x))``, of the same shape.

    Returns
    -------
    torch.Tensor
        A 0-d tensor.
    """
    if x.shape != x_reconstructed.shape:
        raise GanlibError(f"a cycle must return the shape it started from: {tuple(x.shape)} vs "
                          f"{tuple(x_reconstructed.shape)}")
    return (x_reconstructed - x).abs().mean()


def identity_loss(y: torch.Tensor, g_of_y: torch.Tensor) -> torch.Tensor:
    """Identity loss E|G(y) - y|: a translator into Y should leave a sample already in Y alone."""
    return cycle_loss(y, g_of_y)


def cycle_d_step(model: CycleGAN, opt_d: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                 loss: GANLoss, *, rng: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """One update of both discriminators: D_Y judges y against G(x), D_X judges x against F(y).

    The translators are not updated (their outputs are computed without a graph).

    Parameters
    ----------
    model : CycleGAN
    opt_d : torch.optim.Optimizer
        The optimizer of ``model.discriminators()``.
    x, y : torch.Tensor
        A batch of each domain ``(B, *data_shape)``; they need not be paired.
    loss : ganlib.losses.GANLoss
        The adversarial loss pair (``loss.d``, plus ``loss.penalty`` when it has one).
    rng : torch.Generator, optional
        Random stream of a penalty's draws.

    Returns
    -------
    dict of 0-d tensors
        ``d_loss``, the sum of both discriminators' losses.
    """
    with torch.no_grad():  # the translators are frozen in D's step: no graph through them
        y_fake, x_fake = model.g_xy(x), model.g_yx(y)  # (B, *data_shape) each
    d_loss = loss.d(model.d_y(y), model.d_y(y_fake)) + loss.d(model.d_x(x), model.d_x(x_fake))
    if loss.penalty is not None:
        d_loss = (d_loss + loss.penalty(model.d_y, y, y_fake, generator=rng)
                  + loss.penalty(model.d_x, x, x_fake, generator=rng))
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return {"d_loss": d_loss.detach()}


def cycle_g_step(model: CycleGAN, opt_g: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                 loss: GANLoss, *, cycle_weight: float, identity_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """One update of both translators on L_adv(G, D_Y) + L_adv(F, D_X) + cycle and identity terms.

    Both discriminators are frozen: gradients flow through them into G and F, not into their weights.

    Parameters
    ----------
    model : CycleGAN
    opt_g : torch.optim.Optimizer
        The optimizer of ``model.generators()``.
    x, y : torch.Tensor
        A batch of each domain ``(B, *data_shape)``.
    loss : ganlib.losses.GANLoss
        The adversarial loss pair (``loss.g``).
    cycle_weight : float
        lambda of the cycle term (0 turns it off).
    identity_weight : float
        Weight of the identity term (0, the default, skips computing it).

    Returns
    -------
    dict of 0-d tensors
        ``g_loss`` (the total) and its parts ``adversarial``, ``cycle`` and ``identity``.
    """
    with frozen(model.d_x), frozen(model.d_y):
        y_fake, x_fake = model.g_xy(x), model.g_yx(y)  # G(x), F(y)
        if loss.g_uses_real:  # relativistic losses compare with D's verdicts on real samples
            adversarial = loss.g(model.d_y(y_fake), model.d_y(y)) + loss.g(model.d_x(x_fake), model.d_x(x))
        else:
            adversarial = loss.g(model.d_y(y_fake)) + loss.g(model.d_x(x_fake))
        cycle = cycle_loss(x, model.g_yx(y_fake)) + cycle_loss(y, model.g_xy(x_fake))  # F(G(x)) ~ x, G(F(y)) ~ y
        identity = (identity_loss(y, model.g_xy(y)) + identity_loss(x, model.g_yx(x))
                    if identity_weight else torch.zeros((), device=x.device))
        g_loss = adversarial + cycle_weight * cycle + identity_weight * identity
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return {"g_loss": g_loss.detach(), "adversarial": adversarial.detach(), "cycle": cycle.detach(),
            "identity": identity.detach()}


def train_cyclegan(model: CycleGAN, x_data: torch.Tensor, y_data: torch.Tensor,
                   config: CycleConfig | None = None, *, device: torch.device | str | None = None) -> dict:
    """Train ``model`` on unpaired samples of two domains; return the history.

    Each step draws an independent minibatch of each domain (no pairs are ever used), makes one update
    of both discriminators (:func:`cycle_d_step`) and one of both translators (:func:`cycle_g_step`).

    Parameters
    ----------
    model : CycleGAN
        Trained in place and moved to ``device``.
    x_data, y_data : torch.Tensor
        Samples of domain X and of domain Y, ``(N_x, *data_shape)`` and ``(N_y, *data_shape)``.
    config : CycleConfig, optional
        Default ``CycleConfig()``.
    device : torch.device or str, optional
        Default :func:`ganlib.get_device`.

    Returns
    -------
    dict
        Lists of floats under :data:`CYCLE_HISTORY_KEYS`, one row every ``config.log_every`` steps
        (means over the steps since the last row).
    """
    config = config or CycleConfig()
    if not isinstance(config, CycleConfig):
        raise GanlibError(f"config must be a CycleConfig, got {type(config).__name__}")
    if not isinstance(model, CycleGAN):
        raise GanlibError(f"model must be a CycleGAN (see build_cyclegan), got {type(model).__name__}")
    device = get_device(device)
    shape = getattr(model.g_xy, "data_shape", None)
    x_data = _check_domain(x_data, "x_data", shape, config.batch_size).to(device)
    y_data = _check_domain(y_data, "y_data", shape or tuple(x_data.shape[1:]), config.batch_size).to(device)
    model.to(device).train()
    loss = get_loss(config.loss)
    opt_g = torch.optim.Adam(model.generators(), lr=config.lr, betas=config.betas)
    opt_d = torch.optim.Adam(model.discriminators(), lr=config.lr, betas=config.betas)
    rng = seeded(config.seed, device)
    history: dict[str, list[float]] = {k: [] for k in CYCLE_HISTORY_KEYS}
    parts = ("d_loss", "g_loss", "adversarial", "cycle", "identity")
    totals, rows = torch.zeros(len(parts), device=device), 0
    start = time.perf_counter()
    for step in range(1, config.num_steps + 1):
        x = x_data[torch.randint(len(x_data), (config.batch_size,), generator=rng, device=device)]
        y = y_data[torch.randint(len(y_data), (config.batch_size,), generator=rng, device=device)]
        d_out = cycle_d_step(model, opt_d, x, y, loss, rng=rng)            # (1) both discriminators
        g_out = cycle_g_step(model, opt_g, x, y, loss, cycle_weight=config.cycle_weight,
                             identity_weight=config.identity_weight)        # (2) both translators
        totals += torch.stack([d_out["d_loss"]] + [g_out[k] for k in parts[1:]])
        rows += 1
        if step % config.log_every == 0 or step == config.num_steps:
            means = (totals / rows).tolist()  # the one host sync per history row
            if not all(math.isfinite(m) for m in means):
                raise GanlibError(f"the CycleGAN losses became NaN or infinite by step {step}; "
                                  "try a smaller learning rate")
            for key, value in zip(parts, means):
                history[key].append(value)
            history["step"].append(float(step))
            history["seconds"].append(time.perf_counter() - start)
            totals.zero_()
            rows = 0
    return history


def _check_batch(x, data_shape: tuple[int, ...], what: str) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise GanlibError(f"{what} must be a floating-point torch.Tensor, got "
                          f"{getattr(x, 'dtype', type(x).__name__)}")
    if tuple(x.shape[1:]) != data_shape:
        raise GanlibError(f"{what} must have shape (B, {', '.join(map(str, data_shape))}), got {tuple(x.shape)}")


def _check_domain(data, name: str, shape, batch_size: int) -> torch.Tensor:
    if not isinstance(data, torch.Tensor) or not data.is_floating_point():
        raise GanlibError(f"{name} must be a floating-point torch.Tensor of samples, got "
                          f"{getattr(data, 'dtype', type(data).__name__)}")
    if shape is not None and tuple(data.shape[1:]) != tuple(shape):
        raise GanlibError(f"{name} must have shape (N, {', '.join(map(str, shape))}) to match the model, "
                          f"got {tuple(data.shape)}")
    if len(data) < batch_size:
        raise GanlibError(f"batch_size {batch_size} is larger than {name} ({len(data)} samples)")
    if not torch.isfinite(data).all():
        raise GanlibError(f"{name} contains NaN or infinite values")
    return data

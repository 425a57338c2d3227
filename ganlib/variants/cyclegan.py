"""CycleGAN in miniature: unpaired translation between two domains X and Y (Zhu et al., 2017).

Holds :class:`Translator` (a small MLP that maps a sample to a sample of the same shape), :class:`CycleGAN`
(the two translators G: X -> Y and F: Y -> X and the two discriminators D_X and D_Y), :func:`build_cyclegan`,
the losses :func:`cycle_loss` and :func:`identity_loss`, the explicit steps :func:`cycle_d_step` and
:func:`cycle_g_step`, and :class:`CycleVariant`, which trains with them through :func:`ganlib.train`. It
works on any fixed sample shape, e.g. 2-D points ``(2,)`` or small images ``(1, 14, 14)``. The adversarial losses
are those of :mod:`ganlib.core.losses`; D is frozen in G's step with :func:`ganlib.core.steps.frozen`. It does not
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
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..core.config import TrainConfig
from ..core.engine import Steps
from ..core.losses import GANLoss, get_loss
from ..core.models import MLPDiscriminator, mlp_hidden_layers
from ..core.run import Run, run_without_noise
from ..core.steps import frozen
from ..core.utils import GanlibError

__all__ = ["CycleVariant", "Translator", "CycleGAN", "build_cyclegan", "cycle_loss", "identity_loss",
           "cycle_d_step", "cycle_g_step", "LOGGED"]

#: The values a CycleGAN run logs, besides the step and the seconds (both Ds' loss, the translators' total and
#: its three terms).
LOGGED = ("d_loss", "g_loss", "adversarial", "cycle", "identity")


@dataclass(frozen=True)
class CycleVariant:
    """CycleGAN for :func:`ganlib.train`: ``ganlib.train(model, None, (x_data, y_data), config,
    variant=CycleVariant())``. Its knobs are the weights of the extra terms.

    The :class:`CycleGAN` is the "generator": it holds all four networks (roll-back and checkpoints keep them
    together), so the discriminator is None. ``x_data``, ``y_data``: unpaired samples ``(N, *data_shape)``
    of each domain. Each D update (:func:`cycle_d_step`) draws a minibatch of X, then of Y, from the run's
    random stream; the G update (:func:`cycle_g_step`) uses the last D update's. ``config.lr_g`` drives the
    translators' Adam, ``lr_d`` the discriminators'; the paper's: ``TrainConfig(loss="lsgan")``.
    """

    cycle_weight: float = 10.0                 # lambda of the cycle-consistency term (the paper's)
    identity_weight: float = 0.0               # weight of the identity term; 0 turns it off

    name = "cyclegan"
    unsupported = frozenset({"unroll_steps", "reuse_fakes", "compile", "bf16", "distributed"})

    def __post_init__(self):
        for name in ("cycle_weight", "identity_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise GanlibError(f"{name} must be a non-negative finite number, got {value!r}")

    def new_run(self, generator, discriminator, config: TrainConfig, device: torch.device) -> Run:
        model = _check_model(generator, discriminator)
        return run_without_noise(model, None, config, device, LOGGED, params_g=model.generators(),
                                 params_d=model.discriminators())

    def steps(self, run: Run, data, labels) -> Steps:
        model, b = _check_model(run.generator, run.discriminator), run.config.batch_size
        if labels is not None:
            raise GanlibError("CycleGAN's domains are unlabelled: pass no labels=")
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise GanlibError("CycleGAN's data must be a pair (x_data, y_data) of unpaired samples")
        device, shape = run.device, getattr(model.g_xy, "data_shape", None)
        x_data = _check_domain(data[0], "x_data", shape, b).to(device)
        y_data = _check_domain(data[1], "y_data", shape or tuple(x_data.shape[1:]), b).to(device)
        loss, batch = get_loss(run.config.loss), {}

        def update_d(j: int) -> dict:  # (1) both discriminators, on fresh batches of X and of Y
            batch["x"] = x_data[torch.randint(len(x_data), (b,), generator=run.rng, device=device)]
            batch["y"] = y_data[torch.randint(len(y_data), (b,), generator=run.rng, device=device)]
            return cycle_d_step(model, run.opt_d, batch["x"], batch["y"], loss, rng=run.rng)

        def update_g(d_out: dict) -> dict:  # (2) both translators, on the same batches
            return cycle_g_step(model, run.opt_g, batch["x"], batch["y"], loss, cycle_weight=self.cycle_weight,
                                identity_weight=self.identity_weight)

        return Steps(update_d, update_g, logged=LOGGED)


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
    """Cycle-consistency loss: the mean absolute difference E|F(G(x)) - x| over every element, a 0-d tensor.

    Parameters
    ----------
    x : torch.Tensor
        A batch ``(B, *data_shape)``.
    x_reconstructed : torch.Tensor
        The batch after the round trip, e.g. ``F(G(x))``, of the same shape.
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
    """One update of both discriminators: D_Y judges y against G(x), D_X judges x against F(y). Returns
    ``{"d_loss": both discriminators' losses summed}`` (0-d); the translators are not updated.

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
    """One update of both translators on L_adv(G, D_Y) + L_adv(F, D_X) + cycle and identity terms; returns
    0-d ``g_loss`` (the total) and its parts ``adversarial``, ``cycle`` and ``identity``. Both
    discriminators are frozen: gradients flow through them into G and F, not into their weights.

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


def _check_model(model, discriminator) -> CycleGAN:
    if not isinstance(model, CycleGAN):
        raise GanlibError(f"model must be a CycleGAN (see build_cyclegan), got {type(model).__name__}")
    if discriminator is not None:
        raise GanlibError("a CycleGAN holds its own discriminators: pass None as the discriminator")
    return model


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

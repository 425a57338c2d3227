"""The training loop: one discriminator step, one generator step, and the loop that alternates them.

Holds: :class:`TrainConfig` (every knob, with its default), :class:`Run` (what a notebook needs to
continue: the models, optimizers, step count, history, snapshots, random stream), :func:`d_step`,
:func:`g_step`, :func:`unrolled_g_step` (unrolled GANs, ``TrainConfig.unroll_steps``), :func:`train`
and :func:`sample`. It does not hold losses (:mod:`ganlib.losses`),
networks (:mod:`ganlib.models`) or files (:mod:`ganlib.checkpoint`).

This is Algorithm 1 of Goodfellow et al. (2014): for every generator update, ``d_steps`` (k)
discriminator updates, each on a fresh minibatch of real data and of noise, then one generator update
on fresh noise. With ``TrainConfig.reuse_fakes`` the generator update judges the last discriminator
update's fakes instead (G's weights have not changed in between), which saves one forward pass of G
per step; pytorch/examples' DCGAN does the same.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn

from .labels import check_labels, is_conditional
from .losses import GANLoss, LOSSES, get_loss
from .stopping import stop_check
from .utils import GanlibError, get_device, rng as seeded

__all__ = ["TrainConfig", "Run", "TrainingDiverged", "d_step", "g_step", "unrolled_g_step", "frozen", "new_run",
           "start_or_continue", "train", "sample", "HISTORY_KEYS"]

PRECISIONS = ("fp32", "bf16")
HISTORY_KEYS = ("step", "d_loss", "g_loss", "d_real", "d_fake", "seconds")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Make variants with ``dataclasses.replace``."""

    num_steps: int = 1000                       # generator updates made by one call of train()
    batch_size: int = 64                        # samples per minibatch, real and fake alike
    lr_g: float = 2e-4                          # generator's Adam learning rate (DCGAN's value)
    lr_d: float = 2e-4                          # discriminator's Adam learning rate
    betas: tuple[float, float] = (0.5, 0.999)   # Adam betas; beta1 = 0.5 as in DCGAN
    d_steps: int = 1                            # k: D updates per G update (the paper used k = 1)
    loss: str = "ns"                            # a name in ganlib.losses.LOSSES
    log_every: int = 50                         # steps between history rows (the only host syncs)
    snapshot_every: int = 0                     # steps between samples at fixed noise; 0 = never
    eval_every: int = 0                         # steps between quality evaluations (train's evaluate=); 0 = never
    num_fixed: int = 64                         # fixed noise vectors for the snapshots
    seed: int = 0                               # seeds the batches and the noise of the run
    progress: bool = True                       # show a progress bar (notebook-aware)
    unroll_steps: int = 0                       # K of unrolled GANs (Metz et al., 2017); 0 = the plain G step
    lr_decay_start: int = 0                     # run step where both lrs start to fall linearly
    lr_decay_end: int = 0                       # ... and reach lr * lr_decay_factor; 0 = no decay
    lr_decay_factor: float = 1.0                # the learning rates' final multiplier, in (0, 1]
    penalty_every: int = 1                      # lazy regularization: a loss's penalty on every k-th D update, x k
    precision: str = "fp32"                     # "bf16": forward passes under bfloat16 autocast (CUDA, CPU)
    compile: bool = False                       # torch.compile both networks (pays off on a GPU)
    reuse_fakes: bool = False                   # G's step judges the last D step's fakes: one G forward a step

    def __post_init__(self):
        for name in ("num_steps", "batch_size", "d_steps", "log_every", "num_fixed", "penalty_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GanlibError(f"{name} must be a positive integer, got {value!r}")
        for name in ("snapshot_every", "eval_every", "unroll_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise GanlibError(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise GanlibError(f"{name} must be a positive finite number, got {value!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise GanlibError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.loss not in LOSSES:
            raise GanlibError(f"unknown loss {self.loss!r}; expected one of {tuple(LOSSES)}")
        if self.unroll_steps and LOSSES[self.loss].penalty is not None:
            raise GanlibError(f"unroll_steps does not support loss {self.loss!r} (it has a gradient penalty); "
                              "pick one without, e.g. ns")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GanlibError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("lr_decay_start", "lr_decay_end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise GanlibError(f"{name} must be a non-negative integer, got {value!r}")
        factor = self.lr_decay_factor
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0.0 < factor <= 1.0:
            raise GanlibError(f"lr_decay_factor must be a number in (0, 1], got {factor!r}")
        if self.precision not in PRECISIONS:
            raise GanlibError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.compile, bool):
            raise GanlibError(f"compile must be True or False, got {self.compile!r}")
        if not isinstance(self.reuse_fakes, bool):
            raise GanlibError(f"reuse_fakes must be True or False, got {self.reuse_fakes!r}")
        if self.reuse_fakes and self.unroll_steps:
            raise GanlibError("reuse_fakes needs the plain generator step; unroll_steps makes its own fakes "
                              "(pick one of them)")
        if self.compile and (self.unroll_steps or LOSSES[self.loss].penalty is not None):
            raise GanlibError("compile supports neither unroll_steps nor a loss with a gradient penalty "
                              "(both differentiate through a gradient); pick compile=False")
        if (self.lr_decay_start or self.lr_decay_end) and self.lr_decay_start >= self.lr_decay_end:
            raise GanlibError("the learning-rate decay needs lr_decay_start < lr_decay_end, got "
                              f"{self.lr_decay_start} and {self.lr_decay_end}")

    def lr_scale(self, step: int) -> float:
        """The learning rates' multiplier at run step ``step``: 1 until ``lr_decay_start``, then falling
        linearly to ``lr_decay_factor`` at ``lr_decay_end``, and ``lr_decay_factor`` after it."""
        if not self.lr_decay_end or step <= self.lr_decay_start:
            return 1.0
        done = min(1.0, (step - self.lr_decay_start) / (self.lr_decay_end - self.lr_decay_start))
        return 1.0 - done * (1.0 - self.lr_decay_factor)


@dataclass
class Run:
    """A training run in progress: pass it back to :func:`train` to continue where it stopped."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    config: TrainConfig
    rng: torch.Generator                          # the run's own random stream: batches and noise
    fixed_z: torch.Tensor                         # (num_fixed, latent_dim) noise for snapshots
    step: int = 0                                 # generator updates made so far
    seconds: float = 0.0                          # wall time spent training so far
    history: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)  # (step, G(fixed_z))
    evaluations: list[dict[str, float]] = field(default_factory=list)  # {"step", "seconds", metric: value}
    target_met: bool = False                      # True once stop_when held (training then stopped)
    model_spec: dict | None = None                # how to rebuild the models (set by the CLI)
    dataset: str | None = None                    # the training set's name, if it has one
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # kept in its files and on --resume
    stopped_by: str | None = None                 # "SIGTERM", "SIGINT", ... when a signal ended train() early


def logits(scores: torch.Tensor) -> torch.Tensor:
    """D's scores as the losses take them: float32 when autocast made them bfloat16, else unchanged."""
    return scores.float() if scores.dtype in (torch.bfloat16, torch.float16) else scores  # float64 stays


def d_step(generator: nn.Module, discriminator: nn.Module, opt_d: torch.optim.Optimizer,
           x_real: torch.Tensor, z: torch.Tensor, loss: GANLoss, *,
           rng: torch.Generator | None = None, y_real: torch.Tensor | None = None,
           y_fake: torch.Tensor | None = None, keep_fakes: bool = False) -> dict[str, torch.Tensor]:
    """One discriminator update: D ascends log D(x) + log(1 - D(G(z))) (for the BCE losses).

    D runs forward and backward on the real batch *and* on the fake batch. G is not updated.

    Parameters
    ----------
    generator, discriminator : nn.Module
    opt_d : torch.optim.Optimizer
        The discriminator's optimizer.
    x_real : torch.Tensor
        A real minibatch ``(B, *data_shape)``.
    z : torch.Tensor
        Noise ``(B, latent_dim)``.
    loss : GANLoss
        The loss pair (``loss.d`` is used, plus ``loss.penalty`` when it has one).
    rng : torch.Generator, optional
        Random stream for a penalty's draws (WGAN-GP's interpolation weights).
    y_real, y_fake : torch.Tensor, optional
        Class labels ``(B,)`` of the real batch and of the fakes to make, for conditional networks
        (:mod:`ganlib.conditional`): then G is called as ``G(z, y)`` and D as ``D(x, y)``.
    keep_fakes : bool
        Also return the fakes with G's graph (``"x_fake"``), for a :func:`g_step` that reuses them
        instead of running G again (as pytorch/examples' DCGAN does). D still learns from them detached.

    Returns
    -------
    dict of 0-d tensors
        ``d_loss``, ``d_real`` (mean D(x)) and ``d_fake`` (mean D(G(z))); call ``float()`` to read.
        With ``keep_fakes``, also ``x_fake`` ``(B, *data_shape)``.
    """
    cond = y_fake is not None  # a conditional pair: every call also gets the labels
    with torch.set_grad_enabled(keep_fakes):  # no graph through G unless G's step will reuse these fakes
        kept = generator(z, y_fake) if cond else generator(z)  # (B, *data_shape)
    x_fake = kept.detach()  # G is frozen in D's step (the "detach")
    d_real = logits(discriminator(x_real, y_real) if cond else discriminator(x_real))  # (B,)
    d_fake = logits(discriminator(x_fake, y_fake) if cond else discriminator(x_fake))
    d_loss = loss.d(d_real, d_fake)
    if loss.penalty is not None:
        d_loss = d_loss + loss.penalty(discriminator, x_real, x_fake, generator=rng)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    out = {"d_loss": d_loss.detach(), "d_real": torch.sigmoid(d_real.detach()).mean(),
           "d_fake": torch.sigmoid(d_fake.detach()).mean()}
    if keep_fakes:
        out["x_fake"] = kept
    return out


def g_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
           z: torch.Tensor, loss: GANLoss, *, x_real: torch.Tensor | None = None,
           y_fake: torch.Tensor | None = None, y_real: torch.Tensor | None = None,
           x_fake: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One generator update: G descends its loss on D's verdict about G(z). D's weights stay as they are.

    G never sees real data: its gradient flows from D's output on the fakes back into G.

    Parameters
    ----------
    generator, discriminator : nn.Module
    opt_g : torch.optim.Optimizer
        The generator's optimizer (it holds only G's parameters).
    z : torch.Tensor
        Noise ``(B, latent_dim)``.
    loss : GANLoss
        The loss pair (``loss.g`` is used).
    x_real : torch.Tensor, optional
        A real minibatch, needed (only) by the relativistic losses (``loss.g_uses_real``), whose
        generator loss compares D's verdicts on fakes with those on real data.
    y_fake, y_real : torch.Tensor, optional
        Labels of the fakes to make (and of ``x_real``) for conditional networks.
    x_fake : torch.Tensor, optional
        Fakes already made by G from ``z`` (and ``y_fake``), with G's graph: the ``"x_fake"`` of
        ``d_step(..., keep_fakes=True)``. G is then not run again; G's weights must not have changed since.

    Returns
    -------
    dict of 0-d tensors
        ``g_loss``.
    """
    if loss.g_uses_real and x_real is None:
        raise GanlibError("this loss compares fakes with real data: pass x_real to g_step")
    with frozen(discriminator):  # gradients flow *through* D into G, not *into* D's weights
        if x_fake is None:
            x_fake = generator(z) if y_fake is None else generator(z, y_fake)  # (B, *data_shape)
        if y_fake is None:
            d_fake = logits(discriminator(x_fake))  # (B,)
            g_loss = loss.g(d_fake, logits(discriminator(x_real))) if loss.g_uses_real else loss.g(d_fake)
        else:  # conditional: G makes digits of the given classes, D judges them as those classes
            d_fake = logits(discriminator(x_fake, y_fake))
            g_loss = (loss.g(d_fake, logits(discriminator(x_real, y_real))) if loss.g_uses_real
                      else loss.g(d_fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return {"g_loss": g_loss.detach()}


def unrolled_g_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
                    z: torch.Tensor, loss: GANLoss, *, x_real: torch.Tensor, opt_d: torch.optim.Optimizer,
                    unroll_steps: int) -> dict[str, torch.Tensor]:
    """One generator update against D unrolled ``unroll_steps`` (K) steps ahead (Metz et al., 2017).

    A functional copy of D takes K differentiable Adam steps on its own loss, on ``x_real`` and the
    fakes ``G(z)``, starting from D's weights and from ``opt_d``'s moment estimates, step count,
    learning rate, betas, eps and weight decay; G then minimizes its loss against that copy,
    ``loss.g(D_K(G(z)))``. The gradient is taken through the K updates (``create_graph=True``), so
    it holds the second-order term ``dL/dtheta_K . dtheta_K/dtheta_G``: how D *would react* to G's
    change. That term discourages G from piling onto whatever region the current D rates most real
    (the chase that ends in mode hopping and mode collapse); without it (stopping the gradient at
    theta_K) the method is a plain G step against a more trained D. The same ``G(z)`` and real batch
    are used in all K updates and in G's loss. Cost: K extra forward-backward passes of D plus the
    backward through them; on the ring MLP recipe a whole training step took 10 to 12 times (K = 5)
    and 19 to 28 times (K = 10) as long as with K = 0 (measured on a busy 2-core CPU).

    D is left exactly as it was: its parameters, its buffers (BatchNorm's running statistics; the
    copy uses the batch statistics in training mode, as D's own step does, and updates clones of the
    buffers that are then dropped) and ``opt_d``'s state. Unlike :func:`g_step`, D's BatchNorm running
    statistics are therefore not moved by the fake batch of the G step (they are only used in
    evaluation mode). Only ``torch.optim.Adam`` without amsgrad / maximize is supported for ``opt_d``.

    Parameters
    ----------
    generator, discriminator : nn.Module
        An unconditional pair.
    opt_g : torch.optim.Optimizer
        The generator's optimizer.
    z : torch.Tensor
        Noise ``(B, latent_dim)``.
    loss : GANLoss
        The loss pair; ``loss.d`` drives the unrolled D steps, ``loss.g`` G's update. Losses with a
        penalty (WGAN-GP) are not supported.
    x_real : torch.Tensor
        A real minibatch ``(B, *data_shape)`` for the unrolled D steps.
    opt_d : torch.optim.Optimizer
        D's Adam optimizer: only read, never stepped.
    unroll_steps : int
        K, at least 1 (use :func:`g_step` for K = 0).

    Returns
    -------
    dict of 0-d tensors
        ``g_loss`` (against the unrolled D).
    """
    if isinstance(unroll_steps, bool) or not isinstance(unroll_steps, int) or unroll_steps < 1:
        raise GanlibError(f"unroll_steps must be a positive integer (use g_step for 0), got {unroll_steps!r}")
    if loss.penalty is not None:
        raise GanlibError("unrolled G steps do not support losses with a penalty (e.g. wgan-gp): "
                          "its gradient would need third derivatives")
    if is_conditional(generator) or is_conditional(discriminator):
        raise GanlibError("unrolled G steps support unconditional pairs only")
    hyper = _adam_hyper(discriminator, opt_d)
    params = {name: p.detach().requires_grad_(True) for name, p in discriminator.named_parameters()}
    buffers = {name: b.clone() for name, b in discriminator.named_buffers()}  # D's own stay as they are
    names = list(params)

    def d_out(theta, x):
        return torch.func.functional_call(discriminator, {**theta, **buffers}, (x,))

    x_fake = generator(z)  # (B, *data_shape), in G's graph: the unrolled steps depend on G
    theta = dict(params)
    moments = {n: (hyper[n]["exp_avg"], hyper[n]["exp_avg_sq"]) for n in names}
    for k in range(unroll_steps):
        d_loss = loss.d(d_out(theta, x_real), d_out(theta, x_fake))
        grads = torch.autograd.grad(d_loss, [theta[n] for n in names], create_graph=True)
        new_theta = {}
        for n, grad in zip(names, grads):
            h = hyper[n]
            if h["weight_decay"]:
                grad = grad + h["weight_decay"] * theta[n]
            m, v = moments[n]
            m = h["beta1"] * m + (1 - h["beta1"]) * grad
            v = h["beta2"] * v + (1 - h["beta2"]) * grad * grad
            t = h["step"] + k + 1
            denom = _safe_sqrt(v) / math.sqrt(1 - h["beta2"] ** t) + h["eps"]
            new_theta[n] = theta[n] - h["lr"] / (1 - h["beta1"] ** t) * m / denom
            moments[n] = (m, v)
        theta = new_theta
    d_fake = d_out(theta, x_fake)
    g_loss = loss.g(d_fake, d_out(theta, x_real)) if loss.g_uses_real else loss.g(d_fake)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward(inputs=[p for p in generator.parameters() if p.requires_grad])  # nothing reaches D
    opt_g.step()
    return {"g_loss": g_loss.detach()}


def _safe_sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt(v) with a zero (not NaN) derivative where v == 0 (a parameter whose gradient is exactly 0)."""
    positive = v > 0
    return torch.where(positive, torch.where(positive, v, torch.ones_like(v)).sqrt(), torch.zeros_like(v))


def _adam_hyper(discriminator: nn.Module, opt_d: torch.optim.Optimizer) -> dict[str, dict]:
    """Per D parameter name: opt_d's Adam settings and state (zeros and step 0 before its first step)."""
    if not isinstance(opt_d, torch.optim.Adam) or isinstance(opt_d, torch.optim.AdamW):
        raise GanlibError(f"unrolling mirrors Adam: opt_d must be a torch.optim.Adam, got {type(opt_d).__name__}")
    groups = {id(p): g for g in opt_d.param_groups for p in g["params"]}
    hyper = {}
    for name, p in discriminator.named_parameters():
        group = groups.get(id(p))
        if group is None:
            raise GanlibError(f"opt_d does not hold the discriminator's parameter {name!r}")
        if group.get("amsgrad") or group.get("maximize"):
            raise GanlibError("unrolling mirrors plain Adam: amsgrad and maximize are not supported")
        state = opt_d.state.get(p, {})
        zeros = torch.zeros_like(p, memory_format=torch.preserve_format).detach()
        hyper[name] = {
            "lr": float(group["lr"]), "beta1": float(group["betas"][0]), "beta2": float(group["betas"][1]),
            "eps": float(group["eps"]), "weight_decay": float(group["weight_decay"]),
            "step": int(float(state["step"])) if "step" in state else 0,
            "exp_avg": state["exp_avg"].detach() if "exp_avg" in state else zeros,
            "exp_avg_sq": state["exp_avg_sq"].detach() if "exp_avg_sq" in state else zeros,
        }
    return hyper


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Freeze ``module``'s trainable parameters for the duration of a ``with`` block.

    Inside, gradients still flow *through* the module (to whatever produced its input) but not *into*
    its parameters, which is what a generator step needs from the discriminator. The parameters are
    trainable again afterwards, even when the block raises.
    """
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in trainable:
            p.requires_grad_(True)


def _make_optimizer(params, lr: float, betas: tuple[float, float], device: torch.device):
    # fused Adam runs one kernel for all parameters where PyTorch has it (CUDA; CPU in recent releases)
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, betas=betas, foreach=device.type != "cpu")


def new_run(generator: nn.Module, discriminator: nn.Module, config: TrainConfig,
            device: torch.device | None = None) -> Run:
    """Start a run: move the models to ``device``, make their optimizers, the noise and the random stream."""
    device = device or get_device()
    generator.to(device)
    discriminator.to(device)
    latent_dim = _latent_dim(generator)
    rng = seeded(config.seed, device)
    fixed_z = torch.randn(config.num_fixed, latent_dim, generator=rng, device=device)
    return Run(generator=generator, discriminator=discriminator,
               opt_g=_make_optimizer(generator.parameters(), config.lr_g, config.betas, device),
               opt_d=_make_optimizer(discriminator.parameters(), config.lr_d, config.betas, device),
               config=config, rng=rng, fixed_z=fixed_z)


def start_or_continue(generator: nn.Module, discriminator: nn.Module, config: TrainConfig | None,
                      run: Run | None, device: torch.device | str | None = None) -> Run:
    """Return a new run (``run`` is None) or ``run`` itself, switched to ``config`` when one is given.

    Shared by the training loops (:func:`train`, :func:`ganlib.infogan.train_infogan`): a continued run
    must hold the same two networks, and its optimizers follow the new config's learning rates and betas.
    """
    if run is None:
        # get_device checks that an asked-for CUDA / MPS exists
        return new_run(generator, discriminator, config or TrainConfig(), get_device(device))
    if run.generator is not generator or run.discriminator is not discriminator:
        raise GanlibError("to continue a run, pass the run's own generator and discriminator")
    if config is not None:
        run.config = config
        for opt in (run.opt_g, run.opt_d):
            for group in opt.param_groups:  # the optimizers follow the new config
                group["betas"] = config.betas
        _set_learning_rates(run)
    return run


def _set_learning_rates(run: Run) -> None:
    """Set both optimizers' learning rates to the config's, times its decay at ``run.step``."""
    scale = run.config.lr_scale(run.step)
    for opt, lr in ((run.opt_g, run.config.lr_g), (run.opt_d, run.config.lr_d)):
        for group in opt.param_groups:
            group["lr"] = lr * scale


def train(generator: nn.Module, discriminator: nn.Module, data: torch.Tensor,
          config: TrainConfig | None = None, *, run: Run | None = None,
          callback: Callable[[Run], None] | None = None, device: torch.device | str | None = None,
          evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
          stop_when: Callable[[dict[str, float]], bool] | None = None,
          labels: torch.Tensor | None = None) -> Run:
    """Train ``generator`` against ``discriminator`` on ``data`` for ``config.num_steps`` generator steps.

    In a process group started by ``torchrun``, every process trains the same model data-parallel
    (DDP, ``config.batch_size`` per process; see :mod:`ganlib.distributed`).

    Parameters
    ----------
    generator, discriminator : nn.Module
        The two players; they are moved to ``device``.
    data : torch.Tensor
        The real samples ``(N, *data_shape)``; kept on the device and indexed there.
    config : TrainConfig, optional
        Hyper-parameters; defaults to ``TrainConfig()`` (or the run's config when continuing).
    run : Run, optional
        A run returned by an earlier call: training continues from it (same optimizers, history,
        random stream), with ``config`` if one is given.
    callback : callable, optional
        Called as ``callback(run)`` after every generator step (e.g. to save a checkpoint).
    device : torch.device or str, optional
        Where to train; default :func:`ganlib.get_device` (CUDA, then MPS, then CPU).
    evaluate : callable, optional
        ``evaluate(generator) -> {metric: value}``, called every ``config.eval_every`` steps and at
        the end; results go to ``run.evaluations`` with the step and the training seconds so far
        (time spent evaluating is not counted as training time). See
        :func:`ganlib.quality.evaluator`.
    labels : torch.Tensor, optional
        Class labels ``(N,)`` of ``data``, required by (and only by) a conditional pair
        (:mod:`ganlib.conditional`): real batches come with their labels, fakes are made for labels
        drawn uniformly from the run's random stream.
    stop_when : callable, optional
        ``stop_when(metrics) -> bool``: training stops at the first evaluation where it is true
        (``run.target_met`` is then set), e.g. a parsed :func:`ganlib.quality.parse_target`.

    Returns
    -------
    Run
        The models, optimizers, step, history (a row every ``log_every`` steps), evaluations and
        snapshots.
        On ``KeyboardInterrupt`` the partial run is returned with a warning; models stay usable. Inside
        :func:`ganlib.stopping.stop_on_signals` a signal stops it between two steps; ``run.stopped_by`` names it.

    Raises
    ------
    TrainingDiverged
        When a logged loss is NaN or infinite; the models, optimizers, random stream and history
        are first rolled back to the last finite history row, so nothing good is lost.
    """
    run = start_or_continue(generator, discriminator, config, run, device)
    device = run.fixed_z.device
    config = run.config
    loss = get_loss(config.loss)
    if stop_when is not None and evaluate is None:
        raise GanlibError("stop_when needs evaluate=: a target can only be met by measuring quality")
    if config.eval_every and evaluate is None:
        raise GanlibError("config.eval_every is set but no evaluate= function was given")
    data = _check_data(data, generator, config.batch_size).to(device)
    num_classes = getattr(generator, "num_classes", None) if is_conditional(generator) else None
    if (num_classes is None) != (labels is None):
        raise GanlibError("a conditional generator needs labels=" if labels is None else
                          "labels= was given but the generator is not conditional (see ganlib.conditional)")
    if num_classes is not None:
        if loss.penalty is not None:
            raise GanlibError(f"loss {config.loss!r} with a conditional pair is not supported yet")
        labels = check_labels(labels.cpu(), num_classes, len(data)).to(device)  # checked once, on the host
    # Images in channels-last layout: the same numbers, faster convolution kernels (the DCGAN step
    # went from 85 to 75 ms on one core of the 2-core CI machine). No effect on other data.
    layout = torch.channels_last if data.dim() == 4 else torch.contiguous_format
    if data.dim() == 4:
        data = data.contiguous(memory_format=layout)
        generator.to(memory_format=layout)
        discriminator.to(memory_format=layout)
    latent_dim = run.fixed_z.shape[1]
    # One process: the plain steps. Under torchrun (ganlib.distributed) the same steps through DDP, and
    # every rank draws the batches of all `world` ranks from the shared run.rng and keeps its own slice.
    rank, world = 0, 1
    update_d = functools.partial(d_step, generator, discriminator)
    update_g = functools.partial(g_step, generator, discriminator)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if num_classes is not None:
            raise GanlibError("conditional training is not supported under torchrun yet")
        if config.unroll_steps:
            raise GanlibError("unroll_steps is not supported under torchrun (DDP) yet")
        if config.reuse_fakes:
            raise GanlibError("reuse_fakes is not supported under torchrun (DDP) yet; pick reuse_fakes=False")
        from .distributed import data_parallel
        rank, world, update_d, update_g = data_parallel(generator, discriminator)
    if config.unroll_steps:  # G's step needs a real batch, like the relativistic losses
        if num_classes is not None:
            raise GanlibError("unroll_steps is not supported for conditional pairs yet")
        if loss.penalty is not None:
            raise GanlibError(f"unroll_steps does not support loss {config.loss!r} (it has a gradient penalty)")
        update_g = functools.partial(unrolled_g_step, generator, discriminator, opt_d=run.opt_d,
                                     unroll_steps=config.unroll_steps)
    g_needs_real = loss.g_uses_real or config.unroll_steps > 0
    # Lazy regularization (Karras et al., 2020): the penalty only on every k-th D update, k times as strong.
    every = config.penalty_every if loss.penalty is not None else 1
    plain, penalized = (loss, loss) if every == 1 else (
        loss._replace(penalty=None), loss._replace(penalty=functools.partial(_scaled, loss.penalty, every)))
    if config.compile:
        if world > 1:
            raise GanlibError("compile is not supported under torchrun (DDP) yet")
        for module in (generator, discriminator):
            if getattr(module, "_compiled_call_impl", None) is None:  # once per module, not per call
                module.compile()  # in place: parameter names and checkpoints stay as they are
    if config.precision == "bf16" and device.type not in ("cuda", "cpu"):
        raise GanlibError(f"precision 'bf16' needs a CUDA or CPU device, not {device.type}")
    # bf16: the networks' matrix products in bfloat16, weights, optimizer state and losses in float32
    autocast = (functools.partial(torch.autocast, device.type, dtype=torch.bfloat16)
                if config.precision == "bf16" else contextlib.nullcontext)

    # Buffers reused every step: the hot loop allocates no input tensors and never syncs with the host.
    batch_size = config.batch_size
    idx_all = torch.empty(world * batch_size, dtype=torch.long, device=device)
    idx = idx_all[rank * batch_size:(rank + 1) * batch_size]  # this rank's slice (all of it in one process)
    x_real = torch.empty((batch_size, *data.shape[1:]), dtype=data.dtype, device=device, memory_format=layout)
    z_all = torch.empty(world * batch_size, latent_dim, device=device)
    z = z_all[rank * batch_size:(rank + 1) * batch_size]
    y_real = torch.empty(batch_size, dtype=torch.long, device=device)  # used by conditional pairs only
    y_fake = torch.empty(batch_size, dtype=torch.long, device=device)
    cond = {} if num_classes is None else {"y_real": y_real, "y_fake": y_fake}
    g_real = {"x_real": x_real} if g_needs_real else {}  # the same buffer, refilled before each G step
    keep = {"keep_fakes": True} if config.reuse_fakes else {}
    totals = torch.zeros(4, device=device)  # running sums of d_loss, g_loss, D(x), D(G(z))
    rows_since_log = 0

    generator.train()
    discriminator.train()
    bar = _progress_bar(config) if rank == 0 else None
    last_good = _remember(run)  # where a diverging run is rolled back to
    start = time.perf_counter() - run.seconds
    run.stopped_by, stop = None, stop_check(device)  # a signal asks the loop to stop between two steps
    try:
        for _ in range(config.num_steps):
            run.stopped_by = stop()
            if run.stopped_by:
                break
            if config.lr_decay_end and run.step >= config.lr_decay_start:
                _set_learning_rates(run)  # a Python float per optimizer: no allocation, no sync
            # (1) k discriminator updates, each on a fresh real minibatch and fresh noise
            for j in range(config.d_steps):
                idx_all.random_(0, len(data), generator=run.rng)
                torch.index_select(data, 0, idx, out=x_real)
                z_all.normal_(generator=run.rng)
                if cond:  # the real batch's labels, and uniformly drawn labels for the fakes
                    torch.index_select(labels, 0, idx, out=y_real)
                    y_fake.random_(0, num_classes, generator=run.rng)
                lazy = (run.step * config.d_steps + j + 1) % every  # from the step count: resumes exactly
                with autocast():
                    d_out = update_d(run.opt_d, x_real, z, plain if lazy else penalized, rng=run.rng,
                                     **cond, **keep)  # d_step(generator, discriminator, ...)
            # (2) one generator update on fresh noise, or on the last D update's fakes (reuse_fakes), and
            # a real batch for relativistic losses / unrolling
            if keep:
                kept = {"x_fake": d_out.pop("x_fake")}  # made from z (and y_fake) by the G of this step
            else:
                kept = {}
                z_all.normal_(generator=run.rng)
                if cond:
                    y_fake.random_(0, num_classes, generator=run.rng)
            if g_needs_real:
                idx_all.random_(0, len(data), generator=run.rng)
                torch.index_select(data, 0, idx, out=x_real)
                if cond:
                    torch.index_select(labels, 0, idx, out=y_real)
            with autocast():
                g_out = update_g(run.opt_g, z, loss, **g_real, **cond, **kept)  # g_step(generator, ...)
            totals += torch.stack([d_out["d_loss"], g_out["g_loss"], d_out["d_real"], d_out["d_fake"]])
            rows_since_log += 1
            run.step += 1
            if bar is not None:
                bar.update(1)
            if config.snapshot_every and run.step % config.snapshot_every == 0:
                _snapshot(run)
            if run.step % config.log_every == 0:
                run.seconds = time.perf_counter() - start
                _log_or_roll_back(run, totals, rows_since_log, bar, last_good)
                rows_since_log = 0
                last_good = _remember(run)
            if callback is not None:
                callback(run)
            if config.eval_every and run.step % config.eval_every == 0:
                run.seconds = time.perf_counter() - start
                start += _evaluate(run, evaluate)  # evaluation time is not training time
                if stop_when is not None and stop_when(run.evaluations[-1]):
                    run.target_met = True
                    break
    except KeyboardInterrupt:
        run.stopped_by = "SIGINT"
        warnings.warn(f"training interrupted at step {run.step}; returning the run so far", stacklevel=2)
    finally:
        run.seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
        generator.train()
    if rows_since_log:
        _log_or_roll_back(run, totals, rows_since_log, None, last_good)
    if evaluate is not None and not run.stopped_by and (not run.evaluations or run.evaluations[-1]["step"] != run.step):
        _evaluate(run, evaluate)  # the final state is always measured
    return run


def _evaluate(run: Run, evaluate: Callable[[nn.Module], dict[str, float]]) -> float:
    """Append ``evaluate(generator)`` to ``run.evaluations``; return the seconds it took."""
    tick = time.perf_counter()
    metrics = evaluate(run.generator)
    run.generator.train()
    run.evaluations.append({"step": run.step, "seconds": run.seconds, **{k: float(v) for k, v in metrics.items()}})
    return time.perf_counter() - tick


@torch.no_grad()
def sample(generator: nn.Module, n: int, *, seed: int | None = None,
           z: torch.Tensor | None = None, labels: torch.Tensor | None = None,
           batch_size: int = 1000) -> torch.Tensor:
    """Draw ``n`` samples from ``generator`` in evaluation mode, returned on the CPU.

    Parameters
    ----------
    generator : nn.Module
    n : int
        How many samples.
    seed : int, optional
        Seed for the noise, so sampling can be repeated; ignored when ``z`` is given.
    z : torch.Tensor, optional
        Noise to use ``(n, latent_dim)`` instead of drawing it.
    labels : torch.Tensor, optional
        For a conditional generator: the class of each sample ``(n,)``; default ``0, 1, ..., K-1, 0,
        1, ...`` (every class equally often).
    batch_size : int
        Samples generated per forward pass.

    Returns
    -------
    torch.Tensor
        ``(n, *data_shape)`` float32 on the CPU.
    """
    device = next(generator.parameters()).device
    if z is not None and len(z) != n:
        raise GanlibError(f"asked for {n} samples but gave {len(z)} noise vectors")
    if z is None:
        rng = seeded(seed) if seed is not None else torch.Generator()
        if seed is None:
            rng.seed()  # a fresh non-deterministic draw, without touching the global stream
        z = torch.randn(n, _latent_dim(generator), generator=rng)
    if is_conditional(generator):
        labels = torch.arange(n) % generator.num_classes if labels is None else labels
        labels = check_labels(labels, generator.num_classes, n)
    elif labels is not None:
        raise GanlibError("labels= was given but the generator is not conditional")
    was_training = generator.training
    generator.eval()  # BatchNorm uses its running statistics, not the batch's
    try:
        if labels is None:
            out = [generator(chunk.to(device)).float().cpu() for chunk in z.split(batch_size)]
        else:
            out = [generator(chunk.to(device), y.to(device)).float().cpu()
                   for chunk, y in zip(z.split(batch_size), labels.split(batch_size))]
    finally:
        generator.train(was_training)
    return torch.cat(out)


def _latent_dim(generator: nn.Module) -> int:
    latent_dim = getattr(generator, "latent_dim", None)
    if not isinstance(latent_dim, int):
        raise GanlibError("the generator needs an integer attribute `latent_dim` (the size of z)")
    return latent_dim


def _check_data(data, generator: nn.Module, batch_size: int) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise GanlibError(f"data must be a torch.Tensor of real samples, got {type(data).__name__}")
    if not data.is_floating_point():
        raise GanlibError(f"data must be floating point (e.g. images in [-1, 1]), got {data.dtype}")
    shape = getattr(generator, "data_shape", None)
    if shape is not None and tuple(data.shape[1:]) != tuple(shape):
        raise GanlibError(f"data must have shape (N, {', '.join(map(str, shape))}) to match the generator, "
                          f"got {tuple(data.shape)}")
    if len(data) < batch_size:
        raise GanlibError(f"batch_size {batch_size} is larger than the data ({len(data)} samples)")
    if not torch.isfinite(data).all():
        raise GanlibError("data contains NaN or infinite values")
    if any(isinstance(m, nn.Tanh) for m in generator.modules()):
        lo, hi = float(data.min()), float(data.max())
        if lo < -1.001 or hi > 1.001:
            raise GanlibError(f"data must lie in [-1, 1] like the generator's tanh output, got [{lo:g}, {hi:g}]"
                              " (scale images with x / 127.5 - 1)")
    return data


def _snapshot(run: Run) -> None:
    run.snapshots.append((run.step, sample(run.generator, len(run.fixed_z), z=run.fixed_z)))


class TrainingDiverged(GanlibError):
    """A loss became NaN or infinite; the run was rolled back to its last finite history row."""


def _scaled(penalty: Callable[..., torch.Tensor], factor: int, *args, **kwargs) -> torch.Tensor:
    return factor * penalty(*args, **kwargs)


def _remember(run: Run) -> dict:
    """A copy of everything a step changes, taken at each finite history row (a few MB at most)."""
    return {"generator": copy.deepcopy(run.generator.state_dict()),
            "discriminator": copy.deepcopy(run.discriminator.state_dict()),
            "opt_g": copy.deepcopy(run.opt_g.state_dict()), "opt_d": copy.deepcopy(run.opt_d.state_dict()),
            "rng": run.rng.get_state(), "step": run.step, "seconds": run.seconds,
            "rows": len(run.history["step"]), "snapshots": len(run.snapshots), "evals": len(run.evaluations)}


def _log_or_roll_back(run: Run, totals: torch.Tensor, rows: int, bar, last_good: dict) -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():  # torchrun: all ranks alike
        torch.distributed.all_reduce(totals)  # sums over the ranks (gloo has no average)
        totals /= torch.distributed.get_world_size()
    means = (totals / rows).tolist()  # the one host sync, once per log interval
    totals.zero_()
    if all(math.isfinite(m) for m in means):
        _log(run, means, bar)
        return
    bad_step = run.step
    run.generator.load_state_dict(last_good["generator"])
    run.discriminator.load_state_dict(last_good["discriminator"])
    run.opt_g.load_state_dict(last_good["opt_g"])
    run.opt_d.load_state_dict(last_good["opt_d"])
    run.rng.set_state(last_good["rng"])
    run.step, run.seconds = last_good["step"], last_good["seconds"]
    for values in run.history.values():
        del values[last_good["rows"]:]
    del run.snapshots[last_good["snapshots"]:]
    del run.evaluations[last_good["evals"]:]
    raise TrainingDiverged(f"the losses became NaN or infinite between steps {last_good['step']} and {bad_step}; "
                           f"the models and optimizers are back at step {run.step}, the last finite one "
                           "(try a smaller learning rate, or another loss)")


def _log(run: Run, means: list[float], bar) -> None:
    row = dict(zip(("d_loss", "g_loss", "d_real", "d_fake"), means), step=run.step, seconds=run.seconds)
    for key in HISTORY_KEYS:
        run.history[key].append(float(row[key]))
    if bar is not None:
        bar.set_postfix(d_loss=f"{means[0]:.3f}", g_loss=f"{means[1]:.3f}", refresh=False)


# tqdm's own switch. tqdm.auto's notebook widget ignores it (it passes ``disable`` itself), and a widget
# executed by the book's build would stay on the page as frozen text ("training: 0%|"), so it is read here.
PROGRESS_OFF_ENV = "TQDM_DISABLE"


def _progress_bar(config: TrainConfig):
    """A tqdm bar over the run's steps, or None: with ``config.progress`` off, or ``TQDM_DISABLE`` set
    to anything but ``""``, ``0``, ``false``, ``no`` or ``off`` (``make book`` sets it)."""
    switched_off = os.environ.get(PROGRESS_OFF_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")
    if not config.progress or switched_off:
        return None
    from tqdm.auto import tqdm  # a widget in notebooks, text in a terminal

    return tqdm(total=config.num_steps, desc="training", unit="step", leave=False)


"""A training run's state, and drawing samples from a generator.

Holds :class:`Run` (what a notebook needs to continue: models, optimizers, step, history, snapshots,
random stream), :func:`new_run` and :func:`start_or_continue`, :func:`run_without_noise` (a variant's own
run), :func:`set_learning_rates`, :func:`check_data` (the real samples a run trains on) and :func:`sample`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import torch
from torch import nn

from .config import TrainConfig
from .labels import check_labels, is_conditional
from .utils import GanlibError, get_device, rng as seeded

__all__ = ["Run", "HISTORY_KEYS", "TrainingDiverged", "new_run", "start_or_continue", "run_without_noise",
           "set_learning_rates", "check_data", "sample"]

HISTORY_KEYS = ("step", "d_loss", "g_loss", "d_real", "d_fake", "seconds")


class TrainingDiverged(GanlibError):
    """A loss became NaN or infinite; the run was rolled back to its last finite history row."""


@dataclass
class Run:
    """A training run in progress: pass it back to :func:`ganlib.train` to continue where it stopped."""

    generator: nn.Module
    discriminator: nn.Module | None              # None for a variant without D (the VAE)
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    config: TrainConfig
    rng: torch.Generator                          # the run's own random stream: batches and noise
    fixed_z: torch.Tensor | None                  # (num_fixed, latent_dim) noise for snapshots; None: none
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

    @property
    def device(self) -> torch.device:
        """The generator's device, where the run trains."""
        return next(self.generator.parameters()).device

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [opt for opt in (self.opt_g, self.opt_d) if opt is not None]


def _make_optimizer(params, lr: float, betas: tuple[float, float], device: torch.device):
    # fused Adam runs one kernel for all parameters where PyTorch has it (CUDA; CPU in recent releases)
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, betas=betas, foreach=device.type != "cpu")


def new_run(generator: nn.Module, discriminator: nn.Module | None, config: TrainConfig,
            device: torch.device | None = None) -> Run:
    """Start a run: move the models to ``device``, make their optimizers, the noise and the random stream."""
    device = device or get_device()
    generator.to(device)
    if discriminator is not None:  # a variant without D (the VAE) trains G alone
        discriminator.to(device)
    latent_dim = _latent_dim(generator)
    rng = seeded(config.seed, device)
    fixed_z = torch.randn(config.num_fixed, latent_dim, generator=rng, device=device)
    return Run(generator=generator, discriminator=discriminator,
               opt_g=_make_optimizer(generator.parameters(), config.lr_g, config.betas, device),
               opt_d=None if discriminator is None else _make_optimizer(discriminator.parameters(), config.lr_d,
                                                                          config.betas, device),
               config=config, rng=rng, fixed_z=fixed_z)


def run_without_noise(generator: nn.Module, discriminator: nn.Module | None, config: TrainConfig,
                      device: torch.device, logged: tuple[str, ...], *, params_g=None, params_d=None) -> Run:
    """Start a run for models without a ``latent_dim`` (a variant's ``new_run``: CycleGAN, image-to-image,
    the VAE): the models moved to ``device``; plain Adam over ``params_g`` and ``params_d`` (default: the
    generator's and the discriminator's parameters; no D optimizer when there are none); the random
    stream seeded by ``config.seed`` with nothing drawn from it yet, so the first draws are the batches;
    no fixed noise (no snapshots); a history with the keys "step", ``logged`` and "seconds"."""
    generator.to(device)
    if discriminator is not None:
        discriminator.to(device)
    params_g = list(generator.parameters() if params_g is None else params_g)
    if params_d is None:
        params_d = () if discriminator is None else discriminator.parameters()
    params_d = list(params_d)
    return Run(generator=generator, discriminator=discriminator,
               opt_g=torch.optim.Adam(params_g, lr=config.lr_g, betas=config.betas),
               opt_d=torch.optim.Adam(params_d, lr=config.lr_d, betas=config.betas) if params_d else None,
               config=config, rng=seeded(config.seed, device), fixed_z=None,
               history={key: [] for key in ("step", *logged, "seconds")})


def start_or_continue(generator: nn.Module, discriminator: nn.Module | None, config: TrainConfig | None,
                      run: Run | None, device: torch.device | str | None = None) -> Run:
    """Return a new run (``run`` is None) or ``run`` itself, switched to ``config`` when one is given.

    Shared by the training loops (:func:`ganlib.train`): a continued run
    must hold the same two networks, and its optimizers follow the new config's learning rates and betas.
    """
    if run is None:
        # get_device checks that an asked-for CUDA / MPS exists
        return new_run(generator, discriminator, config or TrainConfig(), get_device(device))
    if run.generator is not generator or run.discriminator is not discriminator:
        raise GanlibError("to continue a run, pass the run's own generator and discriminator")
    if config is not None:
        run.config = config
        for opt in run.optimizers():
            for group in opt.param_groups:  # the optimizers follow the new config
                group["betas"] = config.betas
        set_learning_rates(run)
    return run


def set_learning_rates(run: Run) -> None:
    """Set both optimizers' learning rates to the config's, times its decay at ``run.step``."""
    scale = run.config.lr_scale(run.step)
    for opt, lr in ((run.opt_g, run.config.lr_g), (run.opt_d, run.config.lr_d)):
        for group in opt.param_groups if opt is not None else ():
            group["lr"] = lr * scale


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


def check_data(data, generator: nn.Module, batch_size: int) -> torch.Tensor:
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

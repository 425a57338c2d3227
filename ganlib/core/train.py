"""``ganlib.train``: the one entry point that trains every pair, and the plain GAN's two updates.

:func:`train` starts (or continues) a :class:`~ganlib.core.run.Run`, checks the options once
(:func:`ganlib.core.config.check_options`), asks the variant for its :class:`~ganlib.core.engine.Steps`
and hands both to the engine (:func:`ganlib.core.engine.fit`). Without ``variant=`` it trains the plain
GAN of ``GAN``: :func:`~ganlib.core.steps.d_step` and :func:`~ganlib.core.steps.g_step` on batches
drawn from the run's random stream; with ``reuse_fakes`` the G step judges the last D step's fakes (G's
weights have not changed in between), as pytorch/examples' DCGAN does.

A variant is any object with a ``name``, a set ``unsupported`` of options it leaves out (see
:data:`ganlib.core.options.VARIANT_OPTIONS`) and ``steps(run, data, labels) -> Steps``; see
:mod:`ganlib.variants` for InfoGAN, CycleGAN, image-to-image and the VAE. A variant whose models have no
``latent_dim`` (CycleGAN, image-to-image, the VAE) also has ``new_run(generator, discriminator, config,
device) -> Run``: :func:`train` calls it to start a run (its own optimizers, no fixed noise, a history with
its own keys); a run it returns continues like any other (``run=``).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable

import torch
from torch import nn

from .config import TrainConfig
from .options import Context, check_options
from .engine import Steps, fit
from .labels import check_labels, is_conditional
from .losses import get_loss
from .run import Run, check_data, start_or_continue
from .steps import d_step, g_step
from .unrolled import unrolled_g_step
from .utils import GanlibError, get_device

__all__ = ["train", "GAN", "gan_steps", "prepare_pair"]


def train(generator: nn.Module, discriminator: nn.Module | None, data, config: TrainConfig | None = None, *,
          variant=None, run: Run | None = None, callback: Callable[[Run], None] | None = None,
          device: torch.device | str | None = None, evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
          stop_when: Callable[[dict[str, float]], bool] | None = None, labels: torch.Tensor | None = None) -> Run:
    """Train ``generator`` against ``discriminator`` on ``data`` for ``config.num_steps`` generator steps.

    In a process group started by ``torchrun``, every process trains the same model data-parallel
    (DDP, ``config.batch_size`` per process; see :mod:`ganlib.core.distributed`).

    Parameters
    ----------
    generator, discriminator : nn.Module
        The two players; they are moved to ``device``. ``discriminator`` is None for a variant without
        one (the VAE), or whose generator module holds all its networks (a CycleGAN).
    data : torch.Tensor
        The real samples ``(N, *data_shape)``; kept on the device and indexed there (a variant may take
        something else, e.g. CycleGAN's two domains).
    config : TrainConfig, optional
        Hyper-parameters; defaults to ``TrainConfig()`` (or the run's config when continuing).
    variant : optional
        Whose two updates to make: the plain GAN (default), or a variant's, e.g.
        ``ganlib.infogan.InfoGAN()``.
    run : Run, optional
        A run to continue (its optimizers, history, random stream), with ``config`` if one is given.
    callback : callable, optional
        ``callback(run)`` after every generator step (e.g. to save a checkpoint).
    device : torch.device or str, optional
        Default :func:`ganlib.get_device`.
    evaluate : callable, optional
        ``evaluate(generator) -> {metric: value}`` every ``config.eval_every`` steps and at the end, into
        ``run.evaluations`` (its time is not training time). See :func:`ganlib.eval.quality.evaluator`.
    stop_when : callable, optional
        ``stop_when(metrics) -> bool``: stop at the first evaluation where it holds (``run.target_met``).
    labels : torch.Tensor, optional
        Class labels ``(N,)`` of ``data`` for (only) a conditional pair (:mod:`ganlib.variants.conditional`);
        the fakes' labels are drawn uniformly from the run's random stream.

    Returns
    -------
    Run
        Models, optimizers, step, history, evaluations, snapshots. After ``KeyboardInterrupt`` (or a
        signal inside :func:`ganlib.core.stopping.stop_on_signals`), the run so far: ``run.stopped_by``.

    Raises
    ------
    TrainingDiverged
        When a logged loss is NaN or infinite; the models, optimizers, random stream and history
        are first rolled back to the last finite history row, so nothing good is lost.
    """
    variant = GAN if variant is None else variant
    run = _start(generator, discriminator, config, variant, run, device, evaluate is not None, stop_when is not None)
    return fit(run, variant.steps(run, data, labels), callback=callback, evaluate=evaluate, stop_when=stop_when)


def _start(generator, discriminator, config, variant, run, device, evaluates: bool, has_target: bool) -> Run:
    """The run :func:`train` trains: a new one (the variant's ``new_run`` when it has one) or ``run``
    continued, with its options checked once."""
    if run is None and hasattr(variant, "new_run"):  # models without a latent_dim: the variant starts the run
        run, config = variant.new_run(generator, discriminator, config or TrainConfig(), get_device(device)), None
    run = start_or_continue(generator, discriminator, config, run, device)
    if has_target and not evaluates:
        raise GanlibError("stop_when needs evaluate=: a target can only be met by measuring quality")
    if run.config.eval_every and not evaluates:
        raise GanlibError("config.eval_every is set but no evaluate= function was given")
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    check_options(run.config, Context(conditional=is_conditional(generator), distributed=distributed,
                                      device_type=run.device.type, variant=variant.name,
                                      unsupported=frozenset(variant.unsupported)))
    return run


class _PlainGAN:
    """The GAN of Goodfellow et al.: :func:`d_step` and :func:`g_step` (or the unrolled G step)."""

    name = "gan"
    unsupported = frozenset()

    def steps(self, run: Run, data, labels) -> Steps:
        return gan_steps(run, data, labels)


GAN = _PlainGAN()


def prepare_pair(run: Run, data) -> torch.Tensor:
    """``data`` checked and on the run's device; images and networks in channels-last layout (the same
    numbers, faster convolutions); with ``config.speed.compile``, both networks compiled (once, in place)."""
    data = check_data(data, run.generator, run.config.batch_size).to(run.device)
    if data.dim() == 4:
        data = data.contiguous(memory_format=torch.channels_last)
        run.generator.to(memory_format=torch.channels_last)
        run.discriminator.to(memory_format=torch.channels_last)
    if run.config.speed.compile:
        for module in (run.generator, run.discriminator):
            if getattr(module, "_compiled_call_impl", None) is None:  # parameter names stay as they are
                module.compile()
    return data


def _players(run: Run):
    """``rank, world, update_d, update_g``: the plain steps, or under torchrun the same through DDP."""
    generator, discriminator = run.generator, run.discriminator
    unroll = run.config.regularization.unroll_steps
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        from .distributed import data_parallel  # imported when used: it needs torch.distributed

        return data_parallel(generator, discriminator, unroll_steps=unroll, opt_d=run.opt_d)
    update_d = functools.partial(d_step, generator, discriminator)
    update_g = functools.partial(g_step, generator, discriminator)
    if unroll:
        update_g = functools.partial(unrolled_g_step, generator, discriminator, opt_d=run.opt_d, unroll_steps=unroll)
    return 0, 1, update_d, update_g


def _lazy_losses(loss, every: int):
    """Lazy regularization (Karras et al., 2020): the penalty on every k-th D update only, k times as strong."""
    if loss.penalty is None or every == 1:
        return loss, loss
    return loss._replace(penalty=None), loss._replace(penalty=functools.partial(_scaled, loss.penalty, every))


def _scaled(penalty: Callable[..., torch.Tensor], factor: int, *args, **kwargs) -> torch.Tensor:
    return factor * penalty(*args, **kwargs)


def gan_steps(run: Run, data, labels) -> Steps:
    """The plain GAN's updates. Batches go into buffers made once: the hot loop allocates no input
    tensors and never waits for the host. Under torchrun every rank draws the batches of all ranks from
    the shared ``run.rng`` and keeps its own slice, so one saved random state resumes them all."""
    config, device = run.config, run.device
    loss = get_loss(config.loss)
    data = prepare_pair(run, data)
    labels = _check_pair_labels(run.generator, labels, data)
    rank, world, update_d, update_g = _players(run)
    plain, penalized = _lazy_losses(loss, config.regularization.penalty_every)
    autocast = (functools.partial(torch.autocast, device.type, dtype=torch.bfloat16)
                if config.speed.precision == "bf16" else contextlib.nullcontext)  # weights, losses stay float32
    b = config.batch_size
    idx_all = torch.empty(world * b, dtype=torch.long, device=device)
    z_all = torch.empty(world * b, run.fixed_z.shape[1], device=device)
    idx, z = idx_all[rank * b:(rank + 1) * b], z_all[rank * b:(rank + 1) * b]  # this rank's slices
    x_real = torch.empty((b, *data.shape[1:]), dtype=data.dtype, device=device,
                         memory_format=torch.channels_last if data.dim() == 4 else torch.contiguous_format)
    y_real, y_fake_all = torch.empty(b, dtype=torch.long, device=device), torch.empty(world * b, dtype=torch.long,
                                                                                     device=device)
    y_fake = y_fake_all[rank * b:(rank + 1) * b]  # every rank draws the fakes' labels of all ranks, like z
    cond = {} if labels is None else {"y_real": y_real, "y_fake": y_fake}
    g_real = {"x_real": x_real} if loss.g_uses_real or config.regularization.unroll_steps else {}
    keep = {"keep_fakes": True} if config.speed.reuse_fakes else {}

    def draw_real():
        idx_all.random_(0, len(data), generator=run.rng)
        torch.index_select(data, 0, idx, out=x_real)
        if cond:
            torch.index_select(labels, 0, idx, out=y_real)

    def draw_noise():
        z_all.normal_(generator=run.rng)
        if cond:  # fakes are made for uniformly drawn labels
            y_fake_all.random_(0, run.generator.num_classes, generator=run.rng)

    def update_discriminator(j: int) -> dict:
        draw_real()
        draw_noise()
        lazy = (run.step * config.d_steps + j + 1) % config.regularization.penalty_every  # from the step count: resumes exactly
        with autocast():
            return update_d(run.opt_d, x_real, z, plain if lazy else penalized, rng=run.rng, **cond, **keep)

    def update_generator(d_out: dict) -> dict:
        kept = {"x_fake": d_out.pop("x_fake")} if keep else {}  # made by this step's G from z (and y_fake)
        if not keep:
            draw_noise()
        if g_real:
            draw_real()
        with autocast():
            return update_g(run.opt_g, z, loss, **g_real, **cond, **kept)

    return Steps(update_discriminator, update_generator)


def _check_pair_labels(generator: nn.Module, labels, data: torch.Tensor):
    """The labels on the data's device (checked once, on the host), or None for an unconditional pair."""
    num_classes = generator.num_classes if is_conditional(generator) else None
    if (num_classes is None) != (labels is None):
        raise GanlibError("a conditional generator needs labels=" if labels is None else
                          "labels= was given but the generator is not conditional (see ganlib.conditional)")
    if labels is None:
        return None
    return check_labels(labels.cpu(), num_classes, len(data)).to(data.device)

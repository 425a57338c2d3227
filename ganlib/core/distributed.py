"""Data-parallel training with ``torchrun``: one model, K processes, gradients averaged by DDP.

Holds: :func:`launched`, :func:`process_group` and :func:`all_ok` (used by the CLI), :func:`rank`,
:func:`world_size`, :class:`PairDiscriminator` and :func:`data_parallel` (used by :func:`ganlib.train`).
It holds no loop and no loss arithmetic: the steps of :mod:`ganlib.core.train` and
:mod:`ganlib.core.steps_shared` run through DDP wrappers, which expect one forward per backward:

- D's step (:func:`~ganlib.core.steps_shared.d_step_with`): G's plain module makes the fakes under
  ``no_grad`` (with ``keep_fakes``, G's DDP wrapper: G's step will back through that forward), then
  ``DDP(PairDiscriminator(D))``, one forward that scores the real and the fake batch (separately, as in
  one process) and computes the loss's penalty (R1, WGAN-GP: input gradients with ``create_graph=True``);
  the one backward averages D's gradients, the penalty's included.
- G's step (:func:`ganlib.g_step`, or :func:`ganlib.unrolled_g_step`): ``DDP(G)`` through D's plain, frozen
  module (also on the real batch for relativistic losses); G's gradients are averaged. Conditional pairs
  get their labels in both steps.
- Data: every rank keeps the same ``run.rng``, draws the batches of all K ranks and keeps its own
  slice (like ``DistributedSampler``); a penalty's per-example draws (WGAN-GP's interpolation weights) are
  sliced alike (:func:`~ganlib.core.steps_shared.batch_slice`). The ranks see different data, one saved
  random state resumes them all, and K ranks of B compute what one process of K*B does, up to rounding,
  for every loss whose batch terms are means over examples. Batch statistics stay per rank: BatchNorm and
  RaGAN's mean verdicts are those of each rank's B samples (as one process of K*B whose batch is split in
  K parts). Each history row is averaged over the ranks, so all ranks log, and roll back on a NaN, alike.
- BatchNorm stays per rank, not ``SyncBatchNorm``: each rank normalizes its own B samples, the batch
  the recipes were tuned on; ``SyncBatchNorm`` does not run on the CPU (gloo) and adds a collective
  per layer. The running statistics are averaged after every G step: all ranks hold the same models.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from typing import Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from .steps import g_step
from .steps_shared import batch_slice, d_step_with, d_verdicts
from .unrolled import unrolled_g_step
from .utils import GanlibError, get_device

__all__ = ["launched", "process_group", "all_ok", "rank", "world_size", "PairDiscriminator", "data_parallel"]


# Buffers are averaged once a step (below), not sent at every forward; recent PyTorch renamed the keyword.
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters
                   else {"broadcast_buffers": False})


def launched() -> bool:
    """Return True in a process started by ``torchrun`` (it sets ``RANK`` and ``WORLD_SIZE``)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def rank() -> int:
    """Return this process's rank, 0 when no process group is running."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Return the number of processes training together, 1 when no process group is running."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@contextlib.contextmanager
def process_group(prefer: str | None = None) -> Iterator[torch.device]:
    """Join the ``torchrun`` process group for a block: NCCL on CUDA, gloo on the CPU.

    Parameters
    ----------
    prefer : str, optional
        As :func:`ganlib.get_device`; on CUDA each process takes the GPU ``LOCAL_RANK``.

    Yields
    ------
    torch.device
        This process's device. The group, unless it existed before, is destroyed when the block ends.
    """
    device = get_device(prefer)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    owner = not dist.is_initialized()  # a script may have joined already (to train several times)
    if owner:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")  # env:// set by torchrun
    try:
        yield device
        dist.barrier()  # no rank leaves before rank 0 has written the files
    finally:
        if owner:
            dist.destroy_process_group()


def all_ok(ok: bool, device: torch.device | str = "cpu") -> bool:
    """Return True when ``ok`` is True on every rank (in one process: ``ok``); every rank must call it.

    For what one rank alone checks (rank 0 takes the output folder's lock): the others learn the
    outcome and stop with it, instead of waiting for rank 0 at the first collective.
    """
    if world_size() == 1:
        return ok
    flag = torch.tensor([int(ok)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


class PairDiscriminator(nn.Module):
    """D's whole share of its step in one forward, as DDP wants: ``(d_real, d_fake, penalty_term)``.

    The forward is :func:`ganlib.core.steps_shared.d_verdicts` on the wrapped D: its logits on the real and
    on the fake batch (scored separately, as in one process), and, given the loss's penalty, the penalty
    term (None without one). The penalty's input gradients are taken inside this forward with
    ``create_graph=True``, and only with respect to D's *inputs*, so DDP's hooks on D's parameters fire
    once, in the step's one backward, where they average the gradient of the loss *and* of the penalty.
    """

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, x_real: torch.Tensor, x_fake: torch.Tensor, penalty: Callable | None = None, *,
                rng: torch.Generator | None = None, y_real: torch.Tensor | None = None,
                y_fake: torch.Tensor | None = None):
        return d_verdicts(self.discriminator, x_real, x_fake, penalty, rng=rng, y_real=y_real, y_fake=y_fake)


def data_parallel(generator: nn.Module, discriminator: nn.Module, *, unroll_steps: int = 0,
                  opt_d: torch.optim.Optimizer | None = None):
    """Wrap the players in DDP for one call of :func:`ganlib.train`; rank 0's weights go to every rank.

    Parameters
    ----------
    generator, discriminator : nn.Module
        The models, already on this process's device (compiled in place, if at all, before this call).
    unroll_steps : int
        K > 0: ``update_g`` is :func:`ganlib.unrolled_g_step` (with ``opt_d``) through G's DDP wrapper.
        Each rank unrolls D on its own B samples, and G's gradients are averaged: not what one process of
        K*B computes (K Adam steps on B samples are not the mean of those on K parts), but the same on
        every rank.
    opt_d : torch.optim.Optimizer, optional
        D's optimizer, read by the unrolled steps.

    Returns
    -------
    rank, world : int
    update_d : callable
        ``update_d(opt_d, x_real, z, loss, *, rng=None, y_real=None, y_fake=None, keep_fakes=False)``:
        :func:`ganlib.d_step` through DDP, with every loss (penalties and relativistic ones included).
    update_g : callable
        ``update_g(opt_g, z, loss, *, x_real=None, y_fake=None, y_real=None, x_fake=None)``:
        :func:`ganlib.g_step` through DDP (``x_fake``: the fakes of ``update_d(..., keep_fakes=True)``,
        made by G's DDP wrapper, so their backward averages G's gradients too), then the BatchNorm
        statistics averaged over the ranks. With ``unroll_steps``: ``update_g(opt_g, z, loss, *, x_real)``.
    """
    if unroll_steps and opt_d is None:
        raise GanlibError("data_parallel with unroll_steps needs opt_d (D's optimizer)")
    device = next(generator.parameters()).device
    ids = [device] if device.type == "cuda" else None
    _average_buffers(generator, discriminator)  # DDP sends rank 0's parameters; buffers are ours
    pair = DDP(PairDiscriminator(discriminator), device_ids=ids, **_NO_BUFFER_SYNC)
    generator_ddp = DDP(generator, device_ids=ids, **_NO_BUFFER_SYNC)
    rank, world = dist.get_rank(), dist.get_world_size()

    def update_d(opt_d, x_real, z, loss, *, rng=None, y_real=None, y_fake=None, keep_fakes=False):
        # G's plain module under no_grad (nothing to reduce); fakes that G's step will back through come
        # from G's DDP wrapper, whose forward prepares the averaging of G's gradients in that backward
        maker = generator_ddp if keep_fakes else generator
        with batch_slice(rank, world):  # a penalty's per-example draws: this rank's slice of the global draw
            return d_step_with(maker, pair, opt_d, x_real, z, loss, rng=rng, y_real=y_real, y_fake=y_fake,
                               keep_fakes=keep_fakes)

    def update_g(opt_g, z, loss, *, x_real=None, y_fake=None, y_real=None, x_fake=None):
        if unroll_steps:  # opt_d: data_parallel's argument (update_d's own opt_d is the same optimizer)
            if y_fake is not None or x_fake is not None:
                raise GanlibError("unrolled G steps support neither conditional pairs nor reused fakes")
            out = unrolled_g_step(generator_ddp, discriminator, opt_g, z, loss, x_real=x_real, opt_d=opt_d,
                                  unroll_steps=unroll_steps)
        else:  # D's plain module, frozen: G's gradients flow through it and DDP averages them
            out = g_step(generator_ddp, discriminator, opt_g, z, loss, x_real=x_real, y_fake=y_fake,
                         y_real=y_real, x_fake=x_fake)
        _average_buffers(generator, discriminator)
        return out

    return rank, world, update_d, update_g


def _average_buffers(*modules: nn.Module) -> None:
    buffers = [b for m in modules for b in m.buffers() if b.is_floating_point()]  # BN running stats
    if buffers:
        flat = torch.cat([b.reshape(-1) for b in buffers])
        dist.all_reduce(flat)  # a sum: gloo has no average
        for b, v in zip(buffers, (flat / dist.get_world_size()).split([b.numel() for b in buffers])):
            b.copy_(v.view_as(b))

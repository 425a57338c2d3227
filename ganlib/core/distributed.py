"""Data-parallel training with ``torchrun``: one model, K processes, gradients averaged by DDP.

Holds: :func:`launched`, :func:`process_group` and :func:`all_ok` (used by the CLI), :func:`rank`,
:func:`world_size`, :class:`PairDiscriminator` and :func:`data_parallel` (used by :func:`ganlib.train`).
It holds no loop and no loss: :mod:`ganlib.train`'s steps run through DDP wrappers, which expect one
forward per backward:

- D's step: G's plain module under ``no_grad``, then ``DDP(PairDiscriminator(D))``, one forward that
  scores the real and the fake batch (separately, as in one process); D's gradients are averaged.
- G's step: ``DDP(G)`` through D's plain, frozen module; G's gradients are averaged.
- Data: every rank keeps the same ``run.rng``, draws the batches of all K ranks and keeps its own
  slice (like ``DistributedSampler``): the ranks see different data, one saved random state resumes
  them all, and (without BatchNorm) K ranks of B compute what one process of K*B does, up to rounding.
  Each history row is averaged over the ranks, so all ranks log, and roll back on a NaN, alike.
- BatchNorm stays per rank, not ``SyncBatchNorm``: each rank normalizes its own B samples, the batch
  the recipes were tuned on; ``SyncBatchNorm`` does not run on the CPU (gloo) and adds a collective
  per layer. The running statistics are averaged after every G step: all ranks hold the same models.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from .losses import GANLoss
from .steps import g_step, logits
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
    """D on the real and on the fake batch in one forward, as DDP wants: ``(d_real, d_fake)`` logits."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, x_real: torch.Tensor, x_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.discriminator(x_real), self.discriminator(x_fake)  # (B,) logits each


def data_parallel(generator: nn.Module, discriminator: nn.Module):
    """Wrap the players in DDP for one call of :func:`ganlib.train`; rank 0's weights go to every rank.

    Parameters
    ----------
    generator, discriminator : nn.Module
        The models, already on this process's device.

    Returns
    -------
    rank, world : int
    update_d : callable
        ``update_d(opt_d, x_real, z, loss)``: :func:`ganlib.d_step` through DDP.
    update_g : callable
        ``update_g(opt_g, z, loss)``: :func:`ganlib.g_step` through DDP, then the BatchNorm statistics
        averaged over the ranks.
    """
    device = next(generator.parameters()).device
    ids = [device] if device.type == "cuda" else None
    _average_buffers(generator, discriminator)  # DDP sends rank 0's parameters; buffers are ours
    pair = DDP(PairDiscriminator(discriminator), device_ids=ids, **_NO_BUFFER_SYNC)
    generator_ddp = DDP(generator, device_ids=ids, **_NO_BUFFER_SYNC)
    update_d = functools.partial(_d_step, generator, pair)  # G's plain module: no DDP, under no_grad
    update_g = functools.partial(_g_step, generator_ddp, discriminator)  # D's plain module: frozen
    return dist.get_rank(), dist.get_world_size(), update_d, update_g


def _d_step(generator: nn.Module, pair: DDP, opt_d: torch.optim.Optimizer, x_real: torch.Tensor,
            z: torch.Tensor, loss: GANLoss, *, rng: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """:func:`ganlib.d_step` with one DDP forward for D's two verdicts."""
    if loss.penalty is not None or loss.g_uses_real:
        raise GanlibError("gradient-penalty and relativistic losses are not supported under torchrun yet; "
                          "train them in one process, or pick a loss without them (e.g. --loss ns)")
    with torch.no_grad():  # G is frozen in D's step: no graph through G is needed (the "detach")
        x_fake = generator(z)  # (B, *data_shape)
    d_real, d_fake = map(logits, pair(x_real, x_fake))  # (B,) logits each, from one DDP forward
    d_loss = loss.d(d_real, d_fake)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()  # DDP averages D's gradients over the ranks here
    opt_d.step()
    return {"d_loss": d_loss.detach(), "d_real": torch.sigmoid(d_real.detach()).mean(),
            "d_fake": torch.sigmoid(d_fake.detach()).mean()}


def _g_step(generator_ddp: DDP, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
            z: torch.Tensor, loss: GANLoss) -> dict[str, torch.Tensor]:
    """:func:`ganlib.g_step` through G's DDP wrapper, then the same BatchNorm statistics on every rank."""
    out = g_step(generator_ddp, discriminator, opt_g, z, loss)  # DDP averages G's gradients
    _average_buffers(generator_ddp.module, discriminator)
    return out


def _average_buffers(*modules: nn.Module) -> None:
    buffers = [b for m in modules for b in m.buffers() if b.is_floating_point()]  # BN running stats
    if buffers:
        flat = torch.cat([b.reshape(-1) for b in buffers])
        dist.all_reduce(flat)  # a sum: gloo has no average
        for b, v in zip(buffers, (flat / dist.get_world_size()).split([b.numel() for b in buffers])):
            b.copy_(v.view_as(b))

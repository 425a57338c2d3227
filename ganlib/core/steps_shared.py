"""The discriminator step's arithmetic, shared by one process (:func:`ganlib.d_step`) and DDP (:mod:`.distributed`).

Holds: :func:`logits`, :func:`d_verdicts` (D on the real and the fake batch, plus the loss's penalty:
everything D's step computes with D's weights, in one call, so that DDP can run it as *one* forward),
:func:`d_step_with` (the whole D step around any such call) and, for the penalties' random draws,
:func:`batch_slice` and :func:`rand_per_example`. It holds no loss and no loop.

Random draws under DDP: every rank keeps the same ``run.rng`` and, like the batches, draws the numbers
of all ranks and keeps its own slice. A penalty that draws one number per example (WGAN-GP's
interpolation weights) does so with :func:`rand_per_example`: in one process that is a plain draw of B
numbers; inside :func:`batch_slice` (which :mod:`.distributed` sets around D's step) rank r draws the
K*B numbers of one process of K*B and keeps numbers r*B to (r+1)*B. Every rank's stream moves alike, and
K ranks of B draw exactly what one process of K*B draws.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import TYPE_CHECKING, Callable, Iterator

import torch
from torch import nn

if TYPE_CHECKING:
    from .losses import GANLoss

__all__ = ["logits", "d_verdicts", "d_step_with", "batch_slice", "rand_per_example"]

_SLICE: contextvars.ContextVar[tuple[int, int]] = contextvars.ContextVar("ganlib_batch_slice", default=(0, 1))


def logits(scores: torch.Tensor) -> torch.Tensor:
    """D's scores as the losses take them: float32 when autocast made them bfloat16, else unchanged."""
    return scores.float() if scores.dtype in (torch.bfloat16, torch.float16) else scores  # float64 stays


def d_verdicts(discriminator: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor,
               penalty: Callable[..., torch.Tensor] | None = None, *, rng: torch.Generator | None = None,
               y_real: torch.Tensor | None = None, y_fake: torch.Tensor | None = None):
    """D's logits on the real and on the fake batch, ``(B,)`` each, and the penalty term (or None).

    ``penalty(discriminator, x_real, x_fake, generator=rng)`` is a :class:`ganlib.losses.GANLoss`'s
    penalty; it differentiates D with respect to its inputs with ``create_graph=True``, so the term
    stays in the graph of D's parameters and one backward of the step's loss trains through it.
    With labels (``y_fake`` given) D is called as ``D(x, y)``.
    """
    cond = y_fake is not None  # a conditional pair: every call also gets the labels
    d_real = logits(discriminator(x_real, y_real) if cond else discriminator(x_real))  # (B,)
    d_fake = logits(discriminator(x_fake, y_fake) if cond else discriminator(x_fake))
    term = None if penalty is None else penalty(discriminator, x_real, x_fake, generator=rng)
    return d_real, d_fake, term


def d_step_with(generator: nn.Module, verdicts: Callable, opt_d: torch.optim.Optimizer, x_real: torch.Tensor,
                z: torch.Tensor, loss: GANLoss, *, rng: torch.Generator | None = None,
                y_real: torch.Tensor | None = None, y_fake: torch.Tensor | None = None,
                keep_fakes: bool = False) -> dict[str, torch.Tensor]:
    """:func:`ganlib.d_step`, with D's forward passes made by one call of ``verdicts``.

    ``verdicts(x_real, x_fake, penalty, rng=, y_real=, y_fake=)`` returns what :func:`d_verdicts`
    returns: ``functools.partial(d_verdicts, discriminator)`` in one process, a DDP-wrapped module whose
    forward is :func:`d_verdicts` under ``torchrun``. Arguments and result as :func:`ganlib.d_step`.
    """
    with torch.set_grad_enabled(keep_fakes):  # no graph through G unless G's step will reuse these fakes
        kept = generator(z) if y_fake is None else generator(z, y_fake)  # (B, *data_shape)
    x_fake = kept.detach()  # G is frozen in D's step (the "detach")
    d_real, d_fake, term = verdicts(x_real, x_fake, loss.penalty, rng=rng, y_real=y_real, y_fake=y_fake)
    d_loss = loss.d(d_real, d_fake)
    if term is not None:
        d_loss = d_loss + term
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()  # under DDP: D's gradients are averaged over the ranks here
    opt_d.step()
    out = {"d_loss": d_loss.detach(), "d_real": torch.sigmoid(d_real.detach()).mean(),
           "d_fake": torch.sigmoid(d_fake.detach()).mean()}
    if keep_fakes:
        out["x_fake"] = kept
    return out


@contextlib.contextmanager
def batch_slice(rank: int, world: int) -> Iterator[None]:
    """Inside the block, :func:`rand_per_example` draws for ``world`` ranks and keeps rank ``rank``'s slice."""
    token = _SLICE.set((rank, world))
    try:
        yield
    finally:
        _SLICE.reset(token)


def rand_per_example(like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """U(0, 1) numbers ``(B, 1, ...)``, one per example of the batch ``like`` ``(B, ...)``, broadcastable to it.

    Inside :func:`batch_slice` the draw is that of the global batch, of which this rank keeps its slice.
    """
    rank, world = _SLICE.get()
    b = len(like)
    draws = torch.rand((world * b,) + (1,) * (like.dim() - 1), device=like.device, dtype=like.dtype,
                       generator=generator)
    return draws[rank * b:(rank + 1) * b]

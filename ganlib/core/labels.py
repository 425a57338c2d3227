"""Class labels for conditional pairs: how a network says it takes them, and their checks.

:func:`ganlib.train` and :func:`ganlib.sample` pass labels to a network with an integer ``num_classes``
(the conditional DCGAN of :mod:`ganlib.variants.conditional` is one).
"""

from __future__ import annotations

import torch
from torch import nn

from .utils import GanlibError

__all__ = ["is_conditional", "check_labels"]


def is_conditional(module: nn.Module) -> bool:
    """True for a network that takes class labels (it has an integer ``num_classes``)."""
    return isinstance(getattr(module, "num_classes", None), int)


def check_labels(y, num_classes: int, n: int | None = None) -> torch.Tensor:
    """Return ``y`` as int64 labels in ``[0, num_classes)``; a clear error otherwise.

    Parameters
    ----------
    y : torch.Tensor
        ``(B,)`` integer class labels.
    num_classes : int
    n : int, optional
        The batch size ``y`` must have.
    """
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.is_floating_point() or y.is_complex():
        raise GanlibError(f"labels must be a 1-D integer tensor, got "
                          f"{getattr(y, 'dtype', type(y).__name__)} of shape {tuple(getattr(y, 'shape', ()))}")
    if n is not None and len(y) != n:
        raise GanlibError(f"expected {n} labels (one per example), got {len(y)}")
    # The value check reads the labels on the host: done for CPU tensors only, so a conditional model's
    # forward pass on a GPU never waits for a device-to-host copy (train() checks its labels once).
    if len(y) and y.device.type == "cpu" and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise GanlibError(f"labels must lie in [0, {num_classes}), got [{int(y.min())}, {int(y.max())}]")
    return y.long()

"""Stopping a training run cleanly on a signal: SIGTERM, SIGHUP and Ctrl-C (SIGINT).

Holds: :func:`stop_on_signals`, a context manager that, for the duration of a block, turns those
signals into a request to stop; :func:`requested`, the signal number asked for (0 when none); and
:func:`stop_check`, what the training loop (:func:`ganlib.core.engine.fit`) calls at each step boundary (under
``torchrun`` all ranks agree there, so they stop at the same step). It holds no loop and writes no file: the
loop stops and records ``run.stopped_by``;
the command line saves the run and exits with ``128 + signal number``.

Why: ``kill``, ``docker stop``, systemd and cluster schedulers send SIGTERM (a closing terminal
SIGHUP) some seconds before they kill; Python's default for both ends the process at once, with
no ``finally`` and no save. Ctrl-C raises ``KeyboardInterrupt`` wherever the program is, possibly
between D's and G's update; a request that the loop reads between steps saves a state that
``--resume`` continues bit for bit. A second Ctrl-C still raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Callable, Iterator

import torch

__all__ = ["STOP_SIGNALS", "stop_on_signals", "requested", "stop_check"]

#: The signals turned into a request to stop (those a platform lacks, e.g. SIGHUP on Windows, are skipped).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

_received: list[int] = []  # signal numbers received inside stop_on_signals(), in order


def _on_signal(signum: int, frame) -> None:
    if signum == signal.SIGINT and _received:  # Ctrl-C once more: the user will not wait for the step
        raise KeyboardInterrupt
    _received.append(signum)
    if signum == signal.SIGINT:  # os.write, not print: a handler may run in the middle of a print
        os.write(2, b"\nstopping after this step and saving (Ctrl-C again to stop at once)\n")


@contextlib.contextmanager
def stop_on_signals(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Turn ``signals`` into a request to stop (see :func:`requested`) for the duration of a block.

    Handlers can only be set in the main thread; elsewhere the block runs with the handlers as they
    are. A signal the process ignores stays ignored (``nohup`` ignores SIGHUP so that a run outlives
    its terminal). The previous handlers are put back and the request is forgotten when the block ends.

    Parameters
    ----------
    signals : tuple of int
        Signal numbers; default :data:`STOP_SIGNALS`.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _on_signal) for signum in signals
                if signal.getsignal(signum) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received.clear()


def requested() -> int:
    """Return the number of the first stop signal received inside :func:`stop_on_signals`, or 0."""
    return _received[0] if _received else 0


def stop_check(device: torch.device | str = "cpu") -> Callable[[], str | None]:
    """Return what a training loop calls between steps: the name of the signal to stop for, or None.

    In one process that reads :func:`requested` (a list lookup, no synchronization). Under
    ``torchrun`` a signal may reach one rank only, so the ranks agree on it with an ``all_reduce`` of
    one number at every call: all of them stop at the same step. That costs a collective and a host
    sync a step, under ``torchrun`` only (where DDP already reduces the gradients every step).

    Parameters
    ----------
    device : torch.device or str
        Where this rank's tensors live (NCCL reduces CUDA tensors only).

    Returns
    -------
    callable
        ``() -> str | None``, e.g. ``"SIGTERM"``.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return lambda: _name(requested())
    flag = torch.zeros(1, dtype=torch.int64, device=device)

    def agreed() -> str | None:
        flag.fill_(requested())
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # any rank's signal stops them all
        return _name(int(flag.item()))

    return agreed


def _name(signum: int) -> str | None:
    return signal.Signals(signum).name if signum else None

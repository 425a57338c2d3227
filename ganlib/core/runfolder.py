"""A run's folder, as ``python -m ganlib train`` keeps it: ``checkpoint.pt``, ``history.json``, ``run.lock``.

Holds: :func:`save_run` (the checkpoint and the history, each written atomically), :func:`locked`
(take ``FOLDER/run.lock`` for a block, release it on every way out), :func:`fingerprint` (which
version of a file was read, to notice a rewrite) and :class:`FolderInUse`. It holds no training and
no checkpoint format (:mod:`ganlib.core.checkpoint` has it).

Why: two runs into one folder would both train and both "succeed", and the folder would end with
one run's checkpoint beside the other's history. The lock is a small JSON file,
``{"pid", "host", "run_id", "started"}``, made with ``O_CREAT | O_EXCL`` so that of two runs started
together exactly one gets it. A run killed with SIGKILL (or a machine that crashed) leaves its lock
behind: on the same host a lock whose process no longer exists is stale and is taken over with a
warning; a lock from another host (a shared file system) cannot be checked from here, so the
message says how to remove it by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from .checkpoint import SaveFailed, atomic_write, save_checkpoint
from .run import Run
from .utils import GanlibError

__all__ = ["CHECKPOINT_NAME", "HISTORY_NAME", "LOCK_NAME", "FolderInUse", "save_run", "locked", "fingerprint"]

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"
LOCK_NAME = "run.lock"


class FolderInUse(GanlibError):
    """Another run holds the folder's lock (or its lock cannot be read)."""


def save_run(folder: str | os.PathLike, run: Run) -> None:
    """Write ``run`` into ``folder``: the checkpoint, then the history with the same run id.

    Raises
    ------
    ganlib.checkpoint.SaveFailed
        When a file cannot be written; the file there before is unchanged.
    """
    folder = Path(folder)
    save_checkpoint(folder / CHECKPOINT_NAME, run)
    _write_json(folder / HISTORY_NAME, {**run.history, "evaluations": run.evaluations, "target_met": run.target_met,
                                        "run_id": run.run_id, "stopped_by": run.stopped_by})


def _write_json(path: Path, obj) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=1).encode()))


def fingerprint(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """Return ``(inode, mtime_ns, size)`` of a file, or None when there is none.

    An atomic save replaces the file (a new inode), so a changed fingerprint means another process
    wrote it since.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@contextlib.contextmanager
def locked(folder: str | os.PathLike, run_id: str) -> Iterator[str | None]:
    """Hold ``folder/run.lock`` for the duration of a block; remove it when the block ends, however.

    Parameters
    ----------
    folder : path-like
        An existing folder.
    run_id : str
        The run that takes the folder (written into the lock, named to a second run).

    Yields
    ------
    str or None
        A warning when a stale lock (its process gone, on this host) was taken over, else None.

    Raises
    ------
    FolderInUse
        When a live run holds the lock, or the lock is from another host or unreadable.
    ganlib.checkpoint.SaveFailed
        When the lock cannot be written (a full disk, no permission).
    """
    path = Path(folder) / LOCK_NAME
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    warning = _take(path, mine)
    try:
        yield warning
    finally:
        if _read(path) == mine:  # never remove the lock of a run that took over from this one
            path.unlink(missing_ok=True)


def _take(path: Path, mine: dict) -> str | None:
    """Create the lock with ``mine``; take over a stale one. Return a warning when one was taken over."""
    warning = None
    for _ in range(2):  # the second try follows the removal of a stale lock
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(path)
            if not _stale(holder):
                raise FolderInUse(_in_use(path, holder)) from None
            warning = (f"took over {path}: run {holder.get('run_id')} (pid {holder['pid']} on this host, "
                       f"started {holder.get('started')}) no longer runs")
            if _read(path) == holder:  # still the stale one, not a lock another run made meanwhile
                path.unlink(missing_ok=True)
            continue
        except OSError as exc:  # a folder this user may no longer write to
            raise SaveFailed(path, exc) from exc
        try:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(mine))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:  # a full disk: no lock is left behind, and nothing trains in vain
            path.unlink(missing_ok=True)
            raise SaveFailed(path, exc) from exc
        return warning
    raise FolderInUse(_in_use(path, _read(path)))  # another run took the stale lock first


def _read(path: Path) -> dict | None:
    """The lock's contents; None when it is missing, empty (being written) or not ours to parse."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None


def _stale(holder: dict | None) -> bool:
    """True when the lock's process is known to be gone: same host, no such process."""
    if holder is None or holder.get("host") != socket.gethostname() or holder["pid"] == os.getpid():
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there, not probe it
        return False
    try:
        os.kill(holder["pid"], 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, run by another user
        return False
    return False


def _in_use(path: Path, holder: dict | None) -> str:
    folder = path.parent
    if holder is None:
        return (f"{folder} is locked by {path}, which cannot be read; if no run uses this folder, "
                f"remove {path}, or use another --out")
    who = (f"run {holder.get('run_id')} (pid {holder['pid']} on {holder.get('host')}, "
           f"started {holder.get('started')})")
    if holder.get("host") != socket.gethostname():
        return (f"{folder} is in use by {who}; this host cannot tell whether it still runs: if it does not, "
                f"remove {path}, or use another --out")
    return f"{folder} is in use by {who}; wait for it to end, or use another --out"

"""Checkpoints: save and load a whole training run, safely.

Holds: :func:`save_checkpoint` (atomic: temporary file, fsync, rename; a write that fails, e.g. on a
full disk, raises :class:`SaveFailed` and leaves the file there before unchanged), :func:`load_checkpoint`
(``weights_only=True``: a checkpoint can hold tensors and plain data, never code),
:func:`restore_run` and :func:`load_generator`; and :func:`load_checked_state`, which loads weights
shipped with ganlib (the bundled classifier, the pretrained InfoGAN) after checking their SHA-256. It
does not hold the loop or the models' code.

A checkpoint is a dict with ``format_version`` (:data:`FORMAT_VERSION`), the model spec (how
:func:`ganlib.core.zoo.build_models` rebuilds the networks), both state dicts, both optimizer states,
the step, the run's random-stream state, the fixed noise, the config, the history and the run id.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import BinaryIO, Callable

import torch

from .zoo import build_models
from .config import TrainConfig
from .run import Run, new_run
from .utils import GanlibError, file_sha256

__all__ = ["save_checkpoint", "atomic_write", "SaveFailed", "load_checkpoint", "restore_run", "load_generator",
           "load_checked_state", "FORMAT_VERSION"]

#: The layout version written into every checkpoint; loading refuses other versions.
FORMAT_VERSION = 2  # bump when the layout below changes (2: the config's nested options)
READABLE_VERSIONS = (1, 2)  # 1: the same, with the config's options flat (TrainConfig.from_dict reads both)
REQUIRED_KEYS = ("format_version", "model_spec", "generator", "discriminator", "opt_g", "opt_d",
                 "step", "seconds", "rng_state", "fixed_z", "config", "history")


class SaveFailed(GanlibError, OSError):
    """A file could not be written (a full disk, a lost permission); the file there before is unchanged.

    An ``OSError`` too, with the cause's ``errno``: code that caught the cause's ``OSError`` still does.
    """

    def __init__(self, path: Path, cause: OSError):
        before = "the previous file is unchanged" if path.exists() else "no partial file is left"
        super().__init__(f"could not save {path}: {cause.strerror or cause} ({before})")
        self.errno, self.strerror, self.filename = cause.errno, cause.strerror, str(path)

    def __str__(self) -> str:  # the one line above, not OSError's "[Errno 28] ...: 'path'"
        return self.args[0]


def save_checkpoint(path: str | os.PathLike, run: Run) -> Path:
    """Write ``run`` to ``path`` atomically: a crash mid-write never destroys an earlier checkpoint.

    Parameters
    ----------
    path : path-like
        Destination file, e.g. ``run/checkpoint.pt``; its folder is created.
    run : Run
        A run from :func:`ganlib.train`; ``run.model_spec`` must say how to rebuild its models.

    Returns
    -------
    Path
        The path written.
    """
    if run.model_spec is None:
        raise GanlibError("run.model_spec is not set: say how to rebuild the models, e.g. "
                          "run.model_spec = {'name': 'dcgan', 'data_shape': [1, 28, 28], 'latent_dim': 100}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format_version": FORMAT_VERSION,
        "model_spec": dict(run.model_spec),
        "generator": run.generator.state_dict(),
        "discriminator": run.discriminator.state_dict(),
        "opt_g": run.opt_g.state_dict(),
        "opt_d": run.opt_d.state_dict(),
        "step": run.step,
        "seconds": run.seconds,
        "rng_state": run.rng.get_state(),
        "fixed_z": run.fixed_z.cpu(),
        "config": dataclasses.asdict(run.config),
        "history": {k: list(v) for k, v in run.history.items()},
        "evaluations": [dict(e) for e in run.evaluations],
        "dataset": run.dataset,
        "run_id": run.run_id,
    }
    # Serialized in memory first: torch's writer reports a full disk as a RuntimeError from its C++
    # zip writer ("unexpected pos"); a plain write of the bytes raises OSError(ENOSPC) as it should.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, lambda f: f.write(buffer.getbuffer()))
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file atomically: ``write(f)`` fills a temporary file beside ``path``, then it is renamed.

    A crash or kill at any moment leaves either the old file or the complete new one, never a torn one.

    Parameters
    ----------
    path : str or path
        The file to (re)place; its folder must exist.
    write : callable
        Called with the open binary temporary file.

    Returns
    -------
    Path

    Raises
    ------
    SaveFailed
        When the file system refuses (no space, no permission, ...): one message naming the file and
        the cause; the temporary file is removed and the file at ``path`` is as it was.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)  # atomic on POSIX and Windows: readers see the old file or the new one
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, SaveFailed):
            raise SaveFailed(path, exc) from exc
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint safely (``weights_only=True``) and check its format.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict
        The checkpoint's contents (tensors on the CPU).
    """
    path = Path(path)
    if not path.is_file():
        raise GanlibError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # torch's note on a foreign pickle protocol: our message says more
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, garbage or a pickle that tries to run code
        raise GanlibError(f"{path} is not a readable ganlib checkpoint ({type(exc).__name__}); "
                          "it may be truncated, corrupted or not a checkpoint") from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise GanlibError(f"{path} is not a ganlib checkpoint (no format_version)")
    if state["format_version"] not in READABLE_VERSIONS:
        raise GanlibError(f"{path} has checkpoint format {state['format_version']!r}; "
                          f"this ganlib reads formats {', '.join(map(str, READABLE_VERSIONS))}")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise GanlibError(f"{path} is missing {missing}")
    return state


def _build(state: dict):
    spec = dict(state["model_spec"])
    try:
        generator, discriminator = build_models(spec.pop("name"), **spec)
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise GanlibError(f"the checkpoint's weights do not fit its model spec ({exc})") from None
    return generator, discriminator


def restore_run(path: str | os.PathLike, device: torch.device | str | None = None) -> Run:
    """Rebuild a :class:`Run` from a checkpoint, ready to continue with :func:`ganlib.train`."""
    state = load_checkpoint(path)
    generator, discriminator = _build(state)
    config = TrainConfig.from_dict(state["config"])
    run = new_run(generator, discriminator, config, torch.device(device) if device else None)
    run.opt_g.load_state_dict(state["opt_g"])
    run.opt_d.load_state_dict(state["opt_d"])
    run.rng.set_state(state["rng_state"])
    run.fixed_z = state["fixed_z"].to(run.fixed_z.device)
    run.step, run.seconds = int(state["step"]), float(state["seconds"])
    run.history = {k: list(v) for k, v in state["history"].items()}
    run.evaluations = [dict(e) for e in state.get("evaluations", [])]  # absent in older files
    run.model_spec, run.dataset = dict(state["model_spec"]), state.get("dataset")
    run.run_id = state.get("run_id") or run.run_id  # a file from before run ids keeps the new run's fresh one
    return run


def load_generator(path: str | os.PathLike, device: torch.device | str = "cpu") -> torch.nn.Module:
    """Load only the generator of a checkpoint, in evaluation mode, for sampling."""
    generator, _ = _build(load_checkpoint(path))
    return generator.to(device).eval()


def load_checked_state(path: str | os.PathLike, sha256: str | None, *, what: str, retrain: str) -> dict:
    """Load a state_dict saved at ``path`` (``weights_only``) after checking the file's SHA-256.

    For weights shipped with ganlib: the bundled classifier (:func:`ganlib.eval.classifier.load_classifier`)
    and the pretrained InfoGAN (:func:`ganlib.variants.infogan.load_pretrained`).

    Parameters
    ----------
    path : str or Path
    sha256 : str or None
        The expected hex digest; ``None`` skips the check.
    what : str
        What the file holds, for the messages (e.g. ``"classifier weights"``).
    retrain : str
        The command that regenerates the file, for the messages.

    Returns
    -------
    dict
        The state_dict, on the CPU.
    """
    path = Path(path)
    if not path.is_file():
        raise GanlibError(f"{what} not found at {path}; regenerate them with {retrain}")
    if sha256 is not None and (got := file_sha256(path)) != sha256:
        raise GanlibError(f"{what} {path} have SHA-256 {got[:12]}..., expected {sha256[:12]}...: "
                          f"corrupt or stale; reinstall ganlib or regenerate with {retrain}")
    return torch.load(path, map_location="cpu", weights_only=True)

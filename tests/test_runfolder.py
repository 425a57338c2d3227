"""Tests of ganlib.runfolder: the lock that keeps one run per folder, and the files a run saves there.

Two real runs started together are in test_cli.py; here the lock is taken in-process, with lock
files written by hand for a live process (pid 1, which always exists), a dead one, another host.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import socket
import subprocess
import sys

import pytest

import ganlib.core.runfolder as runfolder
from ganlib.core.checkpoint import SaveFailed, load_checkpoint
from ganlib.core.runfolder import LOCK_NAME, FolderInUse, fingerprint, locked, save_run
from ganlib.core.train import train

SPEC = {"name": "mlp", "data_shape": [2], "latent_dim": 4, "hidden": [16]}  # what conftest builds


def _write_lock(folder, **holder):
    lock = {"pid": 1, "host": socket.gethostname(), "run_id": "0ther0run000", "started": "2026-01-01T00:00:00",
            **holder}
    (folder / LOCK_NAME).write_text(json.dumps(lock))
    return lock


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: no process has this id now (until the system reuses it)
    return proc.pid


def test_the_lock_names_this_run_and_goes_away_on_every_exit(tmp_path):
    with locked(tmp_path, "abc123abc123") as warning:
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert warning is None
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert holder["run_id"] == "abc123abc123" and holder["started"]
    assert not (tmp_path / LOCK_NAME).exists()
    with pytest.raises(RuntimeError):
        with locked(tmp_path, "abc123abc123"):
            raise RuntimeError("training failed")
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_second_run_is_refused_while_the_first_holds_the_folder(tmp_path):
    with locked(tmp_path, "first0000000"):
        with pytest.raises(FolderInUse, match=f"in use by run first0000000 \\(pid {os.getpid()} "):
            with locked(tmp_path, "second000000"):
                pass
        assert json.loads((tmp_path / LOCK_NAME).read_text())["run_id"] == "first0000000"  # untouched


def test_a_live_process_on_this_host_keeps_its_lock(tmp_path):
    lock = _write_lock(tmp_path)  # pid 1 exists (if it belongs to another user: PermissionError, still alive)
    with pytest.raises(FolderInUse, match="wait for it to end, or use another --out"):
        with locked(tmp_path, "mine00000000"):
            pass
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == lock


def test_a_stale_lock_from_a_killed_run_is_taken_over_with_a_warning(tmp_path):
    _write_lock(tmp_path, pid=_dead_pid(), run_id="killed000000")
    with locked(tmp_path, "mine00000000") as warning:
        assert "killed000000" in warning and "no longer runs" in warning
        assert json.loads((tmp_path / LOCK_NAME).read_text())["run_id"] == "mine00000000"
    assert not (tmp_path / LOCK_NAME).exists()


@pytest.mark.parametrize("dead_here", [False, True])
def test_a_lock_from_another_host_is_never_taken_over(tmp_path, dead_here):
    pid = _dead_pid() if dead_here else 1  # no such process here says nothing about the other host
    lock = _write_lock(tmp_path, host="elsewhere.invalid", pid=pid)
    with pytest.raises(FolderInUse, match=f"cannot tell whether it still runs: if it does not, remove "
                                          f"{tmp_path / LOCK_NAME}"):
        with locked(tmp_path, "mine00000000"):
            pass
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == lock


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", '{"pid": "12"}'])
def test_an_unreadable_lock_is_not_taken_over(tmp_path, content):
    (tmp_path / LOCK_NAME).write_text(content)  # e.g. empty: another run is writing it right now
    with pytest.raises(FolderInUse, match="cannot be read; if no run uses this folder, remove"):
        with locked(tmp_path, "mine00000000"):
            pass
    assert (tmp_path / LOCK_NAME).read_text() == content


def test_releasing_leaves_a_lock_that_another_run_took_over(tmp_path):
    with locked(tmp_path, "mine00000000"):
        lock = _write_lock(tmp_path, run_id="later0000000")  # e.g. took this one over as stale
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == lock


def test_a_lock_that_cannot_be_written_is_a_failed_save_and_leaves_nothing(tmp_path, full_disk):
    full_disk(runfolder)
    with pytest.raises(SaveFailed, match="could not save .*run.lock: No space left on device") as caught:
        with locked(tmp_path, "mine00000000"):
            pass
    assert caught.value.errno == errno.ENOSPC
    assert not list(tmp_path.iterdir())


def test_save_run_writes_checkpoint_and_history_of_one_run(make_models, ring_data, tiny_config, tmp_path):
    run = train(*make_models(), ring_data, dataclasses.replace(tiny_config, num_steps=5))
    run.model_spec = dict(SPEC)
    save_run(tmp_path, run)
    history = json.loads((tmp_path / "history.json").read_text())
    assert load_checkpoint(tmp_path / "checkpoint.pt")["run_id"] == history["run_id"] == run.run_id
    assert history["step"] == [5] and history["stopped_by"] is None
    seen = fingerprint(tmp_path / "checkpoint.pt")
    assert fingerprint(tmp_path / "checkpoint.pt") == seen and fingerprint(tmp_path / "none.pt") is None
    save_run(tmp_path, run)  # the same bytes again, but a new file (atomic rename): another run could tell
    assert fingerprint(tmp_path / "checkpoint.pt") != seen

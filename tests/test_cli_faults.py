"""The command line under everyday faults: a stop signal, a full disk, two runs in one folder, --resume
with the options repeated (issue 28), and the exit statuses that tell them apart (``EXIT_CODES``).

In-process where a run can be steered from inside (a signal sent at a chosen step, a disk that fills
at the save); in a subprocess where the fault comes from outside: ``kill -TERM`` and two processes
started together.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import ganlib.core.checkpoint
import ganlib.cli
from cli_helpers import TIMEOUT_S, assert_one_line_error, cli_env, main_in_process
from ganlib.core.checkpoint import load_checkpoint, load_generator
from ganlib.cli_parser import EXIT_CODES
from ganlib.core.runfolder import LOCK_NAME
from ganlib.core.run import sample

RING = ["train", "--dataset", "ring", "--quiet"]
README = Path(__file__).resolve().parents[1] / "README.md"
posix_signals = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals (SIGHUP, kill -TERM)")


def _saved(folder: Path) -> tuple[dict, dict]:
    """The checkpoint and the history of a run folder; the folder holds nothing else (no lock, no temp file)."""
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.pt", "history.json"]
    return load_checkpoint(folder / "checkpoint.pt"), json.loads((folder / "history.json").read_text())


def _same_generator(a: Path, b: Path) -> None:
    """Two runs' generators draw the same samples, bit for bit."""
    torch.testing.assert_close(sample(load_generator(a / "checkpoint.pt"), 32, seed=0),
                               sample(load_generator(b / "checkpoint.pt"), 32, seed=0), rtol=0, atol=0)


def _signal_at(monkeypatch, step: int, signum: int) -> None:
    """The CLI's next training run gets ``signum`` from this process right after ``step``."""
    real_train = ganlib.cli.train

    def train_then_signal(*args, callback, **kwargs):
        def callback_then_signal(run):
            callback(run)
            if run.step == step:  # without the CLI's handler SIGTERM would end pytest: fail instead
                assert signal.getsignal(signum) not in (signal.SIG_DFL, signal.default_int_handler)
                os.kill(os.getpid(), signum)

        return real_train(*args, callback=callback_then_signal, **kwargs)

    monkeypatch.setattr(ganlib.cli, "train", train_then_signal)


# --- stop signals: saved at the step reached, exit 128 + signal, --resume continues exactly -------------

@posix_signals
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_stop_signal_saves_the_step_reached_and_exits_128_plus_its_number(name, tmp_path, capsys, monkeypatch):
    signum = signal.Signals[name]
    out, whole = tmp_path / "cut", tmp_path / "whole"
    _signal_at(monkeypatch, 5, signum)
    code, stdout, err = main_in_process([*RING, "--steps", 100, "--out", out], capsys)
    assert code == 128 + signum and code in EXIT_CODES, err
    assert err.splitlines()[-1] == (f"python -m ganlib train: stopped by {name} at step 5; saved {out}/checkpoint.pt "
                                    "(continue with --resume)")
    assert json.loads(stdout)["stopped_by"] == name
    state, history = _saved(out)
    assert state["step"] == 5 and history["step"][-1] == 5
    assert history["run_id"] == state["run_id"] and history["stopped_by"] == name
    monkeypatch.undo()
    code, _, err = main_in_process(["train", "--resume", "--steps", 8, "--quiet", "--out", out], capsys)
    assert code == 0, err
    assert main_in_process([*RING, "--steps", 8, "--out", whole], capsys)[0] == 0
    _same_generator(out, whole)
    assert _saved(out)[0]["run_id"] == state["run_id"]  # --resume keeps the run's id


@posix_signals
def test_kill_term_from_outside_saves_and_resume_continues_exactly(tmp_path, capsys):
    out, whole = tmp_path / "run", tmp_path / "whole"
    proc = subprocess.Popen([sys.executable, "-m", "ganlib", *RING, "--steps", "100000", "--checkpoint-every", "100",
                             "--out", str(out)], cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (out / "checkpoint.pt").exists():  # the first save, at step 100: training is under way
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # what kill, docker stop, systemd and schedulers send
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    state, history = _saved(out)
    step = state["step"]
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert err.splitlines()[-1].endswith(f"stopped by SIGTERM at step {step}; saved {out}/checkpoint.pt "
                                         "(continue with --resume)")
    assert step >= 100 and history["step"][-1] == step and history["run_id"] == state["run_id"]
    code, _, err = main_in_process(["train", "--resume", "--steps", step + 3, "--quiet", "--out", out], capsys)
    assert code == 0, err
    assert main_in_process([*RING, "--steps", step + 3, "--out", whole], capsys)[0] == 0
    _same_generator(out, whole)


# --- a full disk: one line naming the file and the cause, exit 74, the old checkpoint intact ------------

def test_a_full_disk_while_saving_is_one_line_and_keeps_the_old_checkpoint(tmp_path, capsys, full_disk):
    out = tmp_path / "run"
    assert main_in_process([*RING, "--steps", 3, "--out", out], capsys)[0] == 0
    before = _saved(out)
    full_disk(ganlib.checkpoint)
    code, _, err = main_in_process(["train", "--resume", "--steps", 6, "--quiet", "--out", out], capsys)
    assert_one_line_error(code, err, expected=74)
    assert err == (f"python -m ganlib train: error: could not save {out}/checkpoint.pt: No space left on device "
                   "(the previous file is unchanged)\n")
    after = _saved(out)  # no temporary file, no lock left
    assert after[0]["step"] == 3 and after[1] == before[1]


@pytest.fixture
def small_fs(tmp_path):
    """A real 1 200 kB file system (tmpfs): room for one ring checkpoint (~840 kB), not for a second beside it."""
    mount = tmp_path / "small"
    mount.mkdir()
    if not sys.platform.startswith("linux"):
        pytest.skip("mounts a tmpfs, which needs Linux")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_real_full_file_system_gives_one_line_not_a_torch_traceback(small_fs, capsys):
    out, other = small_fs / "run", small_fs / "other"
    code, _, err = main_in_process([*RING, "--steps", 2, "--out", out], capsys)
    assert code == 0, err
    assert (out / "checkpoint.pt").stat().st_size > 600_000, "the test needs a checkpoint over half the disk"
    code, _, err = main_in_process(["train", "--resume", "--steps", 4, "--quiet", "--out", out], capsys)
    assert_one_line_error(code, err, expected=74)
    assert f"could not save {out}/checkpoint.pt: No space left on device (the previous file is unchanged)" in err
    assert _saved(out)[0]["step"] == 2
    code, _, err = main_in_process([*RING, "--steps", 2, "--out", other], capsys)  # nothing there before
    assert_one_line_error(code, err, expected=74)
    assert err.rstrip().endswith("No space left on device (no partial file is left)")
    assert not list(other.iterdir())


# --- one run per folder ------------------------------------------------------------------------------

def test_a_folder_in_use_is_refused_with_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    lock = json.dumps({"pid": 1, "host": socket.gethostname(), "run_id": "0ther0run000", "started": "today"})
    (out / LOCK_NAME).write_text(lock)  # pid 1 always exists: a live run
    code, _, err = main_in_process([*RING, "--steps", 2, "--out", out], capsys)
    assert_one_line_error(code, err)
    assert f"error: {out} is in use by run 0ther0run000 (pid 1 on " in err
    assert [p.name for p in out.iterdir()] == [LOCK_NAME] and (out / LOCK_NAME).read_text() == lock


def test_two_runs_started_together_into_one_folder_one_is_refused(tmp_path):
    steps = 50  # a second of training: starting the two interpreters is what takes time
    procs = {dataset: subprocess.Popen([sys.executable, "-m", "ganlib", "train", "--dataset", dataset, "--steps",
                                        str(steps), "--quiet", "--out", "same"], cwd=tmp_path, env=cli_env(),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for dataset in ("ring", "grid")}
    done = {dataset: (proc, *proc.communicate(timeout=TIMEOUT_S)) for dataset, proc in procs.items()}
    codes = {dataset: proc.returncode for dataset, (proc, _, _) in done.items()}
    assert sorted(codes.values()) == [0, 2], codes
    winner = min(codes, key=codes.get)
    loser = max(codes, key=codes.get)
    assert_one_line_error(codes[loser], done[loser][2])
    assert re.search(r"same is in use by run \w+|same/checkpoint.pt (exists|was written by another run)",
                     done[loser][2]), done[loser][2]
    state, history = _saved(tmp_path / "same")
    assert state["dataset"] == winner and state["step"] == steps
    assert history["run_id"] == state["run_id"] and history["step"][-1] == steps


# --- --resume with the command repeated ----------------------------------------------------------------

def test_resume_accepts_the_options_repeated_unchanged(tmp_path, capsys):
    options = ["--dataset", "ring", "--model", "mlp", "--seed", "3", "--batch-size", "64", "--lr-d", "2e-3"]
    out, whole = tmp_path / "split", tmp_path / "whole"
    assert main_in_process(["train", *options, "--steps", 3, "--quiet", "--out", out], capsys)[0] == 0
    code, _, err = main_in_process(["train", *options, "--steps", 6, "--quiet", "--resume", "--out", out], capsys)
    assert code == 0, err
    assert main_in_process(["train", *options, "--steps", 6, "--quiet", "--out", whole], capsys)[0] == 0
    _same_generator(out, whole)


def test_resume_refuses_a_real_change_and_names_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main_in_process([*RING, "--seed", 3, "--steps", 3, "--out", out], capsys)[0] == 0
    code, _, err = main_in_process(["train", "--resume", "--dataset", "grid", "--seed", 3, "--batch-size", 32,
                                    "--steps", 6, "--out", out], capsys)
    assert_one_line_error(code, err)
    assert "changes --dataset grid (saved: ring), --batch-size 32 (saved: 256);" in err
    assert "--seed" not in err  # given, but as saved
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3


# --- the exit statuses, where a user reads them ------------------------------------------------------

@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_help_lists_every_exit_status(argv, capsys):
    code, out, _ = main_in_process(argv, capsys)
    assert code == 0
    for status, meaning in EXIT_CODES.items():
        assert f"  {status:<4} {meaning}" in out


def test_the_readme_table_of_exit_statuses_matches_the_cli():
    text = README.read_text()
    section = text[text.index("### Command line"):text.index("### The run budget")]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.M))
    assert set(map(int, rows)) == set(EXIT_CODES)

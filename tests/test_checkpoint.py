"""Tests of ganlib.checkpoint: round trip, bit-for-bit resume, atomic writes and safe loading."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
import errno
import os
import pickle

import pytest
import torch

import ganlib
import ganlib.core.checkpoint
from ganlib.core.checkpoint import FORMAT_VERSION, SaveFailed, load_checkpoint, load_generator, restore_run, save_checkpoint
from ganlib.core.train import train
from ganlib.core.utils import GanlibError

SPEC = {"name": "mlp", "data_shape": [2], "latent_dim": 4, "hidden": [16]}  # what conftest builds


@pytest.fixture
def run10(make_models, ring_data, tiny_config):
    """A tiny run after 10 steps, with a model spec so it can be saved."""
    generator, discriminator = make_models()
    run = train(generator, discriminator, ring_data, dataclasses.replace(tiny_config, num_steps=10))
    run.model_spec, run.dataset = dict(SPEC), "ring"
    return run


@pytest.fixture
def saved(run10, tmp_path):
    return save_checkpoint(tmp_path / "run" / "checkpoint.pt", run10)


def _write_raw(path, obj):
    torch.save(obj, path)
    return path


# --- round trip -------------------------------------------------------------------------------

def test_round_trip_keeps_the_whole_run(run10, saved, state_copy, assert_same_state):
    restored = restore_run(saved, device="cpu")
    assert restored.step == run10.step == 10
    assert restored.seconds == run10.seconds
    assert restored.history == run10.history
    assert restored.config == run10.config
    assert restored.model_spec == run10.model_spec and restored.dataset == "ring"
    assert_same_state(state_copy(restored.generator), state_copy(run10.generator))
    assert_same_state(state_copy(restored.discriminator), state_copy(run10.discriminator))
    for mine, theirs in ((restored.opt_g, run10.opt_g), (restored.opt_d, run10.opt_d)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert a["param_groups"] == b["param_groups"]
        for key in b["state"]:
            assert_same_state(a["state"][key], b["state"][key])
    assert torch.equal(restored.rng.get_state(), run10.rng.get_state())
    assert torch.equal(restored.fixed_z, run10.fixed_z)


def test_continuing_a_restored_run_equals_continuing_the_original(run10, saved, ring_data, state_copy,
                                                                  assert_same_state):
    restored = restore_run(saved, device="cpu")
    original = train(run10.generator, run10.discriminator, ring_data, run=run10)   # 10 more steps
    again = train(restored.generator, restored.discriminator, ring_data, run=restored)
    assert again.step == original.step == 20
    strip = lambda h: {k: v for k, v in h.items() if k != "seconds"}  # noqa: E731 (wall time differs)
    assert strip(again.history) == strip(original.history)
    assert_same_state(state_copy(again.generator), state_copy(original.generator))
    assert_same_state(state_copy(again.discriminator), state_copy(original.discriminator))


def test_load_generator_is_in_eval_mode_with_the_saved_weights(run10, saved):
    generator = load_generator(saved)
    assert not generator.training
    for (name, p), q in zip(generator.state_dict().items(), run10.generator.state_dict().values()):
        assert torch.equal(p, q), name


def test_checkpoint_contents(saved):
    state = load_checkpoint(saved)
    assert state["format_version"] == FORMAT_VERSION
    assert state["model_spec"] == SPEC
    assert state["step"] == 10


# --- atomic writes ----------------------------------------------------------------------------

def test_save_leaves_no_temporary_files_and_overwrites_validly(run10, ring_data, saved):
    folder = saved.parent
    assert [p.name for p in folder.iterdir()] == ["checkpoint.pt"]
    train(run10.generator, run10.discriminator, ring_data, run=run10)
    save_checkpoint(saved, run10)  # over the existing file
    assert [p.name for p in folder.iterdir()] == ["checkpoint.pt"]
    assert load_checkpoint(saved)["step"] == 20


def test_a_failed_save_keeps_the_old_checkpoint(run10, saved, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(saved, run10)
    monkeypatch.undo()
    assert [p.name for p in saved.parent.iterdir()] == ["checkpoint.pt"]  # the temporary file is gone
    assert load_checkpoint(saved)["step"] == 10                          # and the old one intact


def test_a_full_disk_is_one_clear_error_and_keeps_the_old_checkpoint(run10, saved, full_disk):
    full_disk(ganlib.checkpoint)
    with pytest.raises(SaveFailed) as caught:
        save_checkpoint(saved, run10)
    assert str(caught.value) == f"could not save {saved}: No space left on device (the previous file is unchanged)"
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC  # still an OSError
    assert [p.name for p in saved.parent.iterdir()] == ["checkpoint.pt"]  # no temporary file left
    assert load_checkpoint(saved)["step"] == 10


def test_a_lost_permission_is_one_clear_error_and_leaves_nothing(run10, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(ganlib.checkpoint.tempfile, "mkstemp", refuse)
    with pytest.raises(SaveFailed, match=r"could not save .*c\.pt: Permission denied \(no partial file is left\)"):
        save_checkpoint(tmp_path / "c.pt", run10)
    assert not list(tmp_path.iterdir())


def test_the_run_id_is_saved_and_an_older_file_without_one_still_loads(run10, saved):
    assert load_checkpoint(saved)["run_id"] == run10.run_id
    assert restore_run(saved).run_id == run10.run_id
    state = load_checkpoint(saved)
    del state["run_id"]  # as written before run ids
    torch.save(state, saved)
    restored = restore_run(saved)
    assert restored.step == 10 and isinstance(restored.run_id, str) and len(restored.run_id) == 12


def test_save_without_model_spec_raises(run10, tmp_path):
    run10.model_spec = None
    with pytest.raises(GanlibError, match="model_spec"):
        save_checkpoint(tmp_path / "c.pt", run10)
    assert not list(tmp_path.iterdir())


# --- load errors ------------------------------------------------------------------------------

def test_load_missing_file(tmp_path):
    with pytest.raises(GanlibError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


def test_load_a_folder_is_a_missing_file(tmp_path):
    with pytest.raises(GanlibError, match="no checkpoint"):
        load_checkpoint(tmp_path)


def test_load_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(GanlibError, match="truncated"):
        load_checkpoint(saved)


@pytest.mark.parametrize("garbage", [b"", b"this is not a checkpoint\n", bytes(range(256)) * 4])
def test_load_garbage(tmp_path, garbage):
    path = tmp_path / "garbage.pt"
    path.write_bytes(garbage)
    with pytest.raises(GanlibError, match="not a readable ganlib checkpoint"):
        load_checkpoint(path)


def test_load_wrong_format_version(saved):
    state = load_checkpoint(saved)
    state["format_version"] = FORMAT_VERSION + 1
    torch.save(state, saved)
    with pytest.raises(GanlibError, match=f"format {FORMAT_VERSION + 1}"):
        load_checkpoint(saved)


@pytest.mark.parametrize("obj", [{"step": 3}, [1, 2, 3], torch.zeros(3)])
def test_load_without_format_version(tmp_path, obj):
    path = _write_raw(tmp_path / "other.pt", obj)
    with pytest.raises(GanlibError, match="no format_version"):
        load_checkpoint(path)


def test_load_missing_keys_are_named(saved):
    state = load_checkpoint(saved)
    del state["opt_d"]
    torch.save(state, saved)
    with pytest.raises(GanlibError, match="opt_d"):
        load_checkpoint(saved)


def test_weights_that_do_not_fit_the_spec(saved):
    state = load_checkpoint(saved)
    state["model_spec"]["hidden"] = [32]
    torch.save(state, saved)
    with pytest.raises(GanlibError, match="do not fit"):
        restore_run(saved)


class _MakesAMarker:
    """A pickle that would create a file when unpickled: what a malicious checkpoint could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# torch warns that a bare pickle uses a protocol its safe loader was not written for: expected here
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_a_malicious_pickle_is_not_executed(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if writer == "torch.save":
        torch.save({"format_version": FORMAT_VERSION, "payload": _MakesAMarker(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(_MakesAMarker(marker)))
    assert not marker.exists()
    with pytest.raises(GanlibError, match="not a readable ganlib checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()
    # the test really would notice: unpickling the same bytes without weights_only creates the file
    pickle.loads(pickle.dumps(_MakesAMarker(marker))).close()
    assert marker.exists()


# --- format 1: checkpoints written before the config's options were nested -----------------------

FORMAT1 = Path(__file__).parent / "data" / "checkpoint_format1.pt"


def test_a_format1_checkpoint_still_loads_and_continues(tmp_path):
    """tests/data/checkpoint_format1.pt was written by ganlib before the redesign (flat config:
    ``penalty_every=2``, ``lr_decay_start=10``, ...; a 16-unit ring MLP after 20 steps)."""
    run = restore_run(FORMAT1, device="cpu")
    config = run.config
    assert (config.regularization.penalty_every, config.loss) == (2, "ns-r1-0.1")
    assert (config.lr_decay.start, config.lr_decay.end, config.lr_decay.factor) == (10, 40, 0.5)
    assert run.step == 20 and run.history["step"] == [5.0, 10.0, 15.0, 20.0]
    x, _ = ganlib.load_dataset("ring")
    run = ganlib.train(run.generator, run.discriminator, x, run=run)
    assert run.step == 40 and all(math.isfinite(v) for v in run.history["g_loss"])
    assert run.opt_g.param_groups[0]["lr"] == pytest.approx(config.lr_g * config.lr_scale(39))  # set before step 40
    again = restore_run(save_checkpoint(tmp_path / "new.pt", run), device="cpu")  # written as format 2
    assert torch.load(tmp_path / "new.pt", weights_only=True)["format_version"] == FORMAT_VERSION == 2
    assert again.config == run.config

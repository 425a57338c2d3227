"""Tests of ganlib.utils: device choice, seeding and the run budget switch."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from ganlib.core.utils import BUDGET_ENV, GanlibError, budget, get_device, map_in_threads, seed_everything, steps


def test_get_device_is_a_torch_device_and_cpu_here():
    device = get_device()
    assert isinstance(device, torch.device)
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert device.type == "cpu"


def test_get_device_honours_an_explicit_cpu():
    assert get_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_get_device_cuda_without_cuda_raises_a_clear_error():
    with pytest.raises(GanlibError, match="CUDA is not available"):
        get_device("cuda")


def test_ganlib_error_is_a_value_error():
    # callers that catch ValueError (argparse, notebooks) also catch ours
    assert issubclass(GanlibError, ValueError)


def test_seed_everything_repeats_torch_numpy_and_python_streams():
    seed_everything(123)
    first = (torch.randn(5), np.random.rand(3), random.random())
    seed_everything(123)
    second = (torch.randn(5), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]


def test_seed_everything_different_seeds_differ():
    seed_everything(1)
    a = torch.randn(5)
    seed_everything(2)
    assert not torch.equal(a, torch.randn(5))


def test_seed_everything_returns_a_seeded_generator():
    g1, g2 = seed_everything(7), seed_everything(7)
    assert isinstance(g1, torch.Generator)
    assert torch.equal(torch.randn(4, generator=g1), torch.randn(4, generator=g2))


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(GanlibError, match="seed"):
        seed_everything(bad)


@pytest.mark.parametrize("raw, expected", [
    (None, 1.0),          # unset: the book's published run
    ("", 1.0),
    ("default", 1.0),
    ("full", 1.0),
    ("smoke", 0.0),
    (" Smoke ", 0.0),     # case and surrounding space do not matter
    ("4", 4.0),
    ("0.5", 0.5),
])
def test_budget_reads_the_environment(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv(BUDGET_ENV, raising=False)
    else:
        monkeypatch.setenv(BUDGET_ENV, raw)
    assert budget() == expected


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "nan", "inf", "-inf"])
def test_budget_rejects_bad_values_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(BUDGET_ENV, raw)
    with pytest.raises(GanlibError, match=BUDGET_ENV):
        budget()
    with pytest.raises(GanlibError):
        steps(100)


@pytest.mark.parametrize("raw, expected", [
    (None, 100),
    ("default", 100),
    ("smoke", 5),
    ("4", 400),
    ("0.001", 1),   # never fewer than one step
])
def test_steps_scales_the_default(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv(BUDGET_ENV, raising=False)
    else:
        monkeypatch.setenv(BUDGET_ENV, raw)
    assert steps(100) == expected
    assert isinstance(steps(100), int)


def test_steps_smoke_uses_the_given_smoke_count(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "smoke")
    assert steps(1000, smoke=3) == 3


def test_map_in_threads_keeps_order_and_results_and_restores_the_thread_count():
    import ganlib

    x = ganlib.sample_toy("ring", 256, generator=torch.Generator().manual_seed(0))

    def jobs():  # built one after the other: the global random state is shared by the threads
        out = []
        for seed in range(3):
            seed_everything(seed)
            out.append((seed, *ganlib.build_models("mlp", data_shape=(2,), latent_dim=2, hidden=(16,))))
        return out

    def fit(job):
        seed, generator, discriminator = job
        config = ganlib.TrainConfig(num_steps=15, batch_size=32, log_every=5, progress=False, seed=seed)
        history = ganlib.train(generator, discriminator, x, config, device="cpu").history
        return {k: v for k, v in history.items() if k != "seconds"}

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    alone = [fit(job) for job in jobs()]
    torch.set_num_threads(before)
    assert map_in_threads(fit, jobs(), workers=2) == alone  # the same numbers, in the same order
    assert torch.get_num_threads() == before
    assert alone[0] != alone[1]
    assert map_in_threads(lambda v: v * v, range(5)) == [0, 1, 4, 9, 16]


def test_map_in_threads_passes_an_error_on_and_restores_the_thread_count():
    before = torch.get_num_threads()

    def fail(v):
        raise GanlibError(f"item {v}")

    with pytest.raises(GanlibError, match="item 0"):
        map_in_threads(fail, [0, 1])
    assert torch.get_num_threads() == before

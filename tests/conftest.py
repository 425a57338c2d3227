"""Shared small fixtures for the ganlib unit tests: tiny 2-D models, a tiny ring data set, one MNIST load;
and, for the packaging tests, the package registry (or a skip) and a copy of the checkout to build.

Everything but the packaging fixtures is sized so a test runs in well under a second on a busy 2-core CPU.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import shutil
import sys
import urllib.request
from pathlib import Path

import pytest
import torch

import ganlib
from ganlib import TrainConfig

# The test machine has 2 cores shared with other jobs. With PyTorch's default of one intra-op
# thread per core, tiny models spend their time spin-waiting for busy cores (20 MLP steps took
# ~3.5 s instead of ~0.07 s). One thread keeps the suite fast and its timings steady.
torch.set_num_threads(1)

REGISTRY_PROBE_S = 10  # seconds to wait for the package index before a test that needs it skips
LATENT_DIM = 4      # size of z for the tiny 2-D models
HIDDEN = (16,)      # one small hidden layer: enough to train, cheap to step


@pytest.fixture(scope="session")
def mnist():
    """The 5 000 offline MNIST digits ``(x, y)``, loaded once per test session."""
    return ganlib.load_mnist()


@pytest.fixture
def ring_data() -> torch.Tensor:
    """512 points ``(512, 2)`` from the 8-mode ring, drawn with a fixed seed."""
    return ganlib.sample_toy("ring", 512, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def make_models():
    """Factory: ``make_models(seed=0)`` -> a fresh tiny MLP ``(generator, discriminator)`` for 2-D data."""

    def make(seed: int = 0):
        ganlib.seed_everything(seed)
        return ganlib.build_models("mlp", data_shape=(2,), latent_dim=LATENT_DIM, hidden=HIDDEN)

    return make


@pytest.fixture
def tiny_config() -> TrainConfig:
    """20 generator steps of batch 32, a history row every 5 steps, no progress bar."""
    return TrainConfig(num_steps=20, batch_size=32, log_every=5, progress=False, seed=0)


@pytest.fixture
def state_copy():
    """Function: ``state_copy(module)`` -> a detached copy of its state dict (parameters and buffers)."""

    def copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in module.state_dict().items()}

    return copy


@pytest.fixture
def assert_same_state():
    """Function: ``assert_same_state(a, b)`` checks two state dicts are equal bit for bit."""

    def check(a: dict, b: dict) -> None:
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{key} differs"

    return check


class _FullDisk:
    """The ``os`` module, but ``fsync`` fails with ENOSPC: where a file system that allocates late
    reports a full disk, after the writes went through."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def full_disk(monkeypatch):
    """Function: ``full_disk(module)`` -> the disk is full for the files ``module`` writes (until the test ends)."""

    def fill(module):
        monkeypatch.setattr(module, "os", _FullDisk())

    return fill


@pytest.fixture(scope="session")
def load_script():
    """Function: ``load_script("benchmarks/x.py")`` -> that script imported as a module (not run as ``__main__``).

    The script's folder goes on ``sys.path`` first, as when it runs as a script (it may import its neighbours).
    """

    def load(relative: str):
        path = Path(__file__).resolve().parents[1] / relative
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module  # as an import would: dataclasses look their module up there
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def package_registry() -> str:
    """The package index pip would ask (``PIP_INDEX_URL`` or PyPI); skips the test when it does not answer.

    The only network the tests may use: a test that resolves or installs from the registry asks for this.
    """
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    try:
        with urllib.request.urlopen(f"{index}/pip/", timeout=REGISTRY_PROBE_S) as response:
            response.read(1)
    except OSError as error:  # URLError, timeouts and refused connections are all OSErrors
        pytest.skip(f"no package registry reachable ({index} did not answer in {REGISTRY_PROBE_S} s: {error})")
    return index


@pytest.fixture(scope="session")
def checkout_copy(tmp_path_factory) -> Path:
    """What pip needs to build ganlib (pyproject, readme, licence, the package), copied out of the checkout,
    so that a build leaves no ``build/`` or ``*.egg-info`` in it."""
    root = Path(__file__).resolve().parents[1]
    destination = tmp_path_factory.mktemp("checkout") / "ganlib-src"
    destination.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(root / name, destination / name)
    shutil.copytree(root / "ganlib", destination / "ganlib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return destination

"""The perturbation switches of CONTRIBUTING.md really perturb: another float path gives other bits.

CI executes every chapter a second time with ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` and
``GANLIB_SEED_OFFSET=1``. That pass only means something if the switches change what is computed; these
tests check it with a hash of a convolution's output and with the seeds ganlib hands out.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import ganlib

AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
CONV_HASH = """
import hashlib, torch
generator = torch.Generator().manual_seed(0)
x, w = torch.randn(64, 16, 14, 14, generator=generator), torch.randn(32, 16, 4, 4, generator=generator)
y = torch.nn.functional.conv2d(x, w, stride=2, padding=1)  # a DCGAN discriminator's layer, (64, 32, 7, 7)
print(torch.backends.cpu.get_cpu_capability(), hashlib.sha256(y.numpy().tobytes()).hexdigest())
"""


def _conv_hash(**env) -> tuple[str, str]:
    full = {k: v for k, v in os.environ.items() if k not in AVX2}
    done = subprocess.run([sys.executable, "-c", CONV_HASH], env={**full, "OMP_NUM_THREADS": "1", **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    capability, digest = done.stdout.split()
    return capability, digest


def test_the_avx2_switches_change_the_bits_of_a_convolution():
    capability, default = _conv_hash()
    if capability != "AVX512":
        pytest.skip(f"this CPU runs PyTorch's {capability} kernels already: the switches change nothing here")
    forced, avx2 = _conv_hash(**AVX2)
    assert forced == "AVX2"
    assert avx2 != default, "the AVX2 kernels gave the same bits: the perturbed CI pass would test nothing new"


def test_the_seed_offset_shifts_every_seed(monkeypatch):
    monkeypatch.setenv(ganlib.utils.SEED_OFFSET_ENV, "2")
    assert ganlib.seed_offset() == 2
    assert ganlib.rng(1).initial_seed() == 3
    assert ganlib.seed_everything(1).initial_seed() == 3
    drawn = torch.randn(3)  # the global stream, seeded by seed_everything(1) with the offset
    monkeypatch.delenv(ganlib.utils.SEED_OFFSET_ENV)
    ganlib.seed_everything(3)
    assert torch.equal(torch.randn(3), drawn)


def test_the_seed_offset_reaches_training_and_sampling(monkeypatch, make_models, ring_data, tiny_config):
    def final_weights():
        generator, discriminator = make_models(seed=0)
        run = ganlib.train(generator, discriminator, ring_data, tiny_config, device="cpu")
        return torch.cat([p.detach().reshape(-1) for p in run.generator.parameters()]), ganlib.sample(generator, 4, seed=0)

    monkeypatch.delenv(ganlib.utils.SEED_OFFSET_ENV, raising=False)
    weights, samples = final_weights()
    monkeypatch.setenv(ganlib.utils.SEED_OFFSET_ENV, "1")
    shifted_weights, shifted_samples = final_weights()
    assert not torch.equal(weights, shifted_weights) and not torch.equal(samples, shifted_samples)
    monkeypatch.setenv(ganlib.utils.SEED_OFFSET_ENV, "0")
    assert torch.equal(final_weights()[0], weights)  # offset 0 is the plain run, bit for bit


@pytest.mark.parametrize("bad", ["-1", "one", "1.5"])
def test_a_bad_seed_offset_is_one_clear_error(monkeypatch, bad):
    monkeypatch.setenv(ganlib.utils.SEED_OFFSET_ENV, bad)
    with pytest.raises(ganlib.GanlibError, match="GANLIB_SEED_OFFSET must be a non-negative integer"):
        ganlib.seed_everything(0)

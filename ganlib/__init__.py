"""ganlib: the small PyTorch library every chapter of the GAN book runs on.

Modules (each with one job): :mod:`~ganlib.utils` (device, seeds, run budget), :mod:`~ganlib.data`,
:mod:`~ganlib.models`, :mod:`~ganlib.augment` (shifting D's inputs), :mod:`~ganlib.losses`,
:mod:`~ganlib.train` (the loop), :mod:`~ganlib.stopping` (a signal stops it between two steps),
:mod:`~ganlib.recipes`, :mod:`~ganlib.checkpoint`, :mod:`~ganlib.runfolder` (a run's folder and its lock),
:mod:`~ganlib.metrics` and :mod:`~ganlib.metrics2d`, :mod:`~ganlib.viz`,
:mod:`~ganlib.conditional` (G(z, y) and D(x, y)), :mod:`~ganlib.image2image` (pix2pix-style networks),
:mod:`~ganlib.vae`, :mod:`~ganlib.infogan` and :mod:`~ganlib.cyclegan` (variants),
:mod:`~ganlib.remedies` (fixes for training pathologies), :mod:`~ganlib.benchmark2d`, :mod:`~ganlib.quality`,
:mod:`~ganlib.check` (exercise checkers), :mod:`~ganlib.diagnose` (the GAN doctor), :mod:`~ganlib.cli`
and :mod:`~ganlib.cli_parser`, :mod:`~ganlib.distributed` (data-parallel training under ``torchrun``;
imported when used). The names below are the public API.
"""
from . import (augment, check, checkpoint, cyclegan, diagnose, image2image, infogan, metrics, metrics2d, quality,
               recipes, remedies, runfolder, stopping, vae, viz)
from .data import gaussian_1d, grid_means, load_dataset, load_mnist, ring_means, sample_toy
from .losses import LOSSES, get_loss
from .models import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, build_models,
                     init_dcgan_weights)
from .train import Run, TrainConfig, TrainingDiverged, d_step, g_step, new_run, sample, train, unrolled_g_step
from .utils import GanlibError, budget, get_device, map_in_threads, rng, seed_everything, seed_offset, steps

__version__ = "0.1.0"

__all__ = [
    "check", "checkpoint", "cyclegan", "diagnose", "image2image", "infogan", "metrics", "metrics2d", "quality",
    "recipes", "remedies", "runfolder", "stopping", "vae", "viz",
    "gaussian_1d", "grid_means", "load_dataset", "load_mnist", "ring_means", "sample_toy",
    "LOSSES", "get_loss",
    "DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator", "build_models",
    "init_dcgan_weights",
    "Run", "TrainConfig", "TrainingDiverged", "d_step", "g_step", "new_run", "sample", "train",
    "unrolled_g_step",
    "GanlibError", "budget", "get_device", "map_in_threads", "rng", "seed_everything", "seed_offset", "steps",
]

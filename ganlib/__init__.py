"""ganlib: the small PyTorch library every chapter of the GAN book runs on.

Four layers, each a package that imports only those before it:

- :mod:`ganlib.core`: data, networks, losses, the training loop, sampling, checkpoints, data-parallel
  training, recipes and utilities;
- :mod:`ganlib.variants`: conditional GAN, InfoGAN, CycleGAN, image-to-image, the VAE, remedies;
- :mod:`ganlib.eval`: metrics (MNIST, 2-D), quality during training, the GAN doctor, plots;
- :mod:`ganlib.exercises`: the chapters' exercise checkers and chapter 7's remedies experiment (book-only;
  nothing else imports them).

The command line (:mod:`ganlib.cli`, :mod:`ganlib.cli_parser`) sits on top. The names below are the public
API; the modules are also reachable as ``ganlib.<module>`` (``ganlib.infogan``, ``ganlib.metrics``, ...).
"""
from .core import augment, checkpoint, data, download, labels, losses, models, packing, recipes, runfolder, stopping, utils, zoo
from .core.config import LRDecay, Regularization, Speed, with_changes
from .core.data import gaussian_1d, grid_means, load_dataset, load_mnist, ring_means, sample_toy
from .core.losses import LOSSES, get_loss
from .core.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, init_dcgan_weights
from .core.config import TrainConfig
from .core.run import Run, TrainingDiverged, new_run, sample
from .core.steps import d_step, g_step
from .core.train import train
from .core.unrolled import unrolled_g_step
from .core.utils import GanlibError, budget, get_device, map_in_threads, rng, seed_everything, seed_offset, steps
from .core.zoo import build_models
from .variants import conditional, cyclegan, image2image, infogan, remedies, vae
from .eval import benchmark2d, diagnose, metrics, metrics2d, quality, viz
from . import exercises

__version__ = "0.1.0"

__all__ = [
    "augment", "checkpoint", "data", "download", "labels", "losses", "models", "packing", "recipes", "runfolder",
    "stopping", "utils", "zoo",
    "conditional", "cyclegan", "image2image", "infogan", "remedies", "vae",
    "benchmark2d", "diagnose", "metrics", "metrics2d", "quality", "viz", "exercises",
    "gaussian_1d", "grid_means", "load_dataset", "load_mnist", "ring_means", "sample_toy",
    "LOSSES", "get_loss",
    "DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator", "build_models",
    "init_dcgan_weights",
    "LRDecay", "Regularization", "Speed", "with_changes",
    "Run", "TrainConfig", "TrainingDiverged", "d_step", "g_step", "new_run", "sample", "train",
    "unrolled_g_step",
    "GanlibError", "budget", "get_device", "map_in_threads", "rng", "seed_everything", "seed_offset", "steps",
]

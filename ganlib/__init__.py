"""ganlib: the small PyTorch library every chapter of the GAN book runs on."""
from .utils import GanlibError, get_device, seed_everything, budget, steps
from .data import load_mnist, gaussian_1d, ring_means, grid_means, sample_toy, load_dataset
from .models import (MLPGenerator, MLPDiscriminator, DCGANGenerator, DCGANDiscriminator,
                     init_dcgan_weights, build_models)
from .losses import LOSSES, get_loss
from .train import TrainConfig, Run, d_step, g_step, train, sample, new_run

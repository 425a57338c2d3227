"""Variants: GANs and relatives built on the core, each in its own module.

Conditional DCGAN (:mod:`.conditional`), InfoGAN (:mod:`.infogan`), CycleGAN (:mod:`.cyclegan`),
image-to-image translation (:mod:`.image2image`), the VAE that chapter 9 compares with (:mod:`.vae`) and the
remedies for training pathologies (:mod:`.remedies`).

A variant imports the core and nothing above it (no evaluation, no exercises). It registers its networks
with :func:`ganlib.core.zoo.register_models` when it needs a name on the command line, and trains through
:func:`ganlib.train` with its own step functions. A new variant is a new module here, imported by
``ganlib/__init__.py``.
"""

"""The core: what every GAN needs, and nothing a chapter or a variant adds.

Data (:mod:`.data`, :mod:`.download`), networks (:mod:`.models`, :mod:`.packing`, :mod:`.augment`,
:mod:`.labels`, and :mod:`.zoo`, pairs by name), losses (:mod:`.losses`), the training loop
(:mod:`.train`; the D step's arithmetic, shared with DDP, in :mod:`.steps_shared`), sampling, checkpoints
and run folders (:mod:`.checkpoint`, :mod:`.runfolder`), stopping on a signal (:mod:`.stopping`),
data-parallel training (:mod:`.distributed`), the recommended settings (:mod:`.recipes`) and small
utilities (:mod:`.utils`).

The rule: a core module imports only the core (``tests/test_structure.py`` fails otherwise). A new
variant goes in :mod:`ganlib.variants` and registers its pair with :func:`.zoo.register_models`; a new
metric goes in :mod:`ganlib.eval`; a chapter's checker in :mod:`ganlib.exercises`.
"""

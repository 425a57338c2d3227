"""Evaluation: measuring what a generator makes, and looking at it.

The bundled MNIST classifier (:mod:`.classifier`), distances between feature sets (:mod:`.distances`)
and the MNIST metrics built on both (:mod:`.metrics`); 2-D mode metrics (:mod:`.metrics2d`) and the
2-D protocol end to end (:mod:`.benchmark2d`), quality during training and stop-on-target (:mod:`.quality`),
the GAN doctor that reads a training history (:mod:`.diagnose`) and plots (:mod:`.viz`, and
:mod:`.viz2d` for 2-D data).

An evaluation module may import the core and the variants; the core never imports it. A new metric goes
here.
"""

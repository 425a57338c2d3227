"""Tests of ganlib.stopping: a signal inside the guard is a request that the loops read between steps.

The signals are sent by this process to itself (``os.kill(os.getpid(), ...)``), always inside
:func:`stop_on_signals`: outside it SIGTERM would end the test run. The command line's exit codes
are tested in test_cli.py, the ranks' agreement under torchrun in test_distributed.py.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading

import pytest
import torch

import ganlib

from ganlib import infogan
from ganlib.core.stopping import requested, stop_check, stop_on_signals
from ganlib.core.train import train

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals (SIGHUP, SIGTERM by kill)")

def _train_infogan(generator, discriminator, data, config, *, lambda_cat=1.0, lambda_cont=1.0, **kwargs):
    """ganlib.train with the InfoGAN variant (the one training loop)."""
    return ganlib.train(generator, discriminator, data, config,
                        variant=ganlib.infogan.InfoGAN(lambda_cat=lambda_cat, lambda_cont=lambda_cont), **kwargs)



def _send(signum: int) -> None:
    os.kill(os.getpid(), signum)  # the Python handler runs before the next bytecode of this thread


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_inside_the_guard_is_a_request_and_the_old_handler_comes_back(signum):
    before = signal.getsignal(signum)
    with stop_on_signals():
        assert requested() == 0 and stop_check()() is None
        _send(signum)
        assert requested() == signum
        assert stop_check()() == signal.Signals(signum).name
    assert signal.getsignal(signum) is before
    assert requested() == 0  # forgotten: the next guarded run starts clean


def test_a_second_ctrl_c_raises_keyboard_interrupt_at_once():
    with stop_on_signals():
        _send(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt):
            _send(signal.SIGINT)
        assert requested() == signal.SIGTERM  # the first request still stands


def test_an_ignored_signal_stays_ignored():
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup: the run outlives its terminal
    try:
        with stop_on_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            _send(signal.SIGHUP)
            assert requested() == 0
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


def test_outside_the_main_thread_the_handlers_are_left_alone():
    seen = {}

    def worker():
        with stop_on_signals():  # signal.signal() would raise ValueError here
            seen["handler"] = signal.getsignal(signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["handler"] is before


def _signal_at(step: int, signum: int):
    def callback(run):
        if run.step == step:
            _send(signum)

    return callback


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_train_stops_after_the_step_and_continues_bit_for_bit(make_models, ring_data, tiny_config, state_copy,
                                                              assert_same_state, signum):
    whole = train(*make_models(), ring_data, tiny_config)  # 20 steps in one call
    generator, discriminator = make_models()
    with stop_on_signals():
        run = train(generator, discriminator, ring_data, tiny_config, callback=_signal_at(7, signum))
    assert (run.step, run.stopped_by) == (7, signal.Signals(signum).name)
    assert run.history["step"] == [5, 7]  # the partial interval is logged, as at any end
    run = train(generator, discriminator, ring_data, dataclasses.replace(tiny_config, num_steps=13), run=run)
    assert (run.step, run.stopped_by) == (20, None)
    assert_same_state(state_copy(run.generator), state_copy(whole.generator))
    assert_same_state(state_copy(run.discriminator), state_copy(whole.discriminator))


def test_a_signal_in_the_last_step_leaves_a_finished_run(make_models, ring_data, tiny_config):
    with stop_on_signals():
        run = train(*make_models(), ring_data, tiny_config, callback=_signal_at(20, signal.SIGTERM))
    assert (run.step, run.stopped_by) == (20, None)  # nothing was cut: exit 0, not 143


def test_train_infogan_stops_on_a_signal_and_on_keyboard_interrupt():
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1  # images in [-1, 1]
    config = dataclasses.replace(infogan.recipe("mnist").config, num_steps=6, batch_size=8, log_every=2,
                                 progress=False)

    def build():
        torch.manual_seed(0)
        return infogan.build_infogan(width=8)

    with stop_on_signals():
        run = _train_infogan(*build(), x, config, callback=_signal_at(3, signal.SIGTERM))
    assert (run.step, run.stopped_by) == (3, "SIGTERM") and run.history["step"] == [2, 3]

    def interrupt(run):
        if run.step == 4:
            raise KeyboardInterrupt  # a notebook's "interrupt kernel"

    with pytest.warns(UserWarning, match="interrupted at step 4"):
        run = _train_infogan(*build(), x, config, callback=interrupt)
    assert (run.step, run.stopped_by) == (4, "SIGINT")

"""The command line: ``python -m ganlib train | sample | evaluate``.

Holds: one function per sub-command, and :func:`main`, which reads the arguments
(:mod:`ganlib.cli_parser`) and turns every outcome into an exit status
(:data:`~ganlib.cli_parser.EXIT_CODES`) and, for a failure, one line on stderr (argparse style),
never a traceback. It does not hold training or metric code: it calls :mod:`ganlib`. ``train``
holds its output folder's lock while it runs (:mod:`ganlib.core.runfolder`) and, on SIGTERM, SIGHUP or
Ctrl-C, finishes the step, saves and exits with 128 + the signal (:mod:`ganlib.core.stopping`).

::

    python -m ganlib train --dataset mnist --model dcgan --seed 0 --out run
    python -m ganlib train --dataset mnist --model infogan --out run_info   # InfoGAN (ganlib.infogan)
    python -m ganlib train --dataset ring --unroll-steps 5 --loss ns --steps 6000 --out run_ring   # unrolled GAN
    python -m ganlib sample --checkpoint run/checkpoint.pt --n 2000 --seed 0 --out samples.npy
    python -m ganlib evaluate --samples samples.npy --dataset mnist
    torchrun --standalone --nproc_per_node=2 -m ganlib train --dataset ring --out run             # data-parallel
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import signal
import sys
from pathlib import Path

import numpy as np

from .core import distributed

from .variants import infogan
from .core.config import knob, with_changes
from .core.checkpoint import SaveFailed, atomic_write, load_generator, restore_run
from .cli_parser import EXIT_SAVE_FAILED, PROG, build_parser
from .core.labels import is_conditional
from .core.data import load_dataset
from .core.zoo import build_models
from .eval.quality import evaluator
from .core.recipes import recipe
from .variants.remedies import Packed
from .core.runfolder import CHECKPOINT_NAME, fingerprint, locked, save_run
from .core.stopping import stop_on_signals
from .core.run import TrainingDiverged, new_run, sample
from .core.train import train
from .core.utils import GanlibError, get_device, seed_everything

__all__ = ["main"]  # build_parser and EXIT_CODES: ganlib.cli_parser

#: The training options a run is saved with: ``--resume`` accepts them unchanged and refuses a change.
RUN_OPTIONS = ("dataset", "model", "loss", "batch_size", "lr_g", "lr_d", "d_steps", "unroll_steps", "seed")


def cmd_train(args) -> int:
    """Train from the recipe (or resume a run), saving the checkpoint and history in ``--out``.

    Under ``torchrun`` every process trains the same model data-parallel (:mod:`ganlib.core.distributed`);
    rank 0 alone locks the folder, writes the files and prints. SIGTERM, SIGHUP and Ctrl-C stop the
    run after its current step (on every rank at the same step); it is saved, and the exit status is
    128 + the signal's number.
    """
    with stop_on_signals():
        if distributed.launched():
            with distributed.process_group(args.device) as device:
                return _train(args, device, main_rank=distributed.rank() == 0)
        return _train(args, get_device(args.device))


def _train(args, device, main_rank: bool = True) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GanlibError(f"--out {out} exists and is not a folder")
    seen = fingerprint(out / CHECKPOINT_NAME)  # the version read; checked again once the folder is locked
    start = _resumed if args.resume else _started
    run, config, dataset, data_seed = start(args, out, device, progress=not args.quiet and main_rank)
    config = _run_settings(args, config, run)
    x, y = load_dataset(dataset, seed=data_seed)
    labels = y if is_conditional(run.generator) else None  # a conditional pair trains on the labels too
    out.mkdir(parents=True, exist_ok=True)
    with _claimed(out, run.run_id, seen, main_rank, device):
        return _train_and_save(args, out, run, config, x, labels, dataset, main_rank)


def _resumed(args, out: Path, device, progress: bool):
    """The run saved in ``out``, to continue up to ``--steps``; options repeated unchanged are accepted."""
    run = restore_run(out / CHECKPOINT_NAME, device=device)
    saved = {"dataset": run.dataset or "mnist", "model": run.model_spec.get("name"),
             **{k: knob(run.config, k) for k in RUN_OPTIONS[2:]}}
    changed = [f"--{k.replace('_', '-')} {getattr(args, k)} (saved: {saved[k]})" for k in RUN_OPTIONS
               if getattr(args, k) is not None and getattr(args, k) != saved[k]]
    if changed:
        raise GanlibError(f"--resume continues the run as it was saved, but this command changes "
                          f"{', '.join(changed)}; drop those options, or train into another --out")
    total = args.steps if args.steps is not None else run.step + run.config.num_steps
    if total <= run.step:
        raise GanlibError(f"the run in {out} is already at step {run.step}; ask for --steps above it")
    config = dataclasses.replace(run.config, num_steps=total - run.step, progress=progress)
    return run, config, saved["dataset"], run.config.seed  # the run's own training set


def _started(args, out: Path, device, progress: bool):
    """A new run from the recipe, with the options given."""
    if (out / CHECKPOINT_NAME).exists():
        raise GanlibError(f"{out / CHECKPOINT_NAME} exists; use --resume to continue it, or another --out")
    changes = {"loss": args.loss, "batch_size": args.batch_size, "lr_g": args.lr_g,
               "lr_d": args.lr_d, "d_steps": args.d_steps, "unroll_steps": args.unroll_steps,
               "num_steps": args.steps}
    if args.unroll_steps:  # unrolling makes G's fakes itself: the MNIST recipe's reuse_fakes gives way
        changes["reuse_fakes"] = False
    dataset, data_seed = args.dataset or "mnist", args.seed or 0
    make_recipe = infogan.recipe if args.model == "infogan" else functools.partial(recipe, model=args.model)
    plan = make_recipe(dataset, seed=data_seed, progress=progress,
                       **{k: v for k, v in changes.items() if v is not None})
    seed_everything(data_seed)  # the models' initial weights
    generator, discriminator = build_models(**plan.model)
    run = new_run(generator, discriminator, plan.config, device)
    run.model_spec, run.dataset = plan.model, dataset
    return run, plan.config, dataset, data_seed


def _run_settings(args, config, run):
    """``config`` with the options that may change on every call; refuse combinations that cannot run."""
    if args.eval_every is not None:
        config = dataclasses.replace(config, eval_every=args.eval_every)
    if args.precision is not None or args.compile:  # how the steps run, not what they compute
        config = with_changes(config, precision=args.precision or config.speed.precision,
                              compile=args.compile or config.speed.compile)
    if args.target is not None and not config.eval_every:
        raise GanlibError("--target needs --eval-every N: a target can only be met by measuring quality")
    if config.regularization.unroll_steps and (is_conditional(run.generator) or infogan.is_infogan(run.generator)):
        raise GanlibError("--unroll-steps is not supported for conditional or InfoGAN models yet")  # before any file
    pack = next((m.m for m in run.discriminator.modules() if isinstance(m, Packed)), 1)
    if config.batch_size % pack:
        raise GanlibError(f"--batch-size {config.batch_size}: this D judges packs of {pack} samples; "
                          f"use a batch size divisible by {pack}")
    return config


@contextlib.contextmanager
def _claimed(out: Path, run_id: str, seen: tuple | None, main_rank: bool, device):
    """Hold ``out``'s lock for a block (rank 0 takes it; every rank learns whether it could).

    Once it is held, the checkpoint must still be the one read before (``seen``): another run may
    have saved there between that read and the lock.
    """
    with contextlib.ExitStack() as stack:
        error = None
        if main_rank:
            try:
                warning = stack.enter_context(locked(out, run_id))
                if warning:
                    print(f"{PROG} train: warning: {warning}", file=sys.stderr)
                if fingerprint(out / CHECKPOINT_NAME) != seen:
                    raise GanlibError(f"{out / CHECKPOINT_NAME} was written by another run while this one "
                                      "started; run the command again")
            except GanlibError as exc:  # a folder in use, or a lock that cannot be written (SaveFailed)
                error = exc
        if not distributed.all_ok(error is None, device):
            raise error or GanlibError(f"rank 0 could not take {out} (its message says why)")
        yield


def _train_and_save(args, out: Path, run, config, x, labels, dataset: str, main_rank: bool) -> int:
    """Run the loop; save at the end, on a stop signal, after a roll-back and every --checkpoint-every."""
    def save(r):
        if main_rank:  # one model, one writer
            save_run(out, r)

    def every(r):
        if args.checkpoint_every and r.step % args.checkpoint_every == 0:
            save(r)

    # InfoGAN's steps add the mutual-information term; it learns its own categories (no labels)
    variant = infogan.InfoGAN() if infogan.is_infogan(run.generator) else None
    first_step = run.step
    try:
        run = train(run.generator, run.discriminator, x, config, variant=variant, run=run, callback=every,
                    evaluate=evaluator(dataset) if config.eval_every else None, stop_when=args.target,
                    labels=None if variant else labels)
    except TrainingDiverged:
        save(run)  # train() rolled the run back to its last finite step: keep that, then report
        raise
    code = 128 + signal.Signals[run.stopped_by] if run.stopped_by else 0
    if run.stopped_by and run.step == first_step:  # stopped before its first step: nothing new to save
        if main_rank:
            print(f"{PROG} train: stopped by {run.stopped_by} before step {run.step + 1}; nothing new to save",
                  file=sys.stderr)
        return code
    save(run)
    if not main_rank:
        return code
    summary = {"out": str(out), "step": run.step, "seconds": round(run.seconds, 1),
               "d_loss": run.history["d_loss"][-1], "g_loss": run.history["g_loss"][-1]}
    if distributed.world_size() > 1:
        summary["processes"] = distributed.world_size()  # each trained batch_size samples a step
    if run.evaluations:
        summary.update(evaluation=run.evaluations[-1], target_met=run.target_met)
    if run.stopped_by:
        summary["stopped_by"] = run.stopped_by
        print(f"{PROG} train: stopped by {run.stopped_by} at step {run.step}; saved {out / CHECKPOINT_NAME} "
              "(continue with --resume)", file=sys.stderr)
    print(json.dumps(summary))
    return code


def cmd_sample(args) -> int:
    """Draw ``--n`` samples with noise seed ``--seed`` and save them as float32 ``.npy``."""
    generator = load_generator(args.checkpoint, device=get_device(args.device or "cpu"))
    out = Path(args.out)
    if out.suffix != ".npy":
        raise GanlibError(f"--out must end in .npy, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    samples = sample(generator, args.n, seed=args.seed).numpy().astype(np.float32)
    atomic_write(out, lambda f: np.save(f, samples))
    print(json.dumps({"out": str(out), "shape": list(samples.shape)}))
    return 0


def cmd_evaluate(args) -> int:
    """Print :func:`ganlib.eval.metrics.evaluate` of the samples as one JSON object."""
    from .eval.metrics import evaluate  # loads the classifier only when asked

    path = Path(args.samples)
    if not path.is_file():
        raise GanlibError(f"no samples file at {path}")
    try:
        samples = np.load(path, allow_pickle=False)  # never unpickle objects from a file
    except (ValueError, OSError) as exc:
        raise GanlibError(f"{path} is not a readable .npy array of numbers ({type(exc).__name__})") from None
    print(json.dumps({"dataset": args.dataset, **evaluate(samples, args.dataset)}))
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (:data:`~ganlib.cli_parser.EXIT_CODES`)."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SaveFailed as exc:  # the disk, not the input; the file there before is intact
        return _failed(args, exc, EXIT_SAVE_FAILED)
    except TrainingDiverged as exc:  # not a usage error: the run went bad, its last good state is saved
        return _failed(args, exc, 1)
    except (GanlibError, OSError) as exc:  # bad input or an unusable path
        return _failed(args, exc, 2)
    except KeyboardInterrupt:  # a second Ctrl-C outside the loop: nothing more is saved
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130


def _failed(args, exc: Exception, code: int) -> int:
    print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)  # one line, no traceback
    return code

"""The command line: ``python -m ganlib train | sample | evaluate``.

Holds: the argument parser, one function per sub-command, and :func:`main`. Bad arguments and bad
files end with exit status 2 and one line on stderr (argparse style), never a traceback.
It does not hold training or metric code: it calls :mod:`ganlib`.

::

    python -m ganlib train --dataset mnist --model dcgan --seed 0 --out run
    python -m ganlib train --dataset mnist --model infogan --out run_info   # InfoGAN (ganlib.infogan)
    python -m ganlib train --dataset ring --unroll-steps 5 --loss ns --steps 6000 --out run_ring   # unrolled GAN
    python -m ganlib sample --checkpoint run/checkpoint.pt --n 2000 --seed 0 --out samples.npy
    python -m ganlib evaluate --samples samples.npy --dataset mnist
    torchrun --standalone --nproc_per_node=2 -m ganlib train --dataset ring --loss ns --out run   # data-parallel
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from pathlib import Path

import numpy as np

from . import distributed, infogan
from .checkpoint import atomic_write, load_generator, restore_run, save_checkpoint
from .conditional import is_conditional
from .data import DATASETS, load_dataset
from .losses import LOSSES
from .models import MODELS, build_models
from .quality import evaluator, parse_target
from .recipes import recipe
from .remedies import Packed
from .train import PRECISIONS, TrainingDiverged, new_run, sample, train
from .utils import GanlibError, get_device, seed_everything

__all__ = ["main", "build_parser"]

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _target(text: str):
    try:
        return parse_target(text)
    except GanlibError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``python -m ganlib``."""
    parser = _Parser(prog="python -m ganlib", description="Train, sample and evaluate GANs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = commands.add_parser("train", help="train a GAN; writes OUT/checkpoint.pt and OUT/history.json",
                            description="Train a GAN. Unset options take the recommended recipe "
                                        "for the dataset (ganlib.recipes).")
    t.add_argument("--dataset", choices=DATASETS, help="training data (default: mnist)")
    t.add_argument("--model", choices=MODELS, help="networks (default: dcgan for mnist, mlp for ring/grid)")
    t.add_argument("--loss", choices=tuple(LOSSES), help="GAN loss (default: the recipe's, ns)")
    t.add_argument("--steps", type=_positive_int, help="total generator steps (default: the recipe's)")
    t.add_argument("--batch-size", type=_positive_int, help="minibatch size (default: the recipe's)")
    t.add_argument("--lr-g", type=_positive_float, help="generator learning rate")
    t.add_argument("--lr-d", type=_positive_float, help="discriminator learning rate")
    t.add_argument("--d-steps", type=_positive_int, help="discriminator steps per generator step (k)")
    t.add_argument("--unroll-steps", type=_non_negative_int,
                   help="unrolled GAN: G steps against D advanced K Adam steps (Metz et al., 2017); default 0")
    t.add_argument("--seed", type=_non_negative_int, help="random seed (default: 0)")
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument("--checkpoint-every", type=_non_negative_int, default=0,
                   help="also save a checkpoint every N steps (default: 0, only at the end)")
    t.add_argument("--eval-every", type=_non_negative_int, default=None,
                   help="measure sample quality every N steps (ganlib.quality); recorded in history.json")
    t.add_argument("--target", type=_target,
                   help="stop as soon as a measured target holds, e.g. 'modes>=8,hq_fraction>=0.9' or "
                        "'confident_fraction>=0.8,min_class_share>=0.05' (needs --eval-every)")
    t.add_argument("--resume", action="store_true", help="continue the run in OUT up to --steps")
    t.add_argument("--device", help="cpu, cuda, cuda:1 or mps (default: the best available)")
    t.add_argument("--precision", choices=PRECISIONS,
                   help="bf16: the networks under bfloat16 autocast, for GPUs (default: the run's, fp32)")
    t.add_argument("--compile", action="store_true", help="torch.compile both networks (pays off on a GPU)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    s = commands.add_parser("sample", help="draw samples from a checkpoint into a .npy file")
    s.add_argument("--checkpoint", required=True, help="a checkpoint.pt written by train")
    s.add_argument("--n", type=_positive_int, default=64, help="number of samples (default: 64)")
    s.add_argument("--seed", type=_non_negative_int, default=0, help="noise seed (default: 0)")
    s.add_argument("--out", required=True, help="output .npy file: float32 (N,1,28,28) or (N,2)")
    s.add_argument("--device", help="cpu, cuda or mps (default: cpu)")

    e = commands.add_parser("evaluate", help="print the metrics of a .npy file of samples as one JSON object")
    e.add_argument("--samples", required=True, help="a .npy file: (N,1,28,28) in [-1,1] or (N,2)")
    e.add_argument("--dataset", choices=DATASETS, required=True, help="what the samples imitate")
    return parser


def _write_json(path: Path, obj) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=1).encode()))


def cmd_train(args) -> int:
    """Train from the recipe (or resume a run), saving the checkpoint and history in ``--out``.

    Under ``torchrun`` every process trains the same model data-parallel (:mod:`ganlib.distributed`);
    rank 0 alone writes the files and prints.
    """
    if distributed.launched():
        with distributed.process_group(args.device) as device:
            return _train(args, device, main_rank=distributed.rank() == 0)
    return _train(args, get_device(args.device))


def _train(args, device, main_rank: bool = True) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GanlibError(f"--out {out} exists and is not a folder")
    if args.resume:
        fixed = [f"--{k.replace('_', '-')}" for k in ("dataset", "model", "loss", "batch_size", "lr_g", "lr_d",
                                                      "d_steps", "unroll_steps", "seed")
                 if getattr(args, k) is not None]
        if fixed:
            raise GanlibError(f"--resume continues the run as it was saved: drop {', '.join(fixed)}")
        run = restore_run(out / CHECKPOINT_NAME, device=device)
        total = args.steps if args.steps is not None else run.step + run.config.num_steps
        if total <= run.step:
            raise GanlibError(f"the run in {out} is already at step {run.step}; ask for --steps above it")
        config = dataclasses.replace(run.config, num_steps=total - run.step, progress=not args.quiet and main_rank)
        dataset, data_seed = run.dataset or "mnist", run.config.seed  # the run's own training set
    else:
        if (out / CHECKPOINT_NAME).exists():
            raise GanlibError(f"{out / CHECKPOINT_NAME} exists; use --resume to continue it, or another --out")
        changes = {"loss": args.loss, "batch_size": args.batch_size, "lr_g": args.lr_g,
                   "lr_d": args.lr_d, "d_steps": args.d_steps, "unroll_steps": args.unroll_steps,
                   "num_steps": args.steps}
        if args.unroll_steps:  # unrolling makes G's fakes itself: the MNIST recipe's reuse_fakes gives way
            changes["reuse_fakes"] = False
        dataset, data_seed = args.dataset or "mnist", args.seed or 0
        make_recipe = infogan.recipe if args.model == "infogan" else functools.partial(recipe, model=args.model)
        plan = make_recipe(dataset, seed=data_seed, progress=not args.quiet and main_rank,
                           **{k: v for k, v in changes.items() if v is not None})
        seed_everything(data_seed)  # the models' initial weights
        generator, discriminator = build_models(**plan.model)
        run = new_run(generator, discriminator, plan.config, device)
        run.model_spec, run.dataset = plan.model, dataset
        config = plan.config
    if args.eval_every is not None:
        config = dataclasses.replace(config, eval_every=args.eval_every)
    if args.precision is not None or args.compile:  # how the steps run, not what they compute
        config = dataclasses.replace(config, precision=args.precision or config.precision,
                                     compile=args.compile or config.compile)
    if config.reuse_fakes and distributed.world_size() > 1:  # not under DDP yet: G runs again in its step
        config = dataclasses.replace(config, reuse_fakes=False)
    if args.target is not None and not config.eval_every:
        raise GanlibError("--target needs --eval-every N: a target can only be met by measuring quality")
    if config.unroll_steps and (is_conditional(run.generator) or infogan.is_infogan(run.generator)):
        raise GanlibError("--unroll-steps is not supported for conditional or InfoGAN models yet")  # before any file
    pack = next((m.m for m in run.discriminator.modules() if isinstance(m, Packed)), 1)
    if config.batch_size % pack:
        raise GanlibError(f"--batch-size {config.batch_size}: this D judges packs of {pack} samples; "
                          f"use a batch size divisible by {pack}")
    x, y = load_dataset(dataset, seed=data_seed)
    labels = y if is_conditional(run.generator) else None  # a conditional pair trains on the labels too
    out.mkdir(parents=True, exist_ok=True)

    def save(r):
        if not main_rank:  # one model, one writer
            return
        save_checkpoint(out / CHECKPOINT_NAME, r)
        _write_json(out / HISTORY_NAME, {**r.history, "evaluations": r.evaluations,
                                         "target_met": r.target_met})

    def every(r):
        if args.checkpoint_every and r.step % args.checkpoint_every == 0:
            save(r)

    if infogan.is_infogan(run.generator):  # its own loop (the mutual-information term); no labels
        trainer = infogan.train_infogan
    else:
        trainer = functools.partial(train, labels=labels)
    try:
        run = trainer(run.generator, run.discriminator, x, config, run=run, callback=every,
                      evaluate=evaluator(dataset) if config.eval_every else None, stop_when=args.target)
    except TrainingDiverged:
        save(run)  # train() rolled the run back to its last finite step: keep that, then report
        raise
    save(run)
    if not main_rank:
        return 0
    summary = {"out": str(out), "step": run.step, "seconds": round(run.seconds, 1),
               "d_loss": run.history["d_loss"][-1], "g_loss": run.history["g_loss"][-1]}
    if distributed.world_size() > 1:
        summary["processes"] = distributed.world_size()  # each trained batch_size samples a step
    if run.evaluations:
        summary.update(evaluation=run.evaluations[-1], target_met=run.target_met)
    print(json.dumps(summary))
    return 0


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
    """Print :func:`ganlib.metrics.evaluate` of the samples as one JSON object."""
    from .metrics import evaluate  # loads the classifier only when asked

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
    """Run the command line; return the exit status (2 for bad arguments or bad files)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except TrainingDiverged as exc:  # not a usage error: the run went bad, its last good state is saved
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except (GanlibError, OSError) as exc:  # bad input or an unusable path: one line, no traceback
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130

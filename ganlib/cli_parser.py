"""The grammar of ``python -m ganlib``: its parser, its help and its exit statuses.

Holds: :func:`build_parser` (the sub-commands ``train``, ``sample``, ``evaluate`` and their options,
each value checked as it is read) and :data:`EXIT_CODES`, which the help and the README list. It
runs nothing: :mod:`ganlib.cli` does.
"""

from __future__ import annotations

import argparse

import numpy as np

from .core.data import DATASETS
from .core.losses import LOSSES
from .core.zoo import model_names
from .eval.quality import parse_target
from .core.config import PRECISIONS
from .core.utils import GanlibError

__all__ = ["build_parser", "EXIT_CODES", "EXIT_SAVE_FAILED", "PROG"]

#: The command's name in its messages.
PROG = "python -m ganlib"
# (no colon in the doc comment below: napoleon reads what comes before one as the attribute's type)
#: The status of a failed save, EX_IOERR of BSD's sysexits.h ("an error occurred while doing I/O on some file").
EXIT_SAVE_FAILED = 74
#: Every exit status of ``python -m ganlib``; --help and the README list them. A signal gives 128 + its
#: number (SIGHUP 1, SIGINT 2, SIGTERM 15), as a shell reports a process the signal ended.
EXIT_CODES = {
    0: "finished",
    1: "training diverged (NaN losses): rolled back to the last finite step and saved",
    2: "bad arguments or files, or the output folder is in use by another run; nothing trained",
    EXIT_SAVE_FAILED: "a file could not be saved (disk full, permission lost); the file before is unchanged",
    129: "stopped by SIGHUP (the terminal closed): the step finished and the run saved",
    130: "stopped by Ctrl-C (SIGINT): the step finished and the run saved",
    143: "stopped by SIGTERM (kill, docker stop, a scheduler): the step finished and the run saved",
}
EPILOG = "exit status:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())
TRAIN_NOTES = """

SIGTERM, SIGHUP and Ctrl-C finish the current step, save OUT/checkpoint.pt and OUT/history.json
and exit with 128 + the signal; --resume continues from there (a second Ctrl-C stops at once).
While it runs, train holds OUT/run.lock: a second run into OUT is refused; a lock left by a
killed run on this host is taken over with a warning.
--resume accepts the options the run was saved with, repeated unchanged, and refuses a change."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _int_at_least(low: int, what: str):
    """An argparse ``type``: the text as an integer of at least ``low``; else one line naming ``what``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "a non-negative integer")


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
    parser = _Parser(prog=PROG, description="Train, sample and evaluate GANs.", epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = commands.add_parser("train", help="train a GAN; writes OUT/checkpoint.pt and OUT/history.json",
                            description="Train a GAN. Unset options take the recommended recipe "
                                        "for the dataset (ganlib.recipes).",
                            epilog=EPILOG + TRAIN_NOTES, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--dataset", choices=DATASETS, help="training data (default: mnist)")
    t.add_argument("--model", choices=model_names(), help="networks (default: dcgan for mnist, mlp for ring/grid)")
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

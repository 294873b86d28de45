"""Options shared by several commands, their value parsers, and argparse's one-line errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from harness import datasets
from harness.cli.console import print_error
from harness.gate.compare import Rule
from harness.run.profiles import PROFILES
from harness.run.settings import DTYPE_POLICIES, JIT_CHOICES, MALLOC_CHOICES


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print_error(f"{self.prog}: error: {message}")
        sys.exit(2)


def positive_int(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def batch_sizes(text: str) -> int | tuple[int, ...]:
    """One batch size (``32``), or several for a batch-size sweep (``1,32,256``)."""
    sizes = tuple(dict.fromkeys(positive_int(part.strip()) for part in text.split(",")))
    return sizes[0] if len(sizes) == 1 else sizes


def probability(text: str) -> float:
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def add_plugin_path(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin-path", action="append", default=[], metavar="PATH")


def add_rule_options(parser: argparse.ArgumentParser) -> None:
    """The decision rule's thresholds (``compare`` and ``ab``)."""
    rule = Rule()
    parser.add_argument(
        "--threshold",
        type=positive_float,
        default=rule.threshold,
        help="smallest slowdown that fails (ratio of medians above 1 + threshold)",
    )
    parser.add_argument("--alpha", type=probability, default=rule.alpha)
    parser.add_argument(
        "--accuracy-tolerance",
        type=probability,
        default=rule.accuracy_tolerance,
        help="largest fall in test accuracy that is not flagged",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="test that B is slower than A by more than the threshold (default: that B is "
        "slower than A, and flag it when the estimated slowdown is above the threshold)",
    )


def rule_from_args(args: argparse.Namespace) -> Rule:
    return Rule(
        alpha=args.alpha,
        threshold=args.threshold,
        accuracy_tolerance=args.accuracy_tolerance,
        strict=args.strict,
    )


def add_run_options(
    run: argparse.ArgumentParser, repeats_default: int = 1, report: bool = True, shard: bool = True
) -> None:
    """What to run and how (``run`` and ``ab``): read by ``RunSettings.from_args``."""
    _add_selection(run)
    _add_fairness(run)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--timeout", type=positive_float, help="per-cell timeout in seconds")
    run.add_argument(
        "--max-memory-gb",
        type=positive_float,
        help="a worker using more resident memory is killed: its cell fails, the run goes on",
    )
    add_plugin_path(run)
    run.add_argument("--out", type=Path, help="results file (default results/runs/<time>.json)")
    run.add_argument(
        "--repeats",
        type=positive_int,
        default=repeats_default,
        help="worker processes per cell (one process = one sample)",
    )
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where the workers run: here, one at a time, or on the nodes of a Ray cluster",
    )
    run.add_argument(
        "--address",
        help="the Ray cluster to use with --executor ray (default: the one `ray start` runs "
        "here, else a one-node cluster of this machine)",
    )
    if shard:
        run.add_argument(
            "--shard",
            metavar="K/N",
            help="run only the K-th of N balanced slices of the cells (a CI matrix; kbench merge)",
        )
        run.add_argument(
            "--native",
            action="store_true",
            help="also time each plugin's network written natively in each backend's framework "
            "(torch eager/compiled, JAX jit, TensorFlow function/XLA), beside its Keras cell",
        )
    if report:
        run.add_argument(
            "--report",
            action=argparse.BooleanOptionalAction,
            default=False,
            help="also write the charts and report.html (results/reports/<results file stem>/)",
        )


def _add_selection(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "-p",
        "--plugin",
        action="append",
        help="plugin name(s) or all; default: dense_mlp, dense_dropout, cnn, cnn_bn",
    )
    run.add_argument("-b", "--backend", action="append", help="jax, tensorflow, torch; default all")
    run.add_argument("--device", default="auto", choices=["cpu", "gpu", "auto"])
    run.add_argument("--dataset", default="auto", choices=datasets.DATASET_NAMES)
    run.add_argument(
        "--data-dir", help=f"folder with the Fashion-MNIST CSVs (or ${datasets.FASHION_DIR_ENV})"
    )
    run.add_argument("--profile", default="quick", choices=list(PROFILES))


def _add_fairness(run: argparse.ArgumentParser) -> None:
    run.add_argument("--epochs", type=positive_int, help="override the profile's epochs")
    run.add_argument(
        "--batch-size",
        type=batch_sizes,
        metavar="N[,N...]",
        help="override the plugins' batch size; several (1,32,256): a batch-size sweep, a cell "
        "per size, and a scaling chart in the report",
    )
    run.add_argument("--jit-compile", default="auto", choices=JIT_CHOICES)
    run.add_argument(
        "--dtype", default="float32", choices=DTYPE_POLICIES, help="Keras dtype policy"
    )
    run.add_argument("--threads", type=positive_int, help="intra-op threads for every backend")
    run.add_argument(
        "--malloc",
        default="fixed",
        choices=MALLOC_CHOICES,
        help="glibc malloc thresholds: fixed by the harness (default), or glibc's own dynamic ones",
    )

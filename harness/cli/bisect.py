"""``kbench bisect``: the first version of a package (or commit of a checkout) whose gate
flags a regression, with every gate's verdict in a file."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from rich.markup import escape

from harness.bisect.candidates import Candidate, checkout, commit_range, registry_versions
from harness.bisect.environments import build, default_cache, extras_for
from harness.bisect.search import GateFailed, GateStep, bisect
from harness.cli.console import console, print_error
from harness.errors import HarnessError
from harness.records.files import read_comparison, write_json_atomic
from harness.run.plan import select_backends
from harness.run.settings import parse_selection


def add_bisect_parser(sub: argparse._SubParsersAction) -> None:
    bisect_parser = sub.add_parser(
        "bisect", help="find the version of a package (or commit) where a cell got slower"
    )
    bisect_parser.add_argument("--package", required=True, help="the package to bisect (keras)")
    bisect_parser.add_argument("--good", required=True, help="a version (or commit) known good")
    bisect_parser.add_argument("--bad", required=True, help="a later version (or commit)")
    bisect_parser.add_argument(
        "--repo", type=Path, help="a local git checkout of the package: bisect its commits"
    )
    bisect_parser.add_argument("-p", "--plugin", default="dense_mlp", help="plugins to gate")
    bisect_parser.add_argument("-b", "--backend", default="jax", help="backends to gate")
    bisect_parser.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"))
    bisect_parser.add_argument("--dataset", default="mnist_5k")
    bisect_parser.add_argument("--profile", default="gate")
    bisect_parser.add_argument(
        "--gate-args", default="", help="more kbench ab options, quoted (e.g. '--repeats 8')"
    )
    bisect_parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="where environments are kept (default ~/.cache/kbench/bisect)",
    )
    bisect_parser.add_argument(
        "--out", type=Path, default=None, help="folder for bisect.json and each gate's file"
    )
    bisect_parser.set_defaults(handler=cmd_bisect)


def cmd_bisect(args: argparse.Namespace) -> int:
    backends = select_backends(parse_selection([args.backend]))
    try:
        gate_options = shlex.split(args.gate_args)
    except ValueError as error:
        raise HarnessError(
            f"--gate-args cannot be split: {error}. Received: {args.gate_args!r}"
        ) from None
    cache = args.cache or default_cache()
    out = args.out or Path("results") / "bisect" / f"{args.package}-{args.good}-{args.bad}"
    if args.repo is not None:
        candidates = commit_range(args.repo, args.good, args.bad)
    else:
        candidates = registry_versions(args.package, args.good, args.bad)
    console.print(
        f"bisecting {escape(args.package)}: {len(candidates)} candidates "
        f"({escape(', '.join(c.label for c in candidates))})",
        soft_wrap=True,
    )
    extras = extras_for(backends)
    pythons: dict[str, Path] = {}

    def builds(candidate: Candidate) -> str:
        if candidate.label in pythons:
            return ""
        if args.repo is not None:
            candidate = checkout(args.repo, candidate, cache / "sources" / args.package)
        console.print(f"environment for {escape(candidate.label)} ...", soft_wrap=True)
        environment = build(args.package, candidate, extras, cache)
        if environment.ok:
            pythons[candidate.label] = environment.python
        else:
            console.print(f"  skipped: {escape(environment.reason)}", soft_wrap=True)
        return environment.reason

    cells = [
        "-p",
        args.plugin,
        "-b",
        ",".join(backends),
        "--device",
        args.device,
        "--dataset",
        args.dataset,
        "--profile",
        args.profile,
    ]

    def gate(a: Candidate, b: Candidate) -> GateStep:
        return run_gate(
            a.label, b.label, pythons[a.label], pythons[b.label], [*cells, *gate_options], out
        )

    try:
        record = bisect(args.package, candidates, builds, gate)
        failed = None
    except GateFailed as stop:
        record, failed = stop.record, str(stop)  # the gates before it are kept
    path = write_json_atomic(out / "bisect.json", record.to_dict())
    for step in record.steps:
        verdict = {True: "regression", False: "no regression", None: "undecided"}[step.regressed]
        console.print(f"  {escape(step.a)} -> {escape(step.b)}: {verdict}", soft_wrap=True)
    if failed:
        print_error(f"kbench: error: {failed} (record in {path})")
        return 2
    console.print(f"[bold]{escape(record.conclusion)}[/]", soft_wrap=True)
    console.print(f"bisection written to [bold]{escape(str(path))}[/]", soft_wrap=True)
    return 1 if record.first_bad else 0


def run_gate(
    a_label: str, b_label: str, python_a: Path, python_b: Path, options: list[str], out: Path
) -> GateStep:
    """``kbench ab`` between two environments; its comparison file says whether it flagged."""
    target = out / f"gate-{a_label}-{b_label}.json"
    command = [
        sys.executable,
        "-m",
        "harness",
        "ab",
        "--python-a",
        str(python_a),
        "--python-b",
        str(python_b),
        *options,
        "--out",
        str(target),
    ]
    console.print(f"gate {escape(a_label)} -> {escape(b_label)}", soft_wrap=True)
    done = subprocess.run(command)
    if done.returncode not in (0, 1) or not target.exists():
        return GateStep(a_label, b_label, None, None, f"kbench ab exited {done.returncode}")
    try:
        comparison = read_comparison(target)
    except HarnessError as error:
        return GateStep(a_label, b_label, None, str(target), str(error))
    regressed = bool((comparison.get("summary") or {}).get("regressed"))
    return GateStep(a_label, b_label, regressed, str(target))

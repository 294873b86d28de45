"""``kbench ab``: the regression gate, two environments measured interleaved in one job."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from rich.markup import escape

from harness.cli.compare import finish_comparison
from harness.cli.console import console, print_error
from harness.cli.executor import executor_from_args
from harness.cli.options import (
    add_rule_options,
    add_run_options,
    positive_float,
    positive_int,
    rule_from_args,
)
from harness.cli.progress import worker_progress
from harness.cli.resume import SAME_HOST, resumed_plan, typed
from harness.errors import UsageError
from harness.executors.live import LiveExecutor
from harness.executors.local import LocalExecutor
from harness.gate.ab import run_ab
from harness.gate.compare import Rule
from harness.gate.record import Gate, stopped_gate
from harness.gate.self_test import (
    injected_factor,
    self_test_cells,
    self_test_pythons,
    summary_lines,
)
from harness.gate.sequential import SPENDING, Design, could_reject
from harness.gate.sides import parse_python
from harness.records.files import exclusive, read_comparison
from harness.run.driver import default_out, load_data
from harness.run.executor import Executor
from harness.run.interrupt import exit_code
from harness.run.plan import RunPlan, plan_run
from harness.run.settings import RunSettings
from harness.stats import TimingTestName

PAIRINGS = ("live", "processes")


def add_ab_parser(sub: argparse._SubParsersAction) -> None:
    ab = sub.add_parser("ab", help="the regression gate: two environments, interleaved")
    ab.add_argument("--python-a", default=sys.executable, help="side A's interpreter command")
    ab.add_argument("--python-b", default=sys.executable, help="side B's interpreter command")
    add_run_options(ab, repeats_default=5, report=False, shard=False)
    add_rule_options(ab)
    design = Design()
    ab.add_argument(
        "--looks",
        type=positive_int,
        default=design.looks,
        help="most looks: each later one adds up to R processes per side to the unsure cells",
    )
    ab.add_argument(
        "--spending",
        choices=SPENDING,
        default=design.spending,
        help="how alpha is spent over the looks",
    )
    ab.add_argument(
        "--budget-minutes",
        type=positive_float,
        default=design.budget_s / 60,
        help="later looks shrink to end within this many minutes (the first runs whole)",
    )
    ab.add_argument(
        "--pairing",
        choices=PAIRINGS,
        help="live (default here): process k of A and of B alive at once as a process pair, timing "
        "in turns, paired test; processes (default with --executor ray): one process at a time, "
        "A B, B A, unpaired test",
    )
    ab.add_argument("--no-confirm", action="store_true", help="one look only (--looks 1)")
    ab.add_argument(
        "--self-test",
        type=_factor,
        metavar="FACTOR",
        help="what the gate catches here: side B (this interpreter, or --python-a) does busy "
        "work of FACTOR - 1 of each training step (e.g. 1.10), side A none; caught = regression",
    )
    ab.add_argument(
        "--resume",
        type=Path,
        metavar="AB.json",
        help="finish a stopped gate: its missing processes run, interleaved as before",
    )
    ab.set_defaults(handler=cmd_ab)


def cmd_ab(args: argparse.Namespace) -> int:
    if args.resume:
        return _resume(args)
    rule = _rule(args)
    pythons = _pythons(args)
    plan = plan_run(RunSettings.from_args(args))
    out = args.out or default_out(plan.settings.profile, prefix="ab-")
    with exclusive(out), executor_from_args(args) as executor:
        if executor.gpu_present is not None:
            plan = plan_run(plan.settings, executor.gpu_present)  # the cluster's devices
        return _gate(plan, Gate(pythons, rule, _design(args)), out, executor)


def _factor(text: str) -> float:
    value = positive_float(text)
    if not 1.0 <= value < 10.0:
        raise argparse.ArgumentTypeError(f"expected a factor in [1, 10) (e.g. 1.10), got {text}")
    return value


def _pythons(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    """Each side's interpreter command; for a self-test, one interpreter on both sides."""
    base = parse_python(args.python_a, "--python-a")
    if args.self_test is None:
        return {"A": base, "B": parse_python(args.python_b, "--python-b")}
    if typed(args.argv, "--python-b"):
        raise UsageError("--self-test runs one interpreter on both sides: give --python-a only")
    return self_test_pythons(base, args.self_test)


def _rule(args: argparse.Namespace) -> Rule:
    """The decision rule; its test the paired one under live pairing (the default here;
    a Ray cluster's workers run one at a time, wherever the cluster puts them)."""
    pairing = args.pairing or ("processes" if args.executor == "ray" else "live")
    if pairing == "live" and args.executor == "ray":
        raise UsageError(
            "--pairing live runs both sides' workers on this machine; with --executor ray "
            "use --pairing processes"
        )
    rule = rule_from_args(args)
    return replace(rule, test=TimingTestName.PAIRED) if pairing == "live" else rule


def _design(args: argparse.Namespace) -> Design:
    looks = 1 if args.no_confirm else args.looks
    return Design(looks, args.spending, args.budget_minutes * 60.0)


def _resume(args: argparse.Namespace) -> int:
    gate = stopped_gate(read_comparison(args.resume), args.resume)
    assert gate.progress is not None
    for side in ("A", "B"):
        _check_python(args, side, gate.pythons[side])
    plan = resumed_plan(args, gate.progress.runs[0], SAME_HOST)
    with exclusive(args.out or args.resume) as out, executor_from_args(args) as executor:
        return _gate(plan, gate, out, executor)


def _check_python(args: argparse.Namespace, side: str, recorded: tuple[str, ...]) -> None:
    """The recorded interpreter still runs the harness, and a typed one agrees with it."""
    option = f"--python-{side.lower()}"
    if (
        typed(args.argv, option)
        and parse_python(getattr(args, f"python_{side.lower()}"), option) != recorded
    ):
        raise UsageError(f"{option} disagrees with the gate being resumed ({args.resume})")
    parse_python(shlex.join(recorded), option)


def _gate(plan: RunPlan, gate: Gate, out: Path, executor: Executor) -> int:
    pythons, design = gate.pythons, gate.design
    executor = _live(executor) if gate.live else executor
    data = load_data(plan)
    repeats = plan.settings.repeats
    console.print(f"dataset: {escape(data.summary())}")
    budget = f"{design.budget_s / 60:g} min" if design.budget_s is not None else "no"
    looks = (
        f"up to {design.looks} looks ({design.spending} alpha spending)"
        if design.looks > 1
        else "one look"
    )
    unit = "live process pairs" if gate.live else "processes per side"
    console.print(
        f"A: {escape(' '.join(pythons['A']))}\nB: {escape(' '.join(pythons['B']))}\n"
        f"{len(plan.cells)} cells x {repeats} {unit}, order A B, B A, ...; "
        f"{looks}, {budget} budget"
    )
    _note_first_look(plan, gate)
    with worker_progress(2 * len(plan.cells) * repeats) as observe:
        result = run_ab(plan, data, gate, observe, executor)
    if result.budget_stop:
        console.print(f"[yellow]budget[/]: stopped before {result.budget_stop}")
    for look in result.looks:
        if look.past_budget:
            console.print(
                f"[yellow]budget[/]: look {look.number} ran {look.processes_per_side} "
                f"{'pairs' if gate.live else 'processes per side'}, past the budget: fewer "
                "could not reach its Holm bound, and the gate could flag nothing"
            )
    code = finish_comparison(result.comparison, out, result.to_dict())
    factor = injected_factor(pythons["B"])
    if factor is not None:
        cells = self_test_cells(result.comparison, result.run_a, result.run_b)
        for line in summary_lines(factor, cells):
            console.print(escape(line))
        code = 0 if code == 1 else code  # a caught slowdown is the self-test working
    if result.interrupted:
        print_error(
            f"kbench: interrupted by {result.interrupted}: the comparison covers the processes "
            f"that finished; resume with: kbench ab --resume {out}"
        )
        return exit_code(result.interrupted)
    return code


def _live(executor: Executor) -> Executor:
    """The executor of a gate of live process pairs: both sides' workers on this machine."""
    if not isinstance(executor, LocalExecutor):
        raise UsageError(
            "a gate of live process pairs resumes on this machine only (--executor local)"
        )
    return LiveExecutor()


def _note_first_look(plan: RunPlan, gate: Gate) -> None:
    """Say so when R per side cannot reach significance at the first look."""
    repeats, timed = plan.settings.repeats, len(plan.cells) - len(plan.skips)
    look_alpha, looks = gate.design.levels(gate.rule.alpha)[0], gate.design.looks
    if not could_reject(repeats, timed, look_alpha, gate.rule.timing_test):
        later = "later looks" if looks > 1 else "nothing: use more --repeats"
        console.print(
            f"[yellow]note[/]: {repeats} {'pairs' if gate.live else 'processes per side'} cannot "
            f"reach p < "
            f"{look_alpha:.2g} after Holm over {timed} cells at the first look; a slowdown "
            f"above the threshold is decided by {later}"
        )

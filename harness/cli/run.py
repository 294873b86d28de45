"""``kbench run`` (the benchmark matrix, or ``--resume`` one) and ``kbench show``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.markup import escape

from harness.cli.console import console, error_console
from harness.cli.executor import executor_from_args
from harness.cli.options import add_run_options
from harness.cli.progress import worker_progress
from harness.cli.report import announce_report
from harness.cli.resume import resumed_plan
from harness.plugin import unmet_requirement
from harness.records.files import exclusive, read_run, write_json_or_fallback
from harness.records.schema import RunResult, Status
from harness.report.console import (
    native_table,
    problems_table,
    results_table,
    statistics_table,
)
from harness.report.markdown import STEP_SUMMARY_ENV
from harness.run.driver import default_out, execute, load_data
from harness.run.interrupt import deferred, exit_code
from harness.run.plan import RunPlan, plan_run
from harness.run.settings import RunSettings

BUSY_SHARE = 0.10  # others' share of all cores while a cell was timed that earns a note


def add_run_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the benchmark matrix")
    add_run_options(run)
    run.add_argument(
        "--resume",
        type=Path,
        metavar="RESULTS.json",
        help="finish a stopped run: only its missing or failed cells run, with its settings",
    )
    run.set_defaults(handler=cmd_run)


def add_show_parser(sub: argparse._SubParsersAction) -> None:
    show = sub.add_parser("show", help="print the table of a results file")
    show.add_argument("results", type=Path, metavar="RESULTS.json")
    show.set_defaults(handler=cmd_show)


def cmd_run(args: argparse.Namespace) -> int:
    previous = read_run(args.resume) if args.resume else None
    if previous is not None:
        plan = resumed_plan(args, previous)
    else:
        plan = plan_run(RunSettings.from_args(args))
    out = args.out or args.resume or default_out(plan.settings.profile)
    with exclusive(out), executor_from_args(args) as executor:
        if previous is None and executor.gpu_present is not None:
            plan = plan_run(plan.settings, executor.gpu_present)  # the cluster's devices
        data = load_data(plan)
        _announce(plan, data.summary(), previous)
        with worker_progress(len(plan.cells) * plan.settings.repeats) as observe:
            run = execute(plan, data, executor, observe, previous=previous, checkpoint=out)
        with deferred():  # a signal now must not cut the results file short
            path, why = write_json_or_fallback(out, run.to_dict())
    print_run(run)
    if why is not None:
        error_console.print(
            f"kbench: could not write {escape(str(out))} ({escape(why)}); "
            f"results written to [bold]{escape(str(path))}[/] instead",
            soft_wrap=True,
        )
        return 2
    console.print(f"results written to [bold]{escape(str(path))}[/]")
    if run.interrupted:
        return _stopped(run, path)
    if args.report:
        from harness.report.document import write_report  # matplotlib only when asked for

        announce_report(write_report(path), bool(os.environ.get(STEP_SUMMARY_ENV)))
    return 0 if run.all_ok or _only_optional_missing(run, plan) else 1


def _only_optional_missing(run: RunResult, plan: RunPlan) -> bool:
    """Whether every cell that is not ok or skipped belongs to an optional plugin whose
    required module is missing here (``requires``: shown unavailable, declared like a skip)."""
    missing = {name for name, needs in plan.requires.items() if unmet_requirement(needs)}
    return all(
        c.ok
        or c.status is Status.SKIPPED
        or (c.status is Status.UNAVAILABLE and c.plugin in missing)
        for c in run.cells
    )


def _announce(plan, data_summary: str, previous: RunResult | None) -> None:
    settings = plan.settings
    console.print(f"dataset: {escape(data_summary)}")
    sweep = f", batch sizes {', '.join(map(str, settings.sweep))}" if settings.sweep else ""
    console.print(
        f"{len(plan.cells)} cells x {settings.repeats} processes, profile {settings.profile}, "
        f"jit_compile={settings.jit_compile}, dtype={settings.dtype_policy}{sweep}"
        + (", resuming a stopped run" if previous is not None else "")
    )


def _stopped(run: RunResult, path: Path) -> int:
    """One line on what a signal left, and how to finish the run; exit 128 + signal."""
    finished = sum(c.status is not Status.INTERRUPTED for c in run.cells)
    error_console.print(
        f"kbench: interrupted by {run.interrupted}: {finished} of {len(run.cells)} cells "
        f"finished; resume with: kbench run --resume {escape(str(path))}",
        soft_wrap=True,
    )
    return exit_code(run.interrupted)


def cmd_show(args: argparse.Namespace) -> int:
    run = read_run(args.results)
    dataset = run.config.get("dataset", {})
    console.print(
        f"run of {escape(run.created)} on {escape(str(run.environment.get('cpu')))}, "
        f"dataset {escape(str(dataset.get('used')))}, "
        f"profile {escape(str(run.config.get('profile')))}"
    )
    print_run(run)
    return 0 if run.all_ok else 1


def print_run(run: RunResult) -> None:
    """The results table, the statistics across processes, what failed (with the command
    that reruns it), and busy-machine notes."""
    console.print(results_table(run))
    natives = native_table(run)
    if natives is not None:
        console.print(natives)
    if any(c.step_time_ms and c.step_time_ms.n_processes > 1 for c in run.cells):
        console.print(statistics_table(run))
    problems = problems_table(run)
    if problems is not None:
        console.print(problems)
    for cell in run.cells:
        if cell.repro:
            console.print(f"rerun {escape(cell.cell.key)}: {escape(cell.repro)}", soft_wrap=True)
    for note in busy_machine_notes(run):
        console.print(f"[yellow]note[/]: {note}", soft_wrap=True)
    for line in where_cells_ran(run):
        console.print(line, soft_wrap=True)


def where_cells_ran(run: RunResult) -> list[str]:
    """A line per machine, when the cells ran on more than one (a merged file or a Ray run)."""
    places: dict[str, list[str]] = {}
    for cell in run.cells:
        if cell.machine:
            node = cell.machine.get("ray_node")
            place = str(cell.machine.get("hostname")) + (f" (Ray node {node[:8]})" if node else "")
            places.setdefault(place, []).append(cell.cell.key)
    if len(places) < 2:
        return []
    return [f"ran on {escape(p)}: {escape(', '.join(keys))}" for p, keys in places.items()]


def busy_machine_notes(run: RunResult, share: float = BUSY_SHARE) -> list[str]:
    """A line per cell during whose timing other processes kept more than ``share`` of the
    machine's cores busy (from each worker's contention counters)."""
    notes = []
    for cell in run.cells:
        step = cell.step_time_ms
        shares = [
            p.contention.others_share
            for p in (step.processes if step else [])
            if p.contention is not None and p.contention.others_share is not None
        ]
        if shares and max(shares) > share:
            notes.append(
                f"other processes kept up to {max(shares):.0%} of the CPUs busy while "
                f"{escape(cell.cell.key)} was timed; its step time may be slower than this "
                "machine can do"
            )
    return notes

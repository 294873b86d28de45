"""``kbench run`` (the benchmark matrix) and ``kbench show`` (a results file's tables)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.markup import escape

from harness.cli.console import console
from harness.cli.options import add_run_options
from harness.cli.progress import worker_progress
from harness.cli.report import announce_report
from harness.records.files import read_run
from harness.records.schema import RunResult
from harness.report.console import problems_table, results_table, statistics_table
from harness.report.markdown import STEP_SUMMARY_ENV
from harness.run.driver import execute, load_data, save
from harness.run.plan import plan_run
from harness.run.settings import RunSettings

BUSY_SHARE = 0.10  # others' share of all cores while a cell was timed that earns a note


def add_run_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the benchmark matrix")
    add_run_options(run)
    run.set_defaults(handler=cmd_run)


def add_show_parser(sub: argparse._SubParsersAction) -> None:
    show = sub.add_parser("show", help="print the table of a results file")
    show.add_argument("results", type=Path, metavar="RESULTS.json")
    show.set_defaults(handler=cmd_show)


def cmd_run(args: argparse.Namespace) -> int:
    plan = plan_run(RunSettings.from_args(args))
    settings = plan.settings
    data = load_data(plan)
    console.print(f"dataset: {escape(data.summary())}")
    console.print(
        f"{len(plan.cells)} cells x {settings.repeats} processes, profile {settings.profile}, "
        f"jit_compile={settings.jit_compile}, dtype={settings.dtype_policy}"
    )
    with worker_progress(len(plan.cells) * settings.repeats) as observe:
        run = execute(plan, data, observe)
    path = save(run, args.out)
    print_run(run)
    console.print(f"results written to [bold]{escape(str(path))}[/]")
    if args.report:
        from harness.report.document import write_report  # matplotlib only when asked for

        announce_report(write_report(path), bool(os.environ.get(STEP_SUMMARY_ENV)))
    return 0 if run.all_ok else 1


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
    """The results table, the statistics across processes, what failed, and busy-machine notes."""
    console.print(results_table(run))
    if any(c.step_time_ms and c.step_time_ms.n_processes > 1 for c in run.cells):
        console.print(statistics_table(run))
    problems = problems_table(run)
    if problems is not None:
        console.print(problems)
    for note in busy_machine_notes(run):
        console.print(f"[yellow]note[/]: {note}", soft_wrap=True)


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

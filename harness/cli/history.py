"""``kbench history PATHS``: many runs read together, change points found and tested."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from harness.cli.console import console, error_console
from harness.cli.options import probability
from harness.errors import UsageError
from harness.history.series import ORDER_BY_TIME, read_history
from harness.history.steps import SLOWER, StepRule, find_steps
from harness.report.console import render
from harness.report.markdown import append_step_summary


def add_history_parser(sub: argparse._SubParsersAction) -> None:
    history = sub.add_parser(
        "history",
        help="read many results files as series; find and test where step times changed",
    )
    history.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="results files or folders of them"
    )
    history.add_argument(
        "--order-by",
        default=ORDER_BY_TIME,
        metavar="KEY",
        help="created (default), git_commit (this checkout's order), or a package whose "
        "recorded version orders the runs (e.g. keras)",
    )
    history.add_argument(
        "--alpha",
        type=probability,
        default=StepRule.alpha,
        help="family-wise error over every candidate (Holm)",
    )
    history.add_argument(
        "--threshold",
        type=float,
        default=StepRule.threshold,
        help="smallest change reported as a step (0.05: 5%%)",
    )
    history.add_argument(
        "--out",
        type=Path,
        metavar="FOLDER",
        help="write dashboard.html, summary.md and the charts here",
    )
    history.add_argument(
        "--markdown",
        action="store_true",
        help="append the Markdown summary to $GITHUB_STEP_SUMMARY when set",
    )
    history.add_argument(
        "--fail-on-slower", action="store_true", help="exit 1 when a series stepped to slower"
    )
    history.set_defaults(handler=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    if args.threshold < 0:
        raise UsageError(f"Expected --threshold >= 0. Received: threshold={args.threshold}")
    history = read_history(args.paths, args.order_by)
    for line in history.skipped:
        error_console.print(escape(line), soft_wrap=True, highlight=False)
    rule = StepRule(args.alpha, args.threshold)
    steps = find_steps(history, rule)
    from harness.history.dashboard import headline, markdown_summary, write_dashboard
    from harness.history.tables import series_table, steps_table

    console.print(render(series_table(history, steps)))
    if steps:
        console.print(render(steps_table(steps, rule)))
    console.print(headline(steps))
    if args.out is not None:
        dashboard = write_dashboard(history, steps, rule, args.out)
        console.print(
            f"dashboard written to [bold]{escape(str(dashboard.html))}[/]", soft_wrap=True
        )
        text = dashboard.markdown_text
    else:
        text = markdown_summary(history, steps, rule)
    if args.markdown and (summary := append_step_summary(text)) is not None:
        console.print(f"Markdown summary appended to {escape(str(summary))}", soft_wrap=True)
    slower = any(step.verdict == SLOWER for step in steps)
    return 1 if args.fail_on_slower and slower else 0

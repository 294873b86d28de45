"""``kbench report`` (charts, report.html, summary.md) and ``kbench export`` (other formats)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from harness.cli.console import console, error_console
from harness.records.files import read_run, write_json_atomic
from harness.report.export import FORMATS, to_pytest_benchmark
from harness.report.markdown import STEP_SUMMARY_ENV, append_step_summary

if TYPE_CHECKING:
    from harness.report.document import Report


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="write a results file in another tool's format")
    export.add_argument("results", type=Path, metavar="RESULTS.json")
    export.add_argument("--format", default="pytest-benchmark", choices=FORMATS)
    export.add_argument("--out", type=Path, help="default: RESULTS.<format>.json")
    export.set_defaults(handler=cmd_export)


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="charts, report.html and a Markdown summary of a run")
    report.add_argument("results", type=Path, metavar="RESULTS.json")
    report.add_argument(
        "--out", type=Path, metavar="DIR", help="default results/reports/<results file stem>/"
    )
    report.add_argument("--parity", type=Path, metavar="PATH", help="a kbench parity --json file")
    report.add_argument(
        "--comparison", type=Path, metavar="PATH", help="a kbench compare --json / ab --out file"
    )
    report.add_argument(
        "--markdown",
        action="store_true",
        help=f"append the Markdown summary to ${STEP_SUMMARY_ENV} when set, else print it",
    )
    report.set_defaults(handler=cmd_report)


def cmd_export(args: argparse.Namespace) -> int:
    run = read_run(args.results)
    out = args.out or args.results.with_suffix(f".{args.format}.json")
    write_json_atomic(out, to_pytest_benchmark(run))
    console.print(f"{args.format} file written to [bold]{escape(str(out))}[/]")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report.document import write_report  # matplotlib only when asked for

    report = write_report(args.results, args.out, args.parity, args.comparison)
    announce_report(report, args.markdown)
    return 0


def announce_report(report: Report, markdown: bool) -> None:
    """Say where the report is; with ``markdown``, append the summary to the CI job summary
    when ``$GITHUB_STEP_SUMMARY`` is set, else print it on stdout (and the rest on stderr)."""
    summary = append_step_summary(report.markdown_text) if markdown else None
    if markdown and summary is None:
        print(report.markdown_text, end="", flush=True)
    out = error_console if markdown and summary is None else console
    out.print(
        f"report written to [bold]{escape(str(report.html))}[/] "
        f"({len(report.charts)} charts; summary {escape(str(report.markdown))})",
        soft_wrap=True,
    )
    if summary is not None:
        out.print(f"Markdown summary appended to {escape(str(summary))}", soft_wrap=True)

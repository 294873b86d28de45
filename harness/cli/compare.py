"""``kbench baseline save|list`` and ``kbench compare``: trends against a stored baseline."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from harness.cli.console import console, print_error
from harness.cli.options import add_rule_options, rule_from_args
from harness.errors import HarnessError
from harness.gate.compare import Comparison, compare_runs
from harness.records import baselines
from harness.records.files import read_run, write_json_or_fallback
from harness.records.fingerprint import FINGERPRINT_FIELDS
from harness.report.console import baselines_table, comparison_table, sensitivity_line
from harness.run.interrupt import deferred


def add_baseline_parser(sub: argparse._SubParsersAction) -> None:
    baseline = sub.add_parser("baseline", help="save or list regression baselines")
    baseline_sub = baseline.add_subparsers(dest="baseline_command", required=True)
    save = baseline_sub.add_parser("save", help="store a results file as a baseline")
    save.add_argument("results", type=Path, metavar="RESULTS.json")
    save.add_argument("--name", help="default: <profile>-<dataset>-<cpu>")
    save.add_argument("--dir", type=Path, default=baselines.BASELINES_DIR)
    save.add_argument("--force", action="store_true", help="replace a baseline of that name")
    listed = baseline_sub.add_parser("list", help="the saved baselines")
    listed.add_argument("--dir", type=Path, default=baselines.BASELINES_DIR)
    save.set_defaults(handler=cmd_baseline_save)
    listed.set_defaults(handler=cmd_baseline_list)


def add_compare_parser(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser("compare", help="compare a results file with a baseline")
    compare.add_argument("baseline", metavar="BASELINE", help="a saved name or a file")
    compare.add_argument("results", type=Path, metavar="RESULTS.json")
    compare.add_argument("--dir", type=Path, default=baselines.BASELINES_DIR)
    compare.add_argument(
        "--ignore",
        action="append",
        default=[],
        choices=FINGERPRINT_FIELDS,
        help="a fingerprint field allowed to differ (e.g. keras after an upgrade)",
    )
    add_rule_options(compare)
    compare.add_argument("--json", type=Path, metavar="PATH", help="also write the comparison")
    compare.set_defaults(handler=cmd_compare)


def cmd_baseline_save(args: argparse.Namespace) -> int:
    path = baselines.save(args.results, args.name, args.dir, force=args.force)
    console.print(f"baseline saved to [bold]{escape(str(path))}[/]")
    return 0


def cmd_baseline_list(args: argparse.Namespace) -> int:
    found = baselines.list_baselines(args.dir)
    if not found:
        console.print(f"no baselines in {escape(str(args.dir))}")
        return 0
    console.print(baselines_table(found))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    path = baselines.resolve(args.baseline, args.dir)
    old, new = read_run(path), read_run(args.results)
    labels = (path.stem, args.results.stem)
    comparison = compare_runs(old, new, rule_from_args(args), labels, ignore=args.ignore)
    if not comparison.cells:
        raise HarnessError(f"No cells in {path} or {args.results} to compare.")
    if all(c.verdict in ("new", "missing") for c in comparison.cells):
        raise HarnessError(f"{path} and {args.results} have no cell in common.")
    return finish_comparison(comparison, args.json, comparison.to_dict())


def finish_comparison(comparison: Comparison, out: Path | None, record: dict) -> int:
    """Print the verdicts and what they could have caught; write ``record`` to ``out``."""
    console.print(comparison_table(comparison))
    counts = ", ".join(f"{n} {v}" for v, n in comparison.counts().items())
    verdict = "[bold red]REGRESSION[/]" if comparison.regressed else "[green]no regression[/]"
    console.print(f"{verdict}: {counts}")
    sensitivity = sensitivity_line(comparison)
    if sensitivity:
        console.print(sensitivity)
    if out is not None:
        with deferred():  # a signal now must not cut the file short
            path, why = write_json_or_fallback(out, record)
        if why is not None:
            print_error(f"kbench: could not write {out} ({why}); comparison written to {path}")
            return 2
        console.print(f"comparison written to [bold]{escape(str(path))}[/]")
    return 1 if comparison.regressed else 0

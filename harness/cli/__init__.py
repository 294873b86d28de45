"""``kbench``: list plugins and backends, run the benchmark, show a results file.

Exit codes: 0 every cell ok, 1 some cell not ok, 2 a usage error (one line, no traceback).
One module per command (each adds its parser and handles its arguments); shared options in
``options``; every ``HarnessError`` becomes one line on stderr here, and SIGINT / SIGTERM
stop a command cleanly (exit 130 / 143).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.cli import ab, bisect, catalogue, compare, history, merge, parity, report, run
from harness.cli.console import print_error
from harness.cli.options import Parser
from harness.errors import HarnessError
from harness.run.interrupt import Interrupted, interruptible

DESCRIPTION = __doc__.splitlines()[0]


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand, in the order ``kbench --help`` lists them."""
    parser = Parser(prog="kbench", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    catalogue.add_list_parser(sub)
    run.add_run_parser(sub)
    run.add_show_parser(sub)
    parity.add_parity_parser(sub)
    compare.add_baseline_parser(sub)
    compare.add_compare_parser(sub)
    ab.add_ab_parser(sub)
    report.add_export_parser(sub)
    catalogue.add_new_plugin_parser(sub)
    report.add_report_parser(sub)
    merge.add_merge_parser(sub)
    history.add_history_parser(sub)
    bisect.add_bisect_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # what was typed: a resumed run refuses an option that disagrees
    try:
        with interruptible():
            return args.handler(args)
    except HarnessError as error:
        print_error(f"kbench: error: {error}")
        return 2
    except Interrupted as stop:  # stopped where nothing was left to save
        print_error(f"kbench: interrupted by {stop.name}")
        return stop.exit_code


if __name__ == "__main__":
    sys.exit(main())

"""``kbench merge``: the shards of a CI matrix joined into one results file."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from harness.cli.console import console
from harness.cli.run import print_run
from harness.records.files import exclusive, read_run, write_json_atomic
from harness.records.merge import merge_runs
from harness.run.driver import default_out


def add_merge_parser(sub: argparse._SubParsersAction) -> None:
    merge = sub.add_parser("merge", help="join the results files of kbench run --shard K/N")
    merge.add_argument("results", type=Path, nargs="+", metavar="RESULTS.json")
    merge.add_argument(
        "--out", type=Path, help="default: results/runs/merged-<time>-<profile>.json"
    )
    merge.set_defaults(handler=cmd_merge)


def cmd_merge(args: argparse.Namespace) -> int:
    merged = merge_runs([(path, read_run(path)) for path in args.results])
    out = args.out or default_out(merged.config.get("profile") or "run", prefix="merged-")
    with exclusive(out):
        write_json_atomic(out, merged.to_dict())
    print_run(merged)
    console.print(f"{len(args.results)} files merged into [bold]{escape(str(out))}[/]")
    return 0 if merged.all_ok else 1

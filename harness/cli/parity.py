"""``kbench parity``: does every backend build, predict, load and train the same model?"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from harness import datasets, registry, synthetic
from harness.cli.console import console
from harness.cli.options import add_plugin_path, positive_float, positive_int
from harness.parity.checks import Tolerances, run_parity
from harness.records.files import write_json_atomic
from harness.report.console import parity_table
from harness.run.plan import select_backends
from harness.run.settings import parse_selection


def add_parity_parser(sub: argparse._SubParsersAction) -> None:
    parity = sub.add_parser("parity", help="check that every backend builds the same model")
    parity.add_argument("-p", "--plugin", action="append", help="plugin name(s) or all")
    parity.add_argument("-b", "--backend", action="append", help="backends; default all")
    parity.add_argument("--dataset", default="synthetic", choices=datasets.DATASET_NAMES)
    parity.add_argument("--data-dir")
    add_plugin_path(parity)
    parity.add_argument("--steps", type=positive_int, default=5, help="training steps compared")
    parity.add_argument("--forward-tol", type=positive_float, default=Tolerances.forward)
    parity.add_argument("--training-tol", type=positive_float, default=Tolerances.training)
    parity.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    parity.set_defaults(handler=cmd_parity)


def cmd_parity(args: argparse.Namespace) -> int:
    found = registry.discover(args.plugin_path)
    plugins = registry.select(found, parse_selection(args.plugin))
    backends = select_backends(parse_selection(args.backend))
    data = datasets.load_dataset(args.dataset, data_dir=args.data_dir)
    tolerances = Tolerances(forward=args.forward_tol, training=args.training_tol)
    sources = " and ".join(sorted({synthetic.NAME if p.synthetic else data.name for p in plugins}))
    console.print(f"parity of {len(plugins)} plugins across {', '.join(backends)} on {sources}")
    with console.status("running parity workers"):
        report = run_parity(plugins, backends, data, args.plugin_path, tolerances, args.steps)
    console.print(parity_table(report))
    for failure in (r for r in report.results if r.status == "fail"):
        console.print(
            f"[bold red]FAIL[/] {escape(failure.plugin)} {failure.check} {escape(failure.pair)}: "
            f"{escape(failure.detail)}",
            soft_wrap=True,
        )
    if args.json:
        write_json_atomic(args.json, report.to_dict())
        console.print(f"report written to {escape(str(args.json))}")
    return 0 if report.passed else 1

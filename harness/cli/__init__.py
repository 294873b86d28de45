"""``kbench``: list plugins and backends, run the benchmark, show a results file.

Exit codes: 0 every cell ok, 1 some cell not ok, 2 a usage error (one line, no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness import datasets, registry
from harness.backends import parent as devices
from harness.cli.scaffold import write_skeleton
from harness.errors import HarnessError
from harness.gate.ab import AbResult, parse_python, per_look, run_ab
from harness.gate.compare import (
    FINGERPRINT_FIELDS,
    Comparison,
    Rule,
    compare_runs,
    stage_one_possible,
)
from harness.parity.checks import Tolerances, run_parity
from harness.records import baselines
from harness.records.files import read_run, write_json_atomic
from harness.records.schema import CellResult, RunResult
from harness.report.console import (
    baselines_table,
    catalogue_table,
    comparison_table,
    describe_cell,
    parity_table,
    problems_table,
    results_table,
    sensitivity_line,
    statistics_table,
)
from harness.report.export import FORMATS, to_pytest_benchmark
from harness.report.markdown import STEP_SUMMARY_ENV, append_step_summary
from harness.run import driver as bench
from harness.run import plan
from harness.run.describe import describe_in_worker
from harness.run.plan import DTYPE_POLICIES, JIT_CHOICES, MALLOC_CHOICES
from harness.run.profiles import PROFILES

if TYPE_CHECKING:
    from harness.report.document import Report

LOG_WIDTH = 160  # columns of the tables when the output is a log, not a terminal


def _console(stderr: bool = False) -> Console:
    """A rich console. Written to a file or a CI log, rich would lay tables out in 80
    columns and cut their figures to "0.…"; there it is ``LOG_WIDTH`` wide, unless
    ``COLUMNS`` says otherwise."""
    console = Console(stderr=stderr)
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(stderr=stderr, width=LOG_WIDTH)


console = _console()
error_console = _console(stderr=True)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        error_console.print(
            f"{self.prog}: error: {escape(message)}", highlight=False, soft_wrap=True
        )
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    listing = sub.add_parser("list", help="plugins, backends with versions, devices")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--plugin-path", action="append", default=[], metavar="PATH")
    listing.add_argument(
        "--no-params", action="store_true", help="skip building the models to count parameters"
    )
    _add_run_options(sub.add_parser("run", help="run the benchmark matrix"))
    show = sub.add_parser("show", help="print the table of a results file")
    show.add_argument("results", type=Path, metavar="RESULTS.json")
    parity = sub.add_parser("parity", help="check that every backend builds the same model")
    parity.add_argument("-p", "--plugin", action="append", help="plugin name(s) or all")
    parity.add_argument("-b", "--backend", action="append", help="backends; default all")
    parity.add_argument("--dataset", default="synthetic", choices=datasets.DATASET_NAMES)
    parity.add_argument("--data-dir")
    parity.add_argument("--plugin-path", action="append", default=[], metavar="PATH")
    parity.add_argument("--steps", type=_positive_int, default=5, help="training steps compared")
    parity.add_argument("--forward-tol", type=_positive_float, default=Tolerances.forward)
    parity.add_argument("--training-tol", type=_positive_float, default=Tolerances.training)
    parity.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    baseline = sub.add_parser("baseline", help="save or list regression baselines")
    baseline_sub = baseline.add_subparsers(dest="baseline_command", required=True)
    save = baseline_sub.add_parser("save", help="store a results file as a baseline")
    save.add_argument("results", type=Path, metavar="RESULTS.json")
    save.add_argument("--name", help="default: <profile>-<dataset>-<cpu>")
    save.add_argument("--dir", type=Path, default=baselines.BASELINES_DIR)
    listed = baseline_sub.add_parser("list", help="the saved baselines")
    listed.add_argument("--dir", type=Path, default=baselines.BASELINES_DIR)
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
    _add_rule_options(compare)
    compare.add_argument("--json", type=Path, metavar="PATH", help="also write the comparison")
    ab = sub.add_parser("ab", help="the regression gate: two environments, interleaved")
    ab.add_argument("--python-a", default=sys.executable, help="side A's interpreter command")
    ab.add_argument("--python-b", default=sys.executable, help="side B's interpreter command")
    _add_run_options(ab, repeats_default=5, report=False)
    _add_rule_options(ab)
    ab.add_argument("--no-confirm", action="store_true", help="no confirmation batch")
    export = sub.add_parser("export", help="write a results file in another tool's format")
    export.add_argument("results", type=Path, metavar="RESULTS.json")
    export.add_argument("--format", default="pytest-benchmark", choices=FORMATS)
    export.add_argument("--out", type=Path, help="default: RESULTS.<format>.json")
    new = sub.add_parser("new-plugin", help="write a one-file plugin skeleton NAME.py")
    new.add_argument("name")
    new.add_argument("--dir", type=Path, default=Path("."), help="where to write it")
    _add_report_parser(sub)
    return parser


def _add_rule_options(parser: argparse.ArgumentParser) -> None:
    rule = Rule()
    parser.add_argument(
        "--threshold",
        type=_positive_float,
        default=rule.threshold,
        help="smallest slowdown that fails (ratio of medians above 1 + threshold)",
    )
    parser.add_argument("--alpha", type=_probability, default=rule.alpha)
    parser.add_argument(
        "--accuracy-tolerance",
        type=_probability,
        default=rule.accuracy_tolerance,
        help="largest fall in test accuracy that is not flagged",
    )


def _add_report_parser(sub: argparse._SubParsersAction) -> None:
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


def _add_run_options(
    run: argparse.ArgumentParser, repeats_default: int = 1, report: bool = True
) -> None:
    run.add_argument(
        "-p", "--plugin", action="append", help="plugin name(s) or all; default: the course models"
    )
    run.add_argument("-b", "--backend", action="append", help="jax, tensorflow, torch; default all")
    run.add_argument("--device", default="auto", choices=["cpu", "gpu", "auto"])
    run.add_argument("--dataset", default="auto", choices=datasets.DATASET_NAMES)
    run.add_argument(
        "--data-dir", help=f"folder with the Fashion-MNIST CSVs (or ${datasets.FASHION_DIR_ENV})"
    )
    run.add_argument("--profile", default="quick", choices=list(PROFILES))
    run.add_argument("--epochs", type=_positive_int, help="override the profile's epochs")
    run.add_argument("--batch-size", type=_positive_int, help="override the plugins' batch size")
    run.add_argument("--jit-compile", default="auto", choices=JIT_CHOICES)
    run.add_argument(
        "--dtype", default="float32", choices=DTYPE_POLICIES, help="Keras dtype policy"
    )
    run.add_argument("--threads", type=_positive_int, help="intra-op threads for every backend")
    run.add_argument(
        "--malloc",
        default="fixed",
        choices=MALLOC_CHOICES,
        help="glibc malloc thresholds: fixed by the harness (default), or glibc's own dynamic ones",
    )
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--timeout", type=_positive_float, help="per-cell timeout in seconds")
    run.add_argument("--plugin-path", action="append", default=[], metavar="PATH")
    run.add_argument("--out", type=Path, help="results file (default results/runs/<time>.json)")
    run.add_argument(
        "--repeats",
        type=_positive_int,
        default=repeats_default,
        help="worker processes per cell (one process = one sample)",
    )
    if report:
        run.add_argument(
            "--report",
            action=argparse.BooleanOptionalAction,
            default=False,
            help="also write the charts and report.html (results/reports/<results file stem>/)",
        )


def _positive_int(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _probability(text: str) -> float:
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {
            "list": cmd_list,
            "run": cmd_run,
            "show": cmd_show,
            "parity": cmd_parity,
            "new-plugin": cmd_new,
            "baseline": cmd_baseline,
            "compare": cmd_compare,
            "ab": cmd_ab,
            "export": cmd_export,
            "report": cmd_report,
        }
        return commands[args.command](args)
    except HarnessError as error:
        error_console.print(f"kbench: error: {escape(str(error))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        error_console.print("kbench: interrupted")
        return 130


def cmd_list(args: argparse.Namespace) -> int:
    found = registry.discover(args.plugin_path)
    described = {} if args.no_params else describe_in_worker(args.plugin_path)
    counts = described.get("plugins", {})
    info = {
        "plugins": [
            {
                "name": r.plugin.name,
                "family": r.plugin.family,
                "input": r.plugin.input_kind,
                "description": r.plugin.description,
                "origin": r.origin,
                "params": counts.get(r.plugin.name, {}).get("params"),
                "skip": dict(r.plugin.skip),
            }
            for r in found.values()
        ],
        "params_backend": described.get("backend"),
        "backends": {b: devices.backend_version(b) for b in devices.BACKENDS},
        "devices": ["cpu", *[f"gpu: {name}" for name in devices.gpu_names()]],
        "datasets": list(datasets.DATASET_NAMES),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    wide = console.width >= 110  # descriptions need room; --json always has them
    console.print(catalogue_table(info["plugins"], info["params_backend"], descriptions=wide))
    for backend, version in info["backends"].items():
        console.print(f"backend {backend}: {version or '[yellow]not installed[/]'}")
    console.print(f"devices: {', '.join(info['devices'])}")
    return 0


def _request(args: argparse.Namespace) -> bench.RunRequest:
    return bench.RunRequest(
        plugins=plan.parse_selection(args.plugin),
        backends=plan.parse_selection(args.backend),
        device=args.device,
        dataset=args.dataset,
        data_dir=args.data_dir,
        profile=args.profile,
        epochs=args.epochs,
        batch_size=args.batch_size,
        jit_compile=args.jit_compile,
        dtype_policy=args.dtype,
        threads=args.threads,
        malloc=args.malloc,
        seed=args.seed,
        timeout_s=args.timeout,
        plugin_paths=args.plugin_path,
        out=args.out,
        repeats=args.repeats,
    )


def cmd_run(args: argparse.Namespace) -> int:
    request = _request(args)
    prepared = bench.prepare(request)
    data = bench.load_data(prepared)
    console.print(f"dataset: {escape(data.summary())}")
    console.print(
        f"{len(prepared.cells)} cells x {request.repeats} processes, "
        f"profile {prepared.settings.profile}, "
        f"jit_compile={prepared.settings.jit_compile}, dtype={prepared.settings.dtype_policy}"
    )
    run = _run_with_progress(prepared, data)
    path = bench.save(run, request.out)
    _print_run(run)
    console.print(f"results written to [bold]{escape(str(path))}[/]")
    if args.report:
        from harness.report.document import (
            write_report,  # matplotlib only when a report is asked for
        )

        _announce_report(write_report(path), bool(os.environ.get(STEP_SUMMARY_ENV)))
    return 0 if run.all_ok else 1


def _run_with_progress(prepared: bench.PreparedRun, data: datasets.Dataset) -> RunResult:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, refresh_per_second=2) as progress:
        total = len(prepared.cells) * prepared.request.repeats
        task = progress.add_task("starting", total=total)

        def observe(cell, result: CellResult | None) -> None:
            if result is None:
                progress.update(task, description=f"running {escape(cell.key)}")
                return
            progress.console.print(describe_cell(result))
            progress.advance(task)

        return bench.execute(prepared, data, observe)


def _print_run(run: RunResult) -> None:
    console.print(results_table(run))
    if any(c.step_time_ms and c.step_time_ms.n_processes > 1 for c in run.cells):
        console.print(statistics_table(run))
    problems = problems_table(run)
    if problems is not None:
        console.print(problems)


def cmd_show(args: argparse.Namespace) -> int:
    run = read_run(args.results)
    dataset = run.config.get("dataset", {})
    console.print(
        f"run of {escape(run.created)} on {escape(str(run.environment.get('cpu')))}, "
        f"dataset {escape(str(dataset.get('used')))}, "
        f"profile {escape(str(run.config.get('profile')))}"
    )
    _print_run(run)
    return 0 if run.all_ok else 1


def cmd_parity(args: argparse.Namespace) -> int:
    found = registry.discover(args.plugin_path)
    plugins = registry.select(found, plan.parse_selection(args.plugin))
    backends = plan.select_backends(plan.parse_selection(args.backend))
    data = datasets.load_dataset(args.dataset, data_dir=args.data_dir)
    tolerances = Tolerances(forward=args.forward_tol, training=args.training_tol)
    console.print(f"parity of {len(plugins)} plugins across {', '.join(backends)} on {data.name}")
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


def cmd_baseline(args: argparse.Namespace) -> int:
    if args.baseline_command == "save":
        path = baselines.save(args.results, args.name, args.dir)
        console.print(f"baseline saved to [bold]{escape(str(path))}[/]")
        return 0
    found = baselines.list_baselines(args.dir)
    if not found:
        console.print(f"no baselines in {escape(str(args.dir))}")
        return 0
    console.print(baselines_table(found))
    return 0


def _rule(args: argparse.Namespace) -> Rule:
    return Rule(
        alpha=args.alpha, threshold=args.threshold, accuracy_tolerance=args.accuracy_tolerance
    )


def cmd_compare(args: argparse.Namespace) -> int:
    path = baselines.resolve(args.baseline, args.dir)
    old, new = read_run(path), read_run(args.results)
    comparison = compare_runs(
        old,
        new,
        _rule(args),
        labels=(path.stem, args.results.stem),
        ignore=args.ignore,
    )
    if not comparison.cells:
        raise HarnessError(f"No cells in {path} or {args.results} to compare.")
    if all(c.verdict in ("new", "missing") for c in comparison.cells):
        raise HarnessError(f"{path} and {args.results} have no cell in common.")
    return _finish_comparison(comparison, args.json, comparison.to_dict())


def _finish_comparison(comparison: Comparison, out: Path | None, record: dict) -> int:
    console.print(comparison_table(comparison))
    counts = ", ".join(f"{n} {v}" for v, n in comparison.counts().items())
    verdict = "[bold red]REGRESSION[/]" if comparison.regressed else "[green]no regression[/]"
    console.print(f"{verdict}: {counts}")
    sensitivity = sensitivity_line(comparison)
    if sensitivity:
        console.print(sensitivity)
    if out is not None:
        write_json_atomic(out, record)
        console.print(f"comparison written to [bold]{escape(str(out))}[/]")
    return 1 if comparison.regressed else 0


def cmd_ab(args: argparse.Namespace) -> int:
    pythons = {
        "A": parse_python(args.python_a, "--python-a"),
        "B": parse_python(args.python_b, "--python-b"),
    }
    request = _request(args)
    prepared = bench.prepare(request)
    data = bench.load_data(prepared)
    rule = _rule(args)
    timed = len(prepared.cells) - len(prepared.skips)
    console.print(f"dataset: {escape(data.summary())}")
    console.print(
        f"A: {escape(' '.join(pythons['A']))}\nB: {escape(' '.join(pythons['B']))}\n"
        f"{len(prepared.cells)} cells x {request.repeats} processes per side, order A B, B A, ..."
    )
    look_alpha = per_look(rule, not args.no_confirm).alpha
    if not stage_one_possible(request.repeats, timed, look_alpha):
        console.print(
            f"[yellow]note[/]: {request.repeats} processes per side cannot reach p < "
            f"{look_alpha:g} after Holm over {timed} cells; a slowdown above the threshold "
            "is decided by the confirmation batch"
        )
    result = _ab_with_progress(prepared, data, pythons, rule, not args.no_confirm)
    out = args.out or bench.RUNS_DIR / f"ab-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    return _finish_comparison(result.comparison, out, result.to_dict())


def _ab_with_progress(prepared, data, pythons, rule, confirm: bool) -> AbResult:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, refresh_per_second=2) as bar:
        total = 2 * len(prepared.cells) * prepared.request.repeats
        task = bar.add_task("starting", total=total)

        def observe(side: str, cell, result: CellResult | None) -> None:
            if result is None:
                bar.update(task, description=f"{side} {escape(cell.key)}")
                return
            if bar.tasks[0].completed + 1 > bar.tasks[0].total:
                bar.update(task, total=bar.tasks[0].total + 1)
            bar.console.print(f"{side} {describe_cell(result)}")
            bar.advance(task)

        return run_ab(prepared, data, pythons, rule, observe, confirm)


def cmd_export(args: argparse.Namespace) -> int:
    run = read_run(args.results)
    out = args.out or args.results.with_suffix(f".{args.format}.json")
    write_json_atomic(out, to_pytest_benchmark(run))
    console.print(f"{args.format} file written to [bold]{escape(str(out))}[/]")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report.document import write_report  # matplotlib only when a report is asked for

    report = write_report(args.results, args.out, args.parity, args.comparison)
    _announce_report(report, args.markdown)
    return 0


def _announce_report(report: Report, markdown: bool) -> None:
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


def cmd_new(args: argparse.Namespace) -> int:
    path = write_skeleton(args.name, args.dir)
    console.print(f"wrote {escape(str(path))}; try: kbench run --plugin-path {escape(str(path))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

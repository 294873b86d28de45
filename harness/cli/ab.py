"""``kbench ab``: the regression gate, two environments measured interleaved in one job."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from rich.markup import escape

from harness.cli.compare import finish_comparison
from harness.cli.console import console
from harness.cli.options import add_rule_options, add_run_options, rule_from_args
from harness.cli.progress import worker_progress
from harness.gate.ab import parse_python, per_look, run_ab
from harness.gate.compare import stage_one_possible
from harness.run.driver import RUNS_DIR, load_data
from harness.run.plan import RunPlan, plan_run
from harness.run.settings import RunSettings


def add_ab_parser(sub: argparse._SubParsersAction) -> None:
    ab = sub.add_parser("ab", help="the regression gate: two environments, interleaved")
    ab.add_argument("--python-a", default=sys.executable, help="side A's interpreter command")
    ab.add_argument("--python-b", default=sys.executable, help="side B's interpreter command")
    add_run_options(ab, repeats_default=5, report=False)
    add_rule_options(ab)
    ab.add_argument("--no-confirm", action="store_true", help="no confirmation batch")
    ab.set_defaults(handler=cmd_ab)


def cmd_ab(args: argparse.Namespace) -> int:
    pythons = {
        "A": parse_python(args.python_a, "--python-a"),
        "B": parse_python(args.python_b, "--python-b"),
    }
    plan = plan_run(RunSettings.from_args(args))
    data = load_data(plan)
    rule, confirm, repeats = rule_from_args(args), not args.no_confirm, plan.settings.repeats
    console.print(f"dataset: {escape(data.summary())}")
    console.print(
        f"A: {escape(' '.join(pythons['A']))}\nB: {escape(' '.join(pythons['B']))}\n"
        f"{len(plan.cells)} cells x {repeats} processes per side, order A B, B A, ..."
    )
    _note_first_look(plan, per_look(rule, confirm).alpha)
    with worker_progress(2 * len(plan.cells) * repeats) as observe:
        result = run_ab(plan, data, pythons, rule, observe, confirm)
    out = args.out or RUNS_DIR / f"ab-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    return finish_comparison(result.comparison, out, result.to_dict())


def _note_first_look(plan: RunPlan, look_alpha: float) -> None:
    """Say so when R per side cannot reach significance at the first look."""
    repeats, timed = plan.settings.repeats, len(plan.cells) - len(plan.skips)
    if not stage_one_possible(repeats, timed, look_alpha):
        console.print(
            f"[yellow]note[/]: {repeats} processes per side cannot reach p < "
            f"{look_alpha:g} after Holm over {timed} cells; a slowdown above the threshold "
            "is decided by the confirmation batch"
        )

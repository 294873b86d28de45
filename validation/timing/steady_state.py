"""The warm-up rule (``WindowPlan.steady_start``): what it drops, and what it buys.

    python -m validation.timing.steady_state simulate
    python -m validation.timing.steady_state replay RUN.json [RUN.json ...]

``simulate`` feeds the rule series with no warm-up (heavy-tailed noise, Student's t with 3
degrees of freedom, 5% scale) and prints how many pairs it drops beyond the fixed first one
(lost work), and series that start with a warm-up (a transient of 2 to 6 pairs, +150%
halving each pair) and prints how far the median of the kept pairs is from the steady
level with the fixed drop and with the rule.

``replay`` re-scores recorded processes (the raw fit times every results file keeps) with
the fixed drop of one pair and with the rule, and prints per cell the pairs dropped, the
CV of the per-process medians across processes and the median within-process CV under
both, so what the rule changes is read off real data without rerunning anything.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from harness.records import StepTimeStats, read_run
from harness.run import WindowPlan
from harness.stats import coefficient_of_variation

LENGTHS = (8, 13, 20, 30)


def simulate(plan: WindowPlan, series: int = 500, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    lines = []
    for n in LENGTHS:
        flat = [
            plan.steady_start(list(1 + 0.05 * rng.standard_t(3, size=n))) - plan.warmup_windows
            for _ in range(series)
        ]
        bias = {"fixed": [], "rule": []}
        for _ in range(series):
            length = int(rng.integers(2, 7))
            transient = [1 + 1.5 * 0.5**i for i in range(length)]
            values = transient + list(1 + 0.05 * rng.standard_t(3, size=n))
            bias["fixed"].append(statistics.median(values[plan.warmup_windows :]) - 1)
            bias["rule"].append(statistics.median(plan.kept(values)) - 1)
        lines.append(
            f"n={n}: flat series lose {statistics.fmean(flat):.3f} pairs more on average "
            f"({sum(d > 0 for d in flat) / series:.1%} lose any); after a 2-6 pair transient "
            f"(+150% halving each pair) the median is off by "
            f"{statistics.fmean(bias['fixed']):+.1%} with one pair dropped, "
            f"{statistics.fmean(bias['rule']):+.1%} with the rule"
        )
    return lines


def replay(paths: list[Path], plan: WindowPlan) -> list[str]:
    fixed = replace(plan, steady_band=float("inf"))  # drops warmup_windows only
    lines = []
    for path in paths:
        for cell in read_run(path).cells:
            if cell.step_time_ms is None:
                continue
            scored = {name: [] for name in ("fixed", "steady")}
            dropped = []
            for process in cell.step_time_ms.processes:
                for name, rule in (("fixed", fixed), ("steady", plan)):
                    marginal = [
                        b - a for a, b in zip(process.short_fit_s, process.long_fit_s, strict=True)
                    ]
                    warmup = rule.steady_start(marginal)
                    scored[name].append(
                        StepTimeStats.from_fits(
                            process.short_fit_s, process.long_fit_s, process.window_steps, warmup
                        )
                    )
                    if name == "steady":
                        dropped.append(warmup)
            medians = {k: [s.median for s in v] for k, v in scored.items()}
            within = {k: statistics.median(s.cv for s in v) for k, v in scored.items()}
            lines.append(
                f"{cell.cell.key} ({len(dropped)} processes): pairs dropped "
                f"{min(dropped)}-{max(dropped)} (mean {statistics.fmean(dropped):.1f}); CV across "
                f"processes {_cv(medians['fixed']):.1%} -> {_cv(medians['steady']):.1%}; median "
                f"CV within a process {within['fixed']:.1%} -> {within['steady']:.1%}"
            )
    return lines


def _cv(values: list[float]) -> float:
    return coefficient_of_variation(values) if len(values) > 1 else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("simulate")
    rescore = sub.add_parser("replay")
    rescore.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args(argv)
    plan = WindowPlan()
    lines = simulate(plan) if args.step == "simulate" else replay(args.runs, plan)
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``kbench history``'s false steps and power by replay of real runs.

    python -m validation.history.replay RUNS... [--runs 12] [--after 4] [--sims 500]
        [--deltas 0 0.05 0.10 0.20] [--out FILE]

The pool is, per series, the real A/A runs read from ``RUNS`` (files or folders of ``kbench
run`` results on one machine, nothing changed between them). A replayed history draws, per
series, ``--runs`` whole runs with replacement (so a run keeps its processes together, and
with them whatever the host did to that run), in random order, and slows the last
``--after`` of them by ``1 + delta`` (every process sample multiplied). ``kbench history``'s
own steps (``harness.history``) then find and test the change points over all series
together. Reported per delta: the share of histories with any step found (at delta 0: the
false-step rate per history) and the share of series whose step was found at the right
place, with 95% Clopper-Pearson intervals. The latest-run check is counted apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from harness.history import Group, History, Point, Series, StepRule, find_steps, read_history
from harness.records import write_json_atomic

OUT = Path("validation/results/history_replay.json")


def scaled(point: Point, factor: float) -> Point:
    """The point with every process sample (and the median) multiplied by ``factor``."""
    summary = point.cell.step_time_ms
    medians = [m * factor for m in summary.process_medians]
    slowed = replace(summary, process_medians=medians, median=summary.median * factor)
    return replace(point, cell=replace(point.cell, step_time_ms=slowed))


def draw_history(
    pool: History, runs: int, after: int, delta: float, rng: np.random.Generator
) -> History:
    """Each series drawn anew: ``runs`` of its runs with replacement, the last ``after``
    slowed by ``1 + delta``."""
    drawn = []
    for series in pool.series:
        chosen = rng.integers(0, len(series.groups), size=runs)
        groups = []
        for place, index in enumerate(chosen):
            (point,) = series.groups[index].points
            factor = 1 + delta if place >= runs - after else 1.0
            groups.append(Group(f"{place:04d}", (scaled(point, factor),)))
        drawn.append(Series(series.cell, series.machine, series.settings, tuple(groups)))
    return History(pool.order_by, drawn, [], runs)


def replay(pool: History, runs: int, after: int, delta: float, sims: int, seed: int) -> dict:
    """Histories with any step found, series with the planted step found (or any step, at
    delta 0), and latest-run-only findings, over ``sims`` replays."""
    rng = np.random.default_rng(seed)
    any_step = series_hit = latest_only = 0
    per_series: dict[str, int] = {s.cell: 0 for s in pool.series}
    for _ in range(sims):
        history = draw_history(pool, runs, after, delta, rng)
        steps = find_steps(history, StepRule())
        found = [s for s in steps if s.found and not s.latest]
        any_step += bool(found)
        latest_only += any(s.found and s.latest for s in steps)
        for series in history.series:
            mine = [s for s in found if s.series is series]
            hit = any(s.at == runs - after for s in mine) if delta else bool(mine)
            series_hit += hit
            per_series[series.cell] += hit
    total = sims * len(pool.series)
    return {
        "delta": delta,
        "histories_with_a_step": _rate(any_step, sims),
        "series_hit": _rate(series_hit, total),
        "histories_with_a_latest_run_finding": _rate(latest_only, sims),
        "per_series": {cell: _rate(n, sims) for cell, n in per_series.items()},
    }


def _rate(hits: int, trials: int) -> dict:
    interval = scipy_stats.binomtest(hits, trials).proportion_ci(0.95, method="exact")
    return {"rate": hits / trials, "low": interval.low, "high": interval.high, "n": trials}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_paths", nargs="+", type=Path, metavar="RUNS")
    parser.add_argument("--runs", type=int, default=12, help="runs per replayed series")
    parser.add_argument("--after", type=int, default=4, help="slowed runs at the end")
    parser.add_argument("--sims", type=int, default=500)
    parser.add_argument("--deltas", type=float, nargs="+", default=[0.0, 0.05, 0.10, 0.20])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    pool = read_history(args.runs_paths)
    if any(len(g.points) != 1 for s in pool.series for g in s.groups):
        print("each run must be its own group (order by created)", file=sys.stderr)
        return 2
    results = [
        replay(pool, args.runs, args.after, delta, args.sims, args.seed + i)
        for i, delta in enumerate(args.deltas)
    ]
    for row in results:
        steps, hit = row["histories_with_a_step"], row["series_hit"]
        print(
            f"delta {row['delta']:.2f}: histories with a step {steps['rate']:.1%} "
            f"({steps['low']:.1%}-{steps['high']:.1%}); series hit {hit['rate']:.1%} "
            f"({hit['low']:.1%}-{hit['high']:.1%}); latest-run findings "
            f"{row['histories_with_a_latest_run_finding']['rate']:.1%}"
        )
    record = {
        "pool": [str(p) for p in args.runs_paths],
        "series": {s.cell: len(s.groups) for s in pool.series},
        "runs": args.runs,
        "after": args.after,
        "sims": args.sims,
        "results": results,
    }
    write_json_atomic(args.out, record)
    print(json.dumps({"out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

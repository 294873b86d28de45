"""Where a gate process's seconds go, how its variance splits, and how many pairs it should time.

    python -m validation.timing.process_costs RUN.json [--out FILE]

RUN.json is a ``kbench run --repeats R`` or ``kbench ab`` file whose processes recorded
their phases (``phases_s``). Per cell (and per side of a gate):

* the mean seconds of each phase of a process that does not train (the first process of
  each side trains, evaluates and measures the machine's peak, so it is left out);
* the spread: CV across processes of their medians; within a process, the variance of its
  kept pairs' marginal costs; between processes, the variance of the process medians less
  what the within-process noise of a median of n pairs explains (pi/2 x within / n);
* Kalibera and Jones's rule (*Rigorous benchmarking in reasonable time*, ISMM 2013) for the
  pairs per process that minimise the variance of the gate's estimate at a fixed cost:
  ``sqrt(process cost / pair cost x within variance / between variance)``, where the
  process cost is everything but the timed pairs and the pair cost is the timed seconds per
  pair. A between variance of zero (the processes agree as well as their pairs allow) makes
  more pairs per process the only lever, shown as "more".

For a gate file it also tests whether the two sides' spreads differ (Brown-Forsythe's
Levene test on each side's medians divided by that side's median): the way to compare an
interpreter setting such as ``env PYTHONHASHSEED=0`` on side B against the default on A.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from scipy import stats as scipy_stats

from harness.records import PHASES, RunResult, StepTimeStats, read_run, write_json_atomic
from harness.stats import coefficient_of_variation


def runs_of(path: Path) -> dict[str, RunResult]:
    """The run, or both sides' runs of a gate, by label."""
    record = json.loads(path.read_text())
    if "runs" in record:
        return {side.upper(): RunResult.from_dict(record["runs"][side]) for side in ("a", "b")}
    return {"run": read_run(path)}


def cell_figures(processes: list[StepTimeStats]) -> dict:
    """One cell's phases, variance split and Kalibera-Jones pairs per process."""
    medians = [p.median for p in processes]
    later = [p for p in processes[1:] if p.phases_s] or [p for p in processes if p.phases_s]
    phases = {
        name: statistics.fmean(p.phases_s.get(name, 0.0) for p in later) for name in PHASES if later
    }
    within = statistics.fmean(statistics.variance(p.samples) for p in processes)
    kept = statistics.fmean(len(p.samples) for p in processes)
    between_raw = statistics.variance(medians)
    between = max(0.0, between_raw - math.pi / 2 * within / kept)
    pairs_run = statistics.fmean(len(p.short_fit_s) for p in processes)
    figures = {
        "processes": len(processes),
        "median_ms": statistics.median(medians),
        "cv_between_processes": coefficient_of_variation(medians),
        "cv_within_process": math.sqrt(within) / statistics.median(medians),
        "between_share": between / between_raw if between_raw else 0.0,
        "pairs_kept": kept,
        "pairs_run": pairs_run,
        "phases_s": phases,
    }
    if phases:
        pair_s = phases["timed"] / pairs_run
        process_s = phases["wall"] - phases["timed"]
        figures["pair_s"], figures["process_fixed_s"] = pair_s, process_s
        figures["kalibera_jones_pairs"] = (
            math.sqrt(process_s / pair_s * within / between) if between > 0 else None
        )
    return figures


def spread_test(a: list[float], b: list[float]) -> dict:
    """Whether B's processes spread differently from A's (each side divided by its median)."""
    a_n = [v / statistics.median(a) for v in a]
    b_n = [v / statistics.median(b) for v in b]
    result = scipy_stats.levene(a_n, b_n, center="median")
    return {
        "cv_a": coefficient_of_variation(a),
        "cv_b": coefficient_of_variation(b),
        "levene_p": float(result.pvalue),
    }


def report(path: Path) -> dict:
    runs = runs_of(path)
    figures: dict = {}
    for label, run in runs.items():
        for cell in run.cells:
            if cell.step_time_ms is None or cell.step_time_ms.n_processes < 3:
                continue
            figures.setdefault(cell.cell.key, {})[label] = cell_figures(cell.step_time_ms.processes)
    if set(runs) == {"A", "B"}:
        medians = {
            label: {c.cell.key: c.step_time_ms.process_medians for c in run.cells if c.step_time_ms}
            for label, run in runs.items()
        }
        for key in figures:
            if key in medians["A"] and key in medians["B"]:
                figures[key]["spread"] = spread_test(medians["A"][key], medians["B"][key])
    return figures


def print_report(figures: dict) -> None:
    for key, sides in figures.items():
        for label, f in sides.items():
            if label == "spread":
                print(
                    f"{key}: CV A {f['cv_a']:.1%}, B {f['cv_b']:.1%}, "
                    f"Levene (median) p = {f['levene_p']:.2g}"
                )
                continue
            phases = ", ".join(f"{k} {v:.1f}" for k, v in f["phases_s"].items())
            kj = f.get("kalibera_jones_pairs")
            print(
                f"{key} [{label}] n={f['processes']}: {f['median_ms']:.3f} ms, CV between "
                f"{f['cv_between_processes']:.1%}, within {f['cv_within_process']:.1%}, "
                f"between share {f['between_share']:.0%}; pair {f.get('pair_s', 0):.2f} s, "
                f"fixed {f.get('process_fixed_s', 0):.1f} s, K-J pairs "
                f"{'more' if kj is None else f'{kj:.1f}'} (now {f['pairs_kept']:.1f} kept "
                f"of {f['pairs_run']:.1f}); seconds: {phases}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    figures = report(args.run)
    print_report(figures)
    if args.out:
        write_json_atomic(args.out, {"source": str(args.run), "cells": figures})


if __name__ == "__main__":
    main()

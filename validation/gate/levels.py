"""What sets a process's level? Pairing adjacent A and B processes, and CPU contention.

``pairing`` reads the A/A digests; ``contention`` reads a ``kbench run --repeats R`` results
file whose processes recorded their contention counters. Both return the report the summary
JSON keeps (keys ``pairing`` and ``contention``).
"""

from __future__ import annotations

import statistics
from collections import defaultdict

import numpy as np

from harness.gate import Rule
from harness.records import RunResult, StepTimeStats
from harness.stats import coefficient_of_variation, rank_correlation

COUNTERS = ("others_share", "steal_share", "involuntary_per_step", "cpu_per_wall")
MIN_PROCESSES = 4  # the fewest processes a rank correlation is computed on


def pairing(gates: list[dict], rule: Rule) -> dict:
    """Would pairing adjacent A and B processes help? Their correlation and spreads.

    ``kbench ab`` runs repeat i of a cell as A then B (B then A on odd repeats), so
    ``a_samples[i]`` and ``b_samples[i]`` ran back to back. Per cell, over every A/A gate
    (each gate's values divided by its median for the cell): the Pearson correlation of
    the two log levels, the spread of log(B/A) over adjacent pairs against the spread it
    would have unpaired, the mean log(second/first) (an order effect the alternation
    balances), and the smallest p-value an exact one-sided signed-rank test on R pairs
    can reach (2 ** -R), to set against the gate's smallest Holm bound.
    """
    logs = _log_levels(gates)
    report: dict = {"gates": len(gates), "cells": {k: _paired(r) for k, r in logs.items()}}
    report["smallest_holm_bound"] = rule.alpha / len(logs)
    report["signed_rank_floor"] = {str(r): 2.0**-r for r in (5, 10, 20)}
    return report


def _log_levels(gates: list[dict]) -> dict[str, list[tuple[float, float, int]]]:
    """Per cell: (log A, log B, repeat index) of every repeat, each over its gate's median."""
    logs: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for gate in gates:
        for cell in gate["cells"]:
            a, b = cell["a_samples"], cell["b_samples"]
            level = statistics.median(a + b)
            pairs = enumerate(zip(a, b, strict=True))
            logs[cell["key"]] += [(np.log(x / level), np.log(y / level), i) for i, (x, y) in pairs]
    return logs


def _paired(rows: list[tuple[float, float, int]]) -> dict:
    """One cell's pairing figures from its (log A, log B, repeat index) rows."""
    from scipy import stats as scipy_stats

    la, lb, index = (np.array(v) for v in zip(*rows, strict=True))
    diff = lb - la
    second_over_first = np.where(index % 2 == 0, diff, -diff)
    return {
        "pairs": len(rows),
        "correlation": float(scipy_stats.pearsonr(la, lb).statistic),
        "sd_log_ratio_paired": float(np.std(diff, ddof=1)),
        "sd_log_ratio_unpaired": float(np.sqrt(np.var(la, ddof=1) + np.var(lb, ddof=1))),
        "mean_log_second_over_first": float(np.mean(second_over_first)),
        "order_effect_p": float(scipy_stats.wilcoxon(second_over_first).pvalue),
    }


def contention(run: RunResult) -> dict[str, dict]:
    """Do the contention counters explain the level per process? Spearman's rho, per cell.

    Correlates, per cell with at least 4 counted processes, the per-process medians with
    what competed for the CPU while each process timed: the host's busy share by other
    processes, the hypervisor's steal share, involuntary context switches per timed step
    (per step, since a slower process takes fewer steps per second), and the process's
    own CPU seconds per wall second.
    """
    cells = {}
    for cell in run.cells:
        processes = cell.step_time_ms.processes if cell.step_time_ms else []
        counted = [p for p in processes if p.contention is not None]
        if len(counted) >= MIN_PROCESSES:
            cells[cell.cell.key] = _contention_row(counted)
    return cells


def _contention_row(counted: list[StepTimeStats]) -> dict:
    """One cell's CV across processes and, per counter, its median, max and rank correlation."""
    medians = [p.median for p in counted]
    row: dict = {"processes": len(counted), "cv": coefficient_of_variation(medians)}
    for name in COUNTERS:
        series = [counter(p, name) for p in counted]
        if None in series:
            row[name] = None
            continue
        rho, pvalue = rank_correlation(medians, series) or (None, None)
        row[name] = {
            "median": statistics.median(series),
            "max": max(series),
            "rho": rho,
            "p": pvalue,
        }
    return row


def counter(process: StepTimeStats, name: str) -> float | None:
    """One counter of a process's contention record, as ``contention`` compares it."""
    counts = process.contention
    if name == "cpu_per_wall":
        return counts.process_cpu_s / counts.wall_s if counts.wall_s > 0 else None
    if name == "involuntary_per_step":  # every pair in the loop ran N + 2N steps
        steps = 3 * process.window_steps * len(process.short_fit_s)
        return counts.involuntary_switches / steps
    return getattr(counts, name)


def contention_line(key: str, row: dict) -> str:
    """One cell's contention row as the ``contention`` step prints it."""
    shown = ", ".join(
        f"{n} {r['median']:.3g}"
        + (f" (rho {r['rho']:+.2f}, p {r['p']:.2g})" if r["rho"] is not None else "")
        for n, r in row.items()
        if isinstance(r, dict)
    )
    return f"{key:26} CV {row['cv']:.1%}: {shown}"

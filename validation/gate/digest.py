"""Recorded gates: their committed digests, the summary JSON, the A/A summary, rescoring.

A gate's file (``kbench ab --out``) stays under ``results/runs/evidence/`` (gitignored); its
digest, the file without the two sides' raw runs, is committed under
``validation/results/gates/``, so every figure can be re-derived from a clean checkout.
Digests in a subfolder (``malloc-system/``, ``pairs5/``) ran under an earlier timing; their
figures go under ``earlier_timings.<folder name>`` in the summary JSON.
"""

from __future__ import annotations

import json
import os
import statistics
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from harness.gate import Rule, compare_runs, with_detectable_slowdowns
from harness.records import (
    CellComparison,
    RunResult,
    StepTimeStats,
    StepTimeSummary,
    read_comparison,
    write_json_atomic,
)

EVIDENCE = Path("results/runs/evidence")
DIGESTS = Path("validation/results/gates")
SUMMARY = Path("validation/results/gate_evidence.json")
EARLIER = "earlier_timings"  # the summary's section for digests of an earlier timing


def digest(gate: dict) -> dict:
    """A gate's file without ``runs`` (both sides' raw results, most of its size): the
    verdicts, per-process medians, accuracies, rule, sides' environments and ``ab`` block."""
    return {key: value for key, value in gate.items() if key != "runs"}


def write_digest(gate_file: Path) -> Path:
    """Write the committed digest of one recorded gate, named as its file."""
    out = DIGESTS / gate_file.name
    write_json_atomic(out, digest(read_comparison(gate_file)))
    return out


def next_index(prefix: str) -> int:
    """One past the highest number of a recorded gate or digest named ``PREFIX-NNN.json``."""
    names = [p.stem for folder in (EVIDENCE, DIGESTS) for p in folder.glob(f"{prefix}-*.json")]
    numbers = [int(n.rsplit("-", 1)[1]) for n in names if n.rsplit("-", 1)[1].isdigit()]
    return max(numbers, default=-1) + 1


def load_gates(pattern: str, folder: Path | None = None) -> list[dict]:
    """The committed digests (in ``folder``, default ``DIGESTS``) whose names match."""
    return [json.loads(p.read_text()) for p in sorted((folder or DIGESTS).glob(pattern))]


def summary_section(folder: Path | None) -> str | None:
    """Where a step's figures go in the summary JSON: the top level for the current
    digests, ``earlier_timings.<folder name>`` for a subfolder of an earlier timing."""
    if folder is None or folder.resolve() == DIGESTS.resolve():
        return None
    return f"{EARLIER}.{folder.name}"


def update_summary(update: dict, section: str | None = None) -> None:
    """Merge ``update`` into the summary JSON, at the top level or under a dotted section."""
    current = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    target = current
    for part in section.split(".") if section else []:
        target = target.setdefault(part, {})
    target.update(update)
    current["machine"] = {"cpu_count": os.cpu_count()}
    write_json_atomic(SUMMARY, current)
    print(f"written to {SUMMARY}{f' under {section}' if section else ''}")


def aa_summary(gates: list[dict]) -> dict:
    """The A/A figures: gates flagged, verdicts, ratio spread, accuracy gaps, detectability."""
    ratios: dict[str, list[float]] = defaultdict(list)
    accuracy_gaps: dict[str, list[float]] = defaultdict(list)
    verdicts: dict[str, int] = defaultdict(int)
    for cell in (cell for gate in gates for cell in gate["cells"]):
        verdicts[cell["verdict"]] += 1
        if cell["ratio"] is not None:
            ratios[cell["key"]].append(cell["ratio"])
        if cell.get("a_accuracy") is not None and cell.get("b_accuracy") is not None:
            accuracy_gaps[cell["key"]].append(abs(cell["a_accuracy"] - cell["b_accuracy"]))
    return {
        "gates": len(gates),
        "gates_flagging_a_regression": sum(bool(g["summary"]["regressed"]) for g in gates),
        "verdicts": dict(verdicts),
        "ratio_spread": {
            k: {"min": min(v), "median": statistics.median(v), "max": max(v)}
            for k, v in ratios.items()
        },
        "same_code_accuracy_gap_max": {k: max(v) for k, v in accuracy_gaps.items()},
        "repeats": sorted({g["ab"]["repeats"] for g in gates}),
        "confirmation_batches": sum(bool(g["ab"]["confirmation_batch"]) for g in gates),
        "detectable_slowdown_first_look": detectable_spread(gates),
        "load_average_at_start": [g["a"]["environment"]["load_average"] for g in gates],
    }


def detectable_spread(gates: list[dict]) -> dict[str, dict[str, float | None]]:
    """Per cell over the gates: the slowdown each gate's first look (its first R processes
    per side, its own rule, Holm over its tested cells, the confirmation batch) could flag
    in 95% of gates (``stats.detectable_slowdown``), recomputed from the digests so that
    gates recorded before the figure existed count too. None: that gate could flag none."""
    found: dict[str, list[float | None]] = defaultdict(list)
    for gate in gates:
        for cell in with_detectable_slowdowns(_first_look(gate), Rule(**gate["rule"])):
            if cell.p_adjusted is not None:
                found[cell.key].append(cell.detectable_slowdown)
    return {key: _spread(values) for key, values in found.items()}


def _first_look(gate: dict) -> list[CellComparison]:
    """A digest's cells as its first look saw them: each side's first R processes."""
    repeats = gate["ab"]["repeats"]
    return [
        replace(
            CellComparison.from_dict(c),
            a_samples=c["a_samples"][:repeats],
            b_samples=c["b_samples"][:repeats],
        )
        for c in gate["cells"]
    ]


def _spread(values: list[float | None]) -> dict[str, float | None]:
    """Min, median and max of the gates' figures; max None when some gate could flag none."""
    sized = sorted(v for v in values if v is not None)
    return {
        "min": sized[0] if sized else None,
        "median": statistics.median(sized) if sized else None,
        "max": sized[-1] if len(sized) == len(values) else None,
    }


def slowdown_summary(gate: dict) -> dict:
    """One slowdown gate: its repeats, whether it failed, and each cell's verdict."""
    return {
        "repeats": gate["ab"]["repeats"],
        "regressed": gate["summary"]["regressed"],
        "cells": {
            c["key"]: {"ratio": c["ratio"], "p_adjusted": c["p_adjusted"], "verdict": c["verdict"]}
            for c in gate["cells"]
        },
    }


def rescore(gate: dict) -> tuple[Rule, dict[str, CellComparison]]:
    """Re-decide a recorded gate from its raw fit times with the current step estimator.

    The first look uses each side's first R processes; a cell the new first look leaves
    inconclusive is confirmed on all recorded processes only if the gate ran its
    confirmation batch, else it stays inconclusive (marked so).
    """
    repeats, ran_batch = gate["ab"]["repeats"], set(gate["ab"]["confirmation_batch"])
    runs = [_reestimated(RunResult.from_dict(gate["runs"][side])) for side in ("a", "b")]
    rule = Rule(**gate["rule"])  # as recorded: the rule each of the gate's looks applied
    first = compare_runs(*[_first(run, repeats) for run in runs], rule, check_fingerprint=False)
    verdicts = {c.key: c for c in first.cells}
    unsure = [c.key for c in first.cells if c.verdict == "inconclusive"]
    if unsure:
        family = sum(c.p_value is not None for c in first.cells)
        subset = [replace(r, cells=[c for c in r.cells if c.cell.key in unsure]) for r in runs]
        second = compare_runs(*subset, rule, check_fingerprint=False, family_size=family)
        for cell in second.cells:
            verdicts[cell.key] = _confirmed(cell, verdicts[cell.key], cell.key in ran_batch)
    return rule, verdicts


def _confirmed(second: CellComparison, first: CellComparison, ran: bool) -> CellComparison:
    """The confirmation look's verdict where the gate ran its batch, else the first look's."""
    if ran:
        return replace(second, reason=f"{second.reason} (confirmation batch)")
    return replace(first, reason="no confirmation batch was recorded")


def _reestimated(run: RunResult) -> RunResult:
    """The run with every process's step time recomputed from its raw fits."""
    cells = []
    for cell in run.cells:
        if cell.step_time_ms is None:
            cells.append(cell)
            continue
        processes = [
            StepTimeStats.from_fits(p.short_fit_s, p.long_fit_s, p.window_steps, p.warmup_windows)
            for p in cell.step_time_ms.processes
        ]
        cells.append(replace(cell, step_time_ms=StepTimeSummary.from_processes(processes)))
    return replace(run, cells=cells)


def _first(run: RunResult, repeats: int) -> RunResult:
    """The run as the gate's first look saw it: each cell's first ``repeats`` processes."""
    cells = []
    for cell in run.cells:
        step = cell.step_time_ms
        if step is not None:
            step = StepTimeSummary.from_processes(step.processes[:repeats])
        cells.append(replace(cell, step_time_ms=step))
    return replace(run, cells=cells)

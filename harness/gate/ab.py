"""``kbench ab``: the same cells in two environments, interleaved A B B A ..., then the rule.

Both sides run in this one job, so drift of the machine (load, thermal state, other
tenants) hits both alike: the order alternates per repeat (A B, B A, A B, ...). Every
process of a cell after the first of side A reuses A's calibrated window size and count,
so both sides time the same number of steps. Cells the rule calls ``inconclusive`` get
one confirmation batch of the same size; their verdict is then decided on the pooled
samples (Holm over every timed cell of the gate, not only the confirmed ones: the
confirmed cells were chosen by the first look). Each of the two looks tests at alpha / 2.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import datasets
from harness.errors import HarnessError
from harness.gate.compare import Comparison, Rule, compare_runs, replace_cells
from harness.records.schema import Cell, CellResult, RunResult
from harness.run import driver as bench
from harness.run.runner import Process, WorkerJob, merge_processes, run_cell

SIDES = ("A", "B")
SideObserver = Callable[[str, Cell, CellResult | None], None]


@dataclass(frozen=True)
class AbResult:
    """The verdicts, both sides' merged runs, and which cells needed a confirmation."""

    comparison: Comparison
    run_a: RunResult
    run_b: RunResult
    pythons: dict[str, list[str]]
    repeats: int
    confirmed: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.comparison.to_dict(),
            "ab": {
                "python_a": self.pythons["A"],
                "python_b": self.pythons["B"],
                "repeats": self.repeats,
                "order": "A B, B A, ... per repeat",
                "confirmation_batch": self.confirmed,
            },
            "runs": {"a": self.run_a.to_dict(), "b": self.run_b.to_dict()},
        }


def per_look(rule: Rule, confirm: bool) -> Rule:
    """The rule each look applies: with a confirmation batch, two looks at ``alpha / 2``."""
    return replace(rule, alpha=rule.alpha / 2, looks=2) if confirm else rule


def parse_python(text: str, option: str) -> tuple[str, ...]:
    """A side's interpreter command (``/venv/bin/python`` or ``taskset -c 0 python``),
    checked to run the harness worker, or a one-line error."""
    command = tuple(shlex.split(text))
    if not command:
        raise HarnessError(f"{option} is empty. Received: {option}={text!r}")
    try:
        probe = subprocess.run(
            [*command, "-c", "import harness.run.worker"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise HarnessError(
            f"{option} cannot be run ({error}). Received: {option}={text!r}"
        ) from None
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise HarnessError(
            f"{option} cannot import the harness ({last}); install the project in that "
            f"environment (pip install -e .). Received: {option}={text!r}"
        )
    return command


def side_environment(python: Sequence[str]) -> dict[str, Any]:
    """The environment block as seen by a side's own interpreter (its package versions)."""
    out = subprocess.run(
        [*python, "-m", "harness.records.environment"], capture_output=True, text=True, timeout=300
    )
    try:
        return json.loads(out.stdout)
    except ValueError:
        raise HarnessError(f"Could not read the environment of {' '.join(python)}") from None


def run_ab(
    prepared: bench.PreparedRun,
    data: datasets.Dataset,
    pythons: dict[str, tuple[str, ...]],
    rule: Rule,
    observe: SideObserver | None = None,
    confirm: bool = True,
) -> AbResult:
    """Run every cell ``repeats`` times per side, alternating sides; decide; confirm.

    With a confirmation batch there are two looks at the data, so each look tests at
    ``alpha / 2`` (Bonferroni over the looks): the gate's false-alarm rate stays <= alpha.
    """
    repeats = prepared.request.repeats
    rule = per_look(rule, confirm)
    processes: dict[str, dict[str, list[CellResult]]] = {
        side: {cell.key: [] for cell in prepared.cells} for side in SIDES
    }
    environments = {side: side_environment(pythons[side]) for side in SIDES}
    with tempfile.TemporaryDirectory(prefix="kbench-ab-") as tmp:
        data_path = Path(tmp) / f"{data.name}.npz"
        datasets.save_npz(data, data_path)
        jobs = {s: bench.worker_job(prepared, data, data_path, pythons[s]) for s in SIDES}
        _batch(prepared.cells, jobs, processes, range(repeats), observe)
        runs = _runs(prepared, data, processes, environments)
        comparison = compare_runs(*runs, rule, labels=_labels(pythons), check_fingerprint=False)
        confirmed = [c.key for c in comparison.cells if c.verdict == "inconclusive"]
        if confirm and confirmed:
            cells = [c for c in prepared.cells if c.key in confirmed]
            _batch(cells, jobs, processes, range(repeats, 2 * repeats), observe)
            runs = _runs(prepared, data, processes, environments)
            subset = [_only(run, confirmed) for run in runs]
            family = sum(c.p_value is not None for c in comparison.cells)
            second = compare_runs(
                *subset, rule, _labels(pythons), check_fingerprint=False, family_size=family
            )
            first = {c.key: c.detectable_slowdown for c in comparison.cells}
            notes = [  # the gate's sensitivity stays that of its design: R per side, 2 looks
                replace(
                    c,
                    reason=f"{c.reason} (pooled with a confirmation batch)",
                    detectable_slowdown=first[c.key],
                )
                for c in second.cells
            ]
            comparison = replace_cells(comparison, notes)
    return AbResult(
        comparison,
        *runs,
        pythons={s: list(pythons[s]) for s in SIDES},
        repeats=repeats,
        confirmed=confirmed if confirm else [],
    )


def _batch(
    cells: Sequence[Cell],
    jobs: dict[str, WorkerJob],
    processes: dict[str, dict[str, list[CellResult]]],
    repeat_range: range,
    observe: SideObserver | None,
) -> None:
    """One process per side per cell per repeat, sides alternating A B / B A."""
    for repeat in repeat_range:
        for cell in cells:
            for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                done = processes[side][cell.key]
                if done and not done[0].ok:
                    continue
                calibrated = (processes["A"][cell.key] or done or [None])[0]
                process = Process.next(calibrated, repeat, train=not done)
                if observe:
                    observe(side, cell, None)
                result = run_cell(cell, jobs[side], process)
                done.append(result)
                if observe:
                    observe(side, cell, result)


def _runs(
    prepared: bench.PreparedRun,
    data: datasets.Dataset,
    processes: dict[str, dict[str, list[CellResult]]],
    environments: dict[str, dict[str, Any]],
) -> tuple[RunResult, RunResult]:
    merged = {
        side: [merge_processes(processes[side][c.key]) for c in prepared.cells] for side in SIDES
    }
    run_a, run_b = (bench.assemble(prepared, data, merged[s], environments[s]) for s in SIDES)
    return run_a, run_b


def _only(run: RunResult, keys: Sequence[str]) -> RunResult:
    return replace(run, cells=[c for c in run.cells if c.cell.key in keys])


def _labels(pythons: dict[str, tuple[str, ...]]) -> tuple[str, str]:
    return tuple(" ".join(pythons[s]) for s in SIDES)  # type: ignore[return-value]

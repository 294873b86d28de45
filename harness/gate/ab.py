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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness import datasets
from harness.errors import HarnessError
from harness.gate.compare import Comparison, Rule, compare_runs, replace_cells
from harness.records.schema import RunResult
from harness.records.steptime import StepTimeSummary
from harness.run.driver import assemble, dataset_file, resumable, worker_job
from harness.run.plan import RunPlan
from harness.run.runner import (
    Executor,
    LocalExecutor,
    Observer,
    Processes,
    WorkerJob,
    finish_cell,
)

SIDES = ("A", "B")


@dataclass(frozen=True)
class AbResult:
    """The verdicts, both sides' merged runs, and which cells needed a confirmation."""

    comparison: Comparison
    run_a: RunResult
    run_b: RunResult
    pythons: dict[str, list[str]]
    repeats: int
    confirmed: list[str]
    interrupted: str | None = None  # the signal that stopped the gate before it finished

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.comparison.to_dict(),
            "ab": {
                "python_a": self.pythons["A"],
                "python_b": self.pythons["B"],
                "repeats": self.repeats,
                "order": "A B, B A, ... per repeat",
                "confirmation_batch": self.confirmed,
                **({"interrupted": self.interrupted} if self.interrupted else {}),
            },
            "runs": {"a": self.run_a.to_dict(), "b": self.run_b.to_dict()},
        }


def per_look(rule: Rule, confirm: bool) -> Rule:
    """The rule each look applies: with a confirmation batch, two looks at ``alpha / 2``."""
    return replace(rule, alpha=rule.alpha / 2, looks=2) if confirm else rule


def stopped_gate(record: dict[str, Any], path: Any) -> StoppedGate:
    """What a ``kbench ab --out`` file recorded, to resume it: both sides' runs, their
    interpreters and the rule as the user gave it (before the per-look split)."""
    ab, runs = record.get("ab"), record.get("runs")
    if not isinstance(ab, dict) or not isinstance(runs, dict):
        raise HarnessError(f"{path} is a comparison without a gate's runs; only kbench ab resumes")
    try:
        previous = (RunResult.from_dict(runs["a"]), RunResult.from_dict(runs["b"]))
        pythons = {"A": tuple(ab["python_a"]), "B": tuple(ab["python_b"])}
        rule = Rule(**{k: v for k, v in record["rule"].items() if k in Rule.__dataclass_fields__})
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise HarnessError(f"Comparison file {path} is malformed: {error!r}") from None
    confirm = rule.looks == 2
    whole = replace(rule, alpha=rule.alpha * 2, looks=1) if confirm else rule
    return StoppedGate(previous, pythons, whole, confirm)


@dataclass(frozen=True)
class StoppedGate:
    previous: tuple[RunResult, RunResult]
    pythons: dict[str, tuple[str, ...]]
    rule: Rule
    confirm: bool


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
    plan: RunPlan,
    data: datasets.Dataset,
    pythons: dict[str, tuple[str, ...]],
    rule: Rule,
    observe: Observer | None = None,
    confirm: bool = True,
    previous: tuple[RunResult, RunResult] | None = None,
    executor: Executor | None = None,
) -> AbResult:
    """Run every cell ``repeats`` times per side, alternating sides; decide; confirm.

    With a confirmation batch there are two looks at the data, so each look tests at
    ``alpha / 2`` (Bonferroni over the looks): the gate's false-alarm rate stays <= alpha.
    With ``previous`` (both sides' runs of a stopped gate) only the missing processes run,
    in the order the gate would have run them. The ``executor`` runs the workers (default:
    here); a cluster keeps every process of a cell, both sides, on one node.
    """
    rule = per_look(rule, confirm)
    environments = {side: side_environment(pythons[side]) for side in SIDES}
    with dataset_file(data) as data_path:
        jobs = {s: worker_job(plan, data, data_path, pythons[s]) for s in SIDES}
        gate = _Gate(plan, data, jobs, environments, rule, _labels(pythons), observe)
        gate.executor = executor or gate.executor
        if previous is not None:
            pairs = zip(SIDES, previous, strict=True)
            gate.processes = {side: resumable(run) for side, run in pairs}
        comparison = gate.first_look()
        confirmed = [c.key for c in comparison.cells if c.verdict == "inconclusive"]
        if confirm and confirmed and gate.stopped is None:
            comparison = gate.confirm(comparison, confirmed)
    return AbResult(
        comparison,
        *gate.runs(),
        pythons={s: list(pythons[s]) for s in SIDES},
        repeats=plan.settings.repeats,
        confirmed=confirmed if confirm else [],
        interrupted=gate.stopped,
    )


@dataclass
class _Gate:
    """Both sides' processes so far, and the two looks at them."""

    plan: RunPlan
    data: datasets.Dataset
    jobs: dict[str, WorkerJob]
    environments: dict[str, dict[str, Any]]
    rule: Rule
    labels: tuple[str, str]
    observe: Observer | None
    processes: Processes = field(default_factory=lambda: {side: {} for side in SIDES})
    executor: Executor = field(default_factory=LocalExecutor)
    stopped: str | None = None  # the signal that stopped it, if one did

    def first_look(self) -> Comparison:
        """R processes per side of every cell (or those that ran before a signal), decided."""
        repeats = range(self.plan.settings.repeats)
        self.stopped = self.executor.run_until_stopped(
            self.plan.cells, self.jobs, self.processes, repeats, self.observe
        )
        first = [_first_processes(run, len(repeats)) for run in self.runs()]
        return compare_runs(*first, self.rule, self.labels, check_fingerprint=False)

    def confirm(self, comparison: Comparison, confirmed: list[str]) -> Comparison:
        """R more processes per side for the inconclusive cells, decided on the pooled 2R
        (stopped by a signal, the first look's verdicts stand)."""
        repeats = self.plan.settings.repeats
        cells = [c for c in self.plan.cells if c.key in confirmed]
        batch = range(repeats, 2 * repeats)
        self.stopped = self.executor.run_until_stopped(
            cells, self.jobs, self.processes, batch, self.observe
        )
        if self.stopped is not None:
            return comparison
        subset = [_only(run, confirmed) for run in self.runs()]
        family = sum(c.p_value is not None for c in comparison.cells)
        second = compare_runs(
            *subset, self.rule, self.labels, check_fingerprint=False, family_size=family
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
        return replace_cells(comparison, notes)

    def runs(self) -> tuple[RunResult, RunResult]:
        """Each side's processes merged per cell, as a run record."""
        cells = self.plan.cells
        run_a, run_b = (
            assemble(
                self.plan,
                self.data,
                [
                    finish_cell(self.processes[side].get(c.key, []), c, self.jobs[side])
                    for c in cells
                ],
                self.environments[side],
                self.stopped,
                self.executor.describe(),
            )
            for side in SIDES
        )
        return run_a, run_b


def _first_processes(run: RunResult, count: int) -> RunResult:
    """The run as it stood after ``count`` processes per cell (a resumed gate's records may
    already hold its confirmation batch, which the first look must not see)."""
    cells = []
    for cell in run.cells:
        step = cell.step_time_ms
        if step is not None and step.n_processes > count:
            cell = replace(
                cell, step_time_ms=StepTimeSummary.from_processes(step.processes[:count])
            )
        cells.append(cell)
    return replace(run, cells=cells)


def _only(run: RunResult, keys: Sequence[str]) -> RunResult:
    return replace(run, cells=[c for c in run.cells if c.cell.key in keys])


def _labels(pythons: dict[str, tuple[str, ...]]) -> tuple[str, str]:
    return tuple(" ".join(pythons[s]) for s in SIDES)  # type: ignore[return-value]

"""``kbench ab``: the same cells in two environments, interleaved, decided in
group-sequential looks.

Both sides run in this one job, so drift of the machine (load, thermal state, other
tenants) hits both alike: by default each repeat is a live process pair whose workers take
the CPU in turns (``harness.executors.live``, tested as pairs); with ``--pairing processes`` the
processes run one at a time, the order alternating per repeat (A B, B A, A B, ...). Every
process of a cell after the first of side A reuses A's calibrated window size and count,
so both sides time the same number of steps. The first look runs R processes per side of
every cell; each later look adds R more per side to the cells still unsure, while the time
budget affords it, and decides them on all their samples (``harness.gate.sequential``:
each look at its share of alpha, Holm over every timed cell of the gate).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness import datasets
from harness.errors import HarnessError
from harness.executors.local import LocalExecutor
from harness.gate.compare import Comparison, Rule, compare_runs, detectable, replace_cells
from harness.gate.sequential import (
    LookPlan,
    could_reject,
    look_levels,
    mean_process_seconds,
    next_look_size,
    plan_later_look,
    unsure,
)
from harness.gate.sides import side_environment
from harness.records.schema import RunResult
from harness.records.steptime import StepTimeSummary
from harness.run.driver import assemble, dataset_file, resumable, worker_job
from harness.run.executor import Executor, Observer, Processes, WorkerJob
from harness.run.plan import RunPlan
from harness.run.processes import finish_cell

SIDES = ("A", "B")


@dataclass(frozen=True)
class Design:
    """How many looks a gate may take, how alpha is spent over them, and its time budget
    (None: no budget; the first look always runs whole)."""

    looks: int = 3
    spending: str = "obrien-fleming"
    budget_s: float | None = 30 * 60.0

    def levels(self, alpha: float) -> list[float]:
        return look_levels(alpha, self.looks, self.spending)


@dataclass(frozen=True)
class Look:
    """One look the gate took: its level, its processes per side, the cells it decided on."""

    number: int
    level: float
    processes_per_side: int
    cells: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "look": self.number,
            "level": self.level,
            "processes_per_side": self.processes_per_side,
            "cells": self.cells,
        }


@dataclass(frozen=True)
class AbResult:
    """The verdicts, both sides' merged runs, and the looks the gate took."""

    comparison: Comparison
    run_a: RunResult
    run_b: RunResult
    pythons: dict[str, list[str]]
    repeats: int
    design: Design
    looks: list[Look]
    elapsed_s: float
    planned: list[int] = field(default_factory=list)  # processes per side each look set out for
    budget_stop: str | None = None  # why no further look was taken, when the budget said so
    interrupted: str | None = None  # the signal that stopped the gate before it finished

    @property
    def confirmed(self) -> list[str]:
        """The cells that had more than one look."""
        return sorted({key for look in self.looks[1:] for key in look.cells})

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.comparison.to_dict(),
            "ab": {
                "python_a": self.pythons["A"],
                "python_b": self.pythons["B"],
                "repeats": self.repeats,
                "order": "A B, B A, ... per repeat",
                "pairing": "live" if self.comparison.rule.paired else "processes",
                "looks_planned": self.design.looks,
                "spending": self.design.spending,
                "budget_s": self.design.budget_s,
                "elapsed_s": self.elapsed_s,
                "looks": [look.to_dict() for look in self.looks],
                "planned_processes_per_side": self.planned,
                "confirmation_batch": self.confirmed,
                **({"budget_stop": self.budget_stop} if self.budget_stop else {}),
                **({"interrupted": self.interrupted} if self.interrupted else {}),
            },
            "runs": {"a": self.run_a.to_dict(), "b": self.run_b.to_dict()},
        }


def stopped_gate(record: dict[str, Any], path: Any) -> StoppedGate:
    """What a ``kbench ab --out`` file recorded, to resume it: both sides' runs, their
    interpreters, the rule and the gate's design, and the seconds it had run."""
    ab, runs = record.get("ab"), record.get("runs")
    if not isinstance(ab, dict) or not isinstance(runs, dict):
        raise HarnessError(f"{path} is a comparison without a gate's runs; only kbench ab resumes")
    try:
        previous = (RunResult.from_dict(runs["a"]), RunResult.from_dict(runs["b"]))
        pythons = {"A": tuple(ab["python_a"]), "B": tuple(ab["python_b"])}
        rule = Rule(**{k: v for k, v in record["rule"].items() if k in Rule.__dataclass_fields__})
        if "looks_planned" in ab:
            design = Design(ab["looks_planned"], ab["spending"], ab.get("budget_s"))
        else:  # a gate of one confirmation batch: two looks at alpha / 2 each
            looks = rule.looks or 1
            rule = replace(rule, alpha=rule.alpha * looks)
            design = Design(looks, "equal", None)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise HarnessError(f"Comparison file {path} is malformed: {error!r}") from None
    planned = [int(n) for n in ab.get("planned_processes_per_side") or []]
    progress = GateProgress(previous, float(ab.get("elapsed_s") or 0.0), planned)
    return StoppedGate(pythons, rule, design, progress)


@dataclass(frozen=True)
class GateProgress:
    """How far a stopped gate got: both sides' runs, the seconds it had run (they count
    against the budget) and the processes per side each look it had begun set out for."""

    runs: tuple[RunResult, RunResult]
    elapsed_s: float = 0.0
    planned: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class StoppedGate:
    pythons: dict[str, tuple[str, ...]]
    rule: Rule
    design: Design
    progress: GateProgress


def run_ab(
    plan: RunPlan,
    data: datasets.Dataset,
    pythons: dict[str, tuple[str, ...]],
    rule: Rule,
    observe: Observer | None = None,
    design: Design = Design(),
    progress: GateProgress | None = None,
    executor: Executor | None = None,
) -> AbResult:
    """Run every cell ``repeats`` times per side, alternating sides, and decide; then, look
    by look, R more per side for the unsure cells while the budget affords it.

    Each look tests at its share of alpha (``design.levels``), so the gate's false-alarm
    rate stays <= alpha. With ``progress`` (a stopped gate's) only the missing processes
    run, in the order the gate would have run them, its seconds count against the budget
    and the looks it had begun keep their sizes. The ``executor`` runs the workers
    (default: here); a cluster keeps every process of a cell, both sides, on one node.
    """
    whole = replace(rule, looks=design.looks, spending=design.spending)
    started = time.monotonic() - (progress.elapsed_s if progress else 0.0)
    environments = {side: side_environment(pythons[side]) for side in SIDES}
    with dataset_file(data) as data_path:
        jobs = {s: worker_job(plan, data, data_path, pythons[s]) for s in SIDES}
        gate = _Gate(plan, data, jobs, environments, whole, _labels(pythons), observe)
        gate.executor = executor or gate.executor
        if progress is not None:
            pairs = zip(SIDES, progress.runs, strict=True)
            gate.processes = {side: resumable(run) for side, run in pairs}
            gate.planned = list(progress.planned)
        budget_stop = gate.take_looks(design, started)
    return AbResult(
        replace(gate.comparison_with_detectable(), rule=whole),
        *gate.runs(),
        pythons={s: list(pythons[s]) for s in SIDES},
        repeats=plan.settings.repeats,
        design=design,
        looks=gate.looks,
        elapsed_s=time.monotonic() - started,
        planned=gate.planned,
        budget_stop=budget_stop,
        interrupted=gate.stopped,
    )


@dataclass
class _Gate:
    """Both sides' processes so far, and the looks at them."""

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
    looks: list[Look] = field(default_factory=list)
    comparison: Comparison | None = None
    family: int = 0  # the cells the first look timed: every look's Holm family
    planned: list[int] = field(default_factory=list)  # per look: processes per side, in all

    def take_looks(self, design: Design, started: float) -> str | None:
        """Every look the design and the budget allow; why the budget stopped them, if it
        did. A signal stops the gate with the verdicts of the last whole look (the first
        look's, over the processes that ran, when it came during the first)."""
        repeats, done, spent_before = self.plan.settings.repeats, 0, 0.0
        keys = [c.key for c in self.plan.cells]
        alpha, paired = self.rule.alpha, self.rule.paired
        for number in range(1, design.looks + 1):
            fixed = self.planned[number - 1] - done if number <= len(self.planned) else None
            if number == 1:
                first = design.levels(alpha)[0]
                plan = LookPlan(repeats if fixed is None else fixed, first, design.looks == 1)
            else:
                plan = self._later_look(design, number, started, keys, (done, spent_before), fixed)
                if isinstance(plan, str):
                    return plan
            level, size, last = plan.level, plan.size, plan.last
            if number > len(self.planned):
                self.planned.append(done + size)
            cells = [c for c in self.plan.cells if c.key in keys]
            self.stopped = self.executor.run_until_stopped(
                cells, self.jobs, self.processes, range(done, done + size), self.observe
            )
            if self.stopped is not None and number > 1:
                return None
            done += size
            decided = self._decide(keys, done, replace(self.rule, alpha=level))
            self.family = self.family or sum(c.p_value is not None for c in decided.cells)
            if could_reject(done, self.family, level, paired):
                spent_before += level  # else its share is carried to the next look
            self._record(Look(number, level, done, keys), decided)
            keys = [c.key for c in decided.cells if unsure(c, self.rule.threshold, paired)]
            if self.stopped is not None or not keys:
                return None
            if last and number < design.looks:
                return (
                    f"look {number + 1} of {design.looks}: look {number} took the budget and "
                    f"alpha left, as fewer processes could not reach its share of alpha"
                )
        return None

    def _later_look(
        self,
        design: Design,
        number: int,
        started: float,
        keys: list[str],
        so_far: tuple[int, float],
        fixed: int | None,
    ) -> LookPlan | str:
        """Look ``number``'s plan after ``so_far`` (processes per side, alpha the looks
        before could spend), or why the budget affords it nothing."""
        spent = time.monotonic() - started
        remaining = None if design.budget_s is None else design.budget_s - spent
        costs, left, repeats = (
            self.process_seconds(),
            design.looks - number + 1,
            self.plan.settings.repeats,
        )
        shared = next_look_size(costs, keys, repeats, remaining, left)
        if fixed is None and shared == 0:
            return (
                f"look {number} of {design.looks}: not one more process per side of "
                f"the {len(keys)} unsure cells fits in the {design.budget_s / 60:g} min "
                f"budget ({spent / 60:.0f} min spent)"
            )
        whole = next_look_size(costs, keys, repeats * left, remaining, 1)
        return plan_later_look(
            number,
            design.looks,
            design.spending,
            self.rule.alpha,
            so_far[1],
            so_far[0],
            self.family,
            self.rule.paired,
            (shared, whole),
            fixed,
        )

    def _decide(self, keys: list[str], count: int, rule: Rule) -> Comparison:
        """The cells ``keys`` decided on their first ``count`` processes per side (Holm over
        every cell the first look timed)."""
        runs = [_first_processes(_only(run, keys), count) for run in self.runs()]
        one_look = replace(rule, looks=1)
        family = self.family or None
        return compare_runs(
            *runs, one_look, self.labels, check_fingerprint=False, family_size=family
        )

    def comparison_with_detectable(self) -> Comparison:
        """The verdicts, each timed cell's detectable slowdown that of the gate's last look:
        its processes per side, at its level, with the cell's own spread (a cell that
        stopped earlier is carried to that look)."""
        assert self.comparison is not None
        last = self.looks[-1] if self.looks else None
        if last is None:
            return self.comparison
        bound, size = last.level / max(self.family, 1), last.processes_per_side
        cells = [
            replace(c, detectable_slowdown=detectable(c, self.rule, bound, size))
            if c.p_adjusted is not None
            else c
            for c in self.comparison.cells
        ]
        return replace(self.comparison, cells=cells)

    def _record(self, look: Look, decided: Comparison) -> None:
        self.looks.append(look)
        if self.comparison is None:
            self.comparison = decided
            return
        notes = [
            replace(c, reason=f"{c.reason} (look {look.number}: {look.processes_per_side} a side)")
            for c in decided.cells
        ]
        self.comparison = replace_cells(self.comparison, notes)

    def process_seconds(self) -> dict[str, float]:
        """Per cell, the mean wall seconds one worker process adds to the gate (half a
        live pair's, whose two processes run at once)."""
        share = 0.5 if self.rule.paired else 1.0
        seconds = {}
        for cell in self.plan.cells:
            results = [r for side in SIDES for r in self.processes[side].get(cell.key, [])]
            seconds[cell.key] = share * mean_process_seconds(results)
        return seconds

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

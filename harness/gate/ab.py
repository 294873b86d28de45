"""``kbench ab``: the same cells in two environments, interleaved, decided in
group-sequential looks.

Both sides run in this one job, so drift of the machine (load, thermal state, other
tenants) hits both alike: by default each repeat is a live process pair whose workers take
the CPU in turns (``harness.executors.live``, decided by the paired test); with
``--pairing processes`` the processes run one at a time, the order alternating per repeat
(A B, B A, A B, ...). Every process of a cell after the first of side A reuses A's
calibrated window size and count, so both sides time the same number of steps. The first
look runs R processes per side of every cell; each later look adds R more per side to the
cells still unsure, while the time budget affords it, and decides them on all their
samples (``harness.gate.sequential``: each look at its share of alpha, Holm over every
timed cell of the gate). Each look is planned, run, decided and recorded in turn.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness import datasets
from harness.executors.local import LocalExecutor
from harness.gate.compare import Comparison, Rule, compare_runs, detectable, replace_cells
from harness.gate.record import SIDES, AbResult, Gate, Look
from harness.gate.sequential import (
    LaterLook,
    LookPlan,
    Room,
    SoFar,
    could_reject,
    fewest_to_reject,
    futility_level,
    mean_process_seconds,
    next_look_size,
    plan_first_look,
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
from harness.stats import TimingTest


def run_ab(
    plan: RunPlan,
    data: datasets.Dataset,
    gate: Gate,
    observe: Observer | None = None,
    executor: Executor | None = None,
) -> AbResult:
    """Run every cell ``repeats`` times per side, alternating sides, and decide; then, look
    by look, R more per side for the unsure cells while the budget affords it.

    Each look tests at its share of alpha (``gate.design.levels``), so the gate's
    false-alarm rate stays <= alpha. A stopped gate's (``gate.progress``) missing
    processes run, in the order the gate would have run them, its seconds count against
    the budget and the looks it had begun keep their sizes. The ``executor`` runs the
    workers (default: here); a cluster keeps every process of a cell, both sides, on one
    node.
    """
    started = time.monotonic() - (gate.progress.elapsed_s if gate.progress else 0.0)
    environments = {side: side_environment(gate.pythons[side]) for side in SIDES}
    with dataset_file(data) as data_path:
        jobs = {s: worker_job(plan, data, data_path, gate.pythons[s]) for s in SIDES}
        executor = executor or LocalExecutor()
        running = _GateRun(plan, data, jobs, environments, gate, observe, executor, started)
        budget_stop = running.take_looks()
    return running.result(budget_stop)


@dataclass
class _GateRun:
    """A gate under way: both sides' processes so far, and the looks at them."""

    plan: RunPlan
    data: datasets.Dataset
    jobs: dict[str, WorkerJob]
    environments: dict[str, dict[str, Any]]
    gate: Gate
    observe: Observer | None
    executor: Executor
    started: float  # time.monotonic() at the start, less a stopped gate's seconds
    processes: Processes = field(default_factory=lambda: {side: {} for side in SIDES})
    stopped: str | None = None  # the signal that stopped it, if one did
    looks: list[Look] = field(default_factory=list)
    comparison: Comparison | None = None
    family: int = 0  # the cells the first look timed: every look's Holm family
    planned: list[int] = field(default_factory=list)  # per look: processes per side, in all
    most: int | None = None  # processes per side at full information (set at look 2)

    @property
    def rule(self) -> Rule:
        return self.gate.recorded_rule

    @property
    def test(self) -> TimingTest:
        return self.gate.rule.timing_test

    def __post_init__(self) -> None:
        """Take up a stopped gate's processes and the sizes of the looks it had begun."""
        if self.gate.progress is not None:
            runs = zip(SIDES, self.gate.progress.runs, strict=True)
            self.processes = {side: resumable(run) for side, run in runs}
            self.planned = list(self.gate.progress.planned)
            self.most = self.gate.progress.most

    def take_looks(self) -> str | None:
        """Every look the design and the budget allow; why the budget stopped them, if it
        did. A signal stops the gate with the verdicts of the last whole look (the first
        look's, over the processes that ran, when it came during the first)."""
        keys, so_far, most = [c.key for c in self.plan.cells], SoFar(), self.gate.design.looks
        for number in range(1, most + 1):
            plan = self._plan(number, keys, so_far)
            if plan.stop is not None:
                return plan.stop
            self._run(keys, range(so_far.processes, so_far.processes + plan.size))
            if self.stopped is not None and number > 1:
                return None
            look = Look(number, plan.level, so_far.processes + plan.size, keys)
            look = replace(look, past_budget=plan.past_budget)
            decided = self._decide(look)
            so_far = self._record(look, decided, so_far)
            futility = futility_level(self.gate.design.looks)
            keys = [
                c.key for c in decided.cells if unsure(c, self.rule.threshold, self.test, futility)
            ]
            if self.stopped is not None or not keys:
                return None
            if plan.last and number < most:
                return (
                    f"look {number + 1} of {most}: look {number} took the budget and "
                    f"alpha left, as fewer processes could not reach its share of alpha"
                )
        return None

    def _plan(self, number: int, keys: list[str], so_far: SoFar) -> LookPlan:
        """Look ``number``'s plan; a new look's size joins ``planned`` (a resumed gate's
        looks keep theirs)."""
        done = so_far.processes
        fixed = self.planned[number - 1] - done if number <= len(self.planned) else None
        if number == 1:
            size = self.plan.settings.repeats if fixed is None else fixed
            plan = plan_first_look(self.gate.design, self.rule.alpha, size)
        else:
            plan = self._later_look(number, keys, so_far, fixed)
        if plan.stop is None and number > len(self.planned):
            self.planned.append(done + plan.size)
        return plan

    def _later_look(
        self, number: int, keys: list[str], so_far: SoFar, fixed: int | None
    ) -> LookPlan:
        """Look ``number``'s plan after ``so_far``, or why the budget affords it nothing."""
        design = self.gate.design
        spent = time.monotonic() - self.started
        remaining = None if design.budget_s is None else design.budget_s - spent
        costs, left = self.process_seconds(), design.looks - number + 1
        repeats = self.plan.settings.repeats
        shared = next_look_size(costs, keys, repeats, remaining, left)
        fewest = fewest_to_reject(self.family, self.rule.alpha - so_far.spent, self.test) or 0
        if fixed is None and shared == 0 and (so_far.spent > 0 or so_far.processes >= fewest):
            return LookPlan.not_taken(
                f"look {number} of {design.looks}: not one more process per side of "
                f"the {len(keys)} unsure cells fits in the {design.budget_s / 60:g} min "
                f"budget ({spent / 60:.0f} min spent)"
            )
        whole = next_look_size(costs, keys, repeats * left, remaining, 1)
        room = Room(shared, whole)
        look = LaterLook(number, so_far, self.family, room, fixed, self.most, fewest)
        self.most = look.full
        return plan_later_look(design, self.rule.alpha, self.test, look)

    def _run(self, keys: list[str], repeats: range) -> None:
        """Run the ``repeats`` of the cells ``keys`` (both sides); note a signal's stop."""
        cells = [c for c in self.plan.cells if c.key in keys]
        self.stopped = self.executor.run_until_stopped(
            cells, self.jobs, self.processes, repeats, self.observe
        )

    def _decide(self, look: Look) -> Comparison:
        """The look's cells decided at its level on their first processes (Holm over
        every cell the first look timed, tested or not)."""
        runs = [
            _first_processes(_only(run, look.cells), look.processes_per_side) for run in self.runs()
        ]
        self.family = self.family or _timed_cells(*runs)
        rule = replace(self.rule, alpha=look.level, looks=1)
        return compare_runs(
            *runs, rule, self.gate.labels, check_fingerprint=False, family_size=self.family
        )

    def _record(self, look: Look, decided: Comparison, so_far: SoFar) -> SoFar:
        """Keep the look and its verdicts; what the looks so far have run and spent (a
        look that could not reject spends nothing: its share goes to the next look)."""
        done, level = look.processes_per_side, look.level
        can_reject = could_reject(done, self.family, level, self.test)
        self.looks.append(replace(look, can_reject=can_reject))
        if self.comparison is None:
            self.comparison = decided
        else:
            note = f"(look {look.number}: {done} a side)"
            notes = [replace(c, reason=f"{c.reason} {note}") for c in decided.cells]
            self.comparison = replace_cells(self.comparison, notes)
        if not can_reject:
            return SoFar(done, so_far.spent)
        return SoFar(done, so_far.spent + level)

    def result(self, budget_stop: str | None) -> AbResult:
        """The gate's verdicts, both sides' runs and its looks."""
        return AbResult(
            replace(self.comparison_with_detectable(), rule=self.rule),
            *self.runs(),
            pythons={s: list(self.gate.pythons[s]) for s in SIDES},
            repeats=self.plan.settings.repeats,
            design=self.gate.design,
            looks=self.looks,
            elapsed_s=time.monotonic() - self.started,
            planned=self.planned,
            most=self.most,
            budget_stop=budget_stop,
            interrupted=self.stopped,
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

    def process_seconds(self) -> dict[str, float]:
        """Per cell, the mean wall seconds one worker process adds to the gate (half a
        live process pair's, whose two processes run at once)."""
        share = 0.5 if self.gate.live else 1.0
        seconds = {}
        for cell in self.plan.cells:
            results = [r for side in SIDES for r in self.processes[side].get(cell.key, [])]
            seconds[cell.key] = share * mean_process_seconds(results)
        return seconds

    def runs(self) -> tuple[RunResult, RunResult]:
        """Each side's processes merged per cell, as a run record."""
        run_a, run_b = (
            assemble(
                self.plan,
                self.data,
                [
                    finish_cell(self.processes[side].get(c.key, []), c, self.jobs[side])
                    for c in self.plan.cells
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


def _timed_cells(a: RunResult, b: RunResult) -> int:
    """The cells with step times on both sides: the gate's Holm family, whether or not a
    look could test them yet (one process pair cannot be)."""
    timed = [{c.cell.key for c in run.cells if c.ok and c.step_time_ms} for run in (a, b)]
    return len(timed[0] & timed[1])


def _only(run: RunResult, keys: Sequence[str]) -> RunResult:
    return replace(run, cells=[c for c in run.cells if c.cell.key in keys])

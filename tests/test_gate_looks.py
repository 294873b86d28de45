"""The gate's looks over scripted process pairs: where the budget stops them, decided by
the same code as a real gate (``run_ab``) with an executor whose step times are given."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from harness.gate.ab import run_ab
from harness.gate.compare import Rule
from harness.gate.record import SIDES, AbResult, Gate
from harness.gate.sequential import Design, fewest_to_reject, futility_level, unsure
from harness.records.schema import Cell, CellResult
from harness.run.driver import load_data
from harness.run.executor import Observer, Processes, WorkerJob
from harness.run.plan import plan_run
from harness.run.settings import RunSettings
from harness.stats import SignedRank, TimingTestName

A_MS = 10.0
PROCESS_WALL_S = 60.0  # what each scripted process says it took: past any tiny budget


@dataclass
class ScriptedExecutor:
    """Process k of side A times ``A_MS`` per step, of side B ``A_MS x b_over_a[k]`` (each
    record built by the ``timed_cell`` fixture)."""

    b_over_a: Sequence[float]
    timed_cell: Callable[..., CellResult]
    gpu_present = None

    def run_until_stopped(
        self,
        cells: Sequence[Cell],
        jobs: Mapping[str, WorkerJob],
        processes: Processes,
        repeats: range,
        observe: Observer | None = None,
    ) -> str | None:
        for repeat in repeats:
            for cell in cells:
                for side in jobs:
                    ratio = self.b_over_a[repeat] if side == "B" else 1.0
                    done = processes[side].setdefault(cell.key, [])
                    done.append(self.timed_cell([A_MS * ratio], cell=cell, wall_s=PROCESS_WALL_S))
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": "scripted"}


def _gate(
    b_over_a: Sequence[float], timed_cell: Callable[..., CellResult]
) -> tuple[AbResult, Rule]:
    """A one-cell paired gate, R = 2, three looks, a budget no process fits in."""
    settings = RunSettings(
        plugins=("dense_mlp",),
        backends=("jax",),
        device="cpu",
        dataset="synthetic",
        repeats=2,
        profile="smoke",
    )
    plan = plan_run(settings)
    rule = Rule(test=TimingTestName.PAIRED)
    gate = Gate({side: (sys.executable,) for side in SIDES}, rule, Design(looks=3, budget_s=0.6))
    executor = ScriptedExecutor(b_over_a, timed_cell)
    return run_ab(plan, load_data(plan), gate, executor=executor), rule


def test_a_cell_still_unsure_after_the_raised_look_names_the_look_the_budget_stopped(timed_cell):
    fewest = fewest_to_reject(1, 0.01, SignedRank())
    # B slower by 10% in every pair but one, the smallest: one-sided p 2 / 2^n > 0.01
    b_over_a = [1.10] * fewest
    b_over_a[0] = 0.99
    result, rule = _gate(b_over_a, timed_cell)
    first, raised = result.looks
    assert (first.processes_per_side, first.can_reject) == (2, False)
    assert raised.processes_per_side == fewest
    assert raised.past_budget
    assert raised.can_reject
    (cell,) = result.comparison.cells
    assert cell.verdict == "inconclusive"
    assert unsure(cell, rule.threshold, rule.timing_test, futility_level(3))
    assert result.budget_stop is not None
    assert result.budget_stop.startswith("look 3 of 3: look 2 took the budget")


@pytest.mark.parametrize(("b_over_a", "verdict"), [(1.10, "regression"), (1.0, "same")])
def test_a_cell_decided_at_the_raised_look_leaves_no_budget_stop(b_over_a, verdict, timed_cell):
    fewest = fewest_to_reject(1, 0.01, SignedRank())
    result, rule = _gate([b_over_a] * fewest, timed_cell)
    assert len(result.looks) == 2
    (cell,) = result.comparison.cells
    assert cell.verdict == verdict
    assert not unsure(cell, rule.threshold, rule.timing_test, futility_level(3))
    assert result.budget_stop is None

"""``kbench ab --self-test 1.10``: what the gate catches on this machine, today.

Both sides run this interpreter (or ``--python-a``) with the same code path; side B's
workers do busy CPU work after every training batch of their timed fits, sized in each
process as a share of its own step time (``harness.worker.injected``), and side A's do none.
The gate then runs as always; a cell is *caught* when its verdict is ``regression``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness.gate.compare import Comparison
from harness.records.schema import RunResult

ENV = "KBENCH_SELF_TEST_SLOWDOWN"  # read by the workers (harness.worker.injected)


def self_test_pythons(base: Sequence[str], factor: float) -> dict[str, tuple[str, ...]]:
    """Side A's and side B's commands: ``base`` with no injected work, and with
    ``factor - 1`` of each step's time added as work (``env`` sets the variable)."""
    return {
        "A": ("env", f"{ENV}=0", *base),
        "B": ("env", f"{ENV}={factor - 1.0:g}", *base),
    }


def injected_factor(python_b: Sequence[str]) -> float | None:
    """The factor a gate's side-B command injects (None: not a self-test)."""
    for part in python_b:
        if part.startswith(f"{ENV}="):
            return 1.0 + float(part.split("=", 1)[1])
    return None


@dataclass(frozen=True)
class SelfTestCell:
    """One cell of a self-test: caught or not, what the gate measured, and what the workers
    of side B were given: ``given``, busy work over their own step time (median over
    processes: the factor, by how the work is sized), and ``given_of_a``, the same work over
    A's step, as the function ``given_of_a`` measures it."""

    key: str
    caught: bool
    verdict: str
    ratio: float | None
    given: float | None
    given_of_a: float | None = None


def given_of_a(run_a: RunResult, run_b: RunResult) -> dict[str, float]:
    """Per cell: the work side B's workers were given per step as a share of side A's step,
    the median over process pairs (process k of each side) of B's ``busy_ms`` over A's
    median step. Each B worker sizes its work from its own step; this is what the factor
    promises, measured against the side it is compared with."""
    a_cells = {cell.cell.key: cell for cell in run_a.cells if cell.step_time_ms}
    shares = {}
    for b_cell in run_b.cells:
        a_cell = a_cells.get(b_cell.cell.key)
        if a_cell is None or b_cell.step_time_ms is None:
            continue
        pairs = zip(a_cell.step_time_ms.processes, b_cell.step_time_ms.processes, strict=False)
        ratios = [
            b.injected["busy_ms"] / a.median
            for a, b in pairs  # a stopped gate's last pair may be one-sided
            if b.injected and b.injected.get("busy_ms") is not None and a.median > 0
        ]
        if ratios:
            shares[b_cell.cell.key] = statistics.median(ratios)
    return shares


def self_test_cells(
    comparison: Comparison, run_a: RunResult, run_b: RunResult
) -> list[SelfTestCell]:
    """Per timed cell: caught (verdict ``regression``) or not, and the work given."""
    own = {
        cell.cell.key: cell.step_time_ms.injected_share if cell.step_time_ms else None
        for cell in run_b.cells
    }
    of_a = given_of_a(run_a, run_b)
    return [
        SelfTestCell(
            c.key, c.verdict == "regression", c.verdict, c.ratio, own.get(c.key), of_a.get(c.key)
        )
        for c in comparison.cells
        if c.ratio is not None
    ]


MORE_PAIRS = (
    "to catch more: more process pairs per look (--repeats; each look adds at most that "
    "many) and a larger --budget-minutes raise the power; docs/gate.md#evidence"
)


def summary_lines(factor: float, cells: Sequence[SelfTestCell]) -> list[str]:
    """What to print: one line per cell, the count caught, and how to catch more after a
    miss."""
    lines = []
    for cell in cells:
        mark = "caught" if cell.caught else "not caught"
        given = _given(cell)
        seen = f"measured x{cell.ratio:.3f}" if cell.ratio is not None else "not timed"
        lines.append(f"{cell.key}: {mark} ({cell.verdict}; {seen}{given})")
    caught = sum(c.caught for c in cells)
    lines.append(f"self-test x{factor:g}: {caught} of {len(cells)} cells caught")
    if caught < len(cells):
        lines.append(MORE_PAIRS)
    return lines


def _given(cell: SelfTestCell) -> str:
    if cell.given_of_a is not None:
        own = f" ({cell.given:+.1%} of B's own)" if cell.given is not None else ""
        return f", work given {cell.given_of_a:+.1%} of A's step{own}"
    return f", work given {cell.given:+.1%} of its own step" if cell.given is not None else ""

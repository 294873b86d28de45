"""Slices of a plan for a CI matrix: ``kbench run --shard K/N`` runs the K-th of N.

Every machine computes the same slices from the same plan: cells sorted by expected cost
(heaviest first, then by key) go one by one to the slice with the least cost so far (the
longest-processing-time rule), so the N jobs cover the matrix exactly once and finish at
about the same time. A cell keeps all its repeat processes in one slice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.errors import UsageError
from harness.plugin import ModelPlugin
from harness.records.schema import Cell

# Relative cost of a cell by the model's input: in `nox -s bench` from a clean clone
# (2026-12-05, quick profile, 2 cores) the dense cells took 22-26 s, the CNN cells 29-46 s.
INPUT_COST = {"flat": 1.0, "image": 1.7}


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (1-based) of ``count`` slices."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise UsageError(f"--shard takes K/N with 1 <= K <= N. Received: shard={text!r}")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, cells: Sequence[Cell], costs: Mapping[str, float]) -> list[Cell]:
        """This slice's cells, in the plan's order."""
        mine = {c.key for c in slices(cells, costs, self.count)[self.index - 1]}
        return [c for c in cells if c.key in mine]


def slices(cells: Sequence[Cell], costs: Mapping[str, float], count: int) -> list[list[Cell]]:
    """``count`` slices balanced by cost (a cell's cost: ``costs[cell.key]``)."""
    loads = [0.0] * count
    out: list[list[Cell]] = [[] for _ in range(count)]
    for cell in sorted(cells, key=lambda c: (-costs[c.key], c.key)):
        lightest = min(range(count), key=lambda i: (loads[i], i))
        out[lightest].append(cell)
        loads[lightest] += costs[cell.key]
    return out


def expected_costs(cells: Sequence[Cell], plugins: Mapping[str, ModelPlugin]) -> dict[str, float]:
    """Each cell's relative cost, from its plugin's input kind."""
    return {c.key: INPUT_COST.get(plugins[c.plugin].input_kind, 1.0) for c in cells}

"""Group-sequential looks for ``kbench ab``: how much alpha each look spends, which cells
go on to the next look, and whether the budget affords it (pure).

A gate takes up to ``looks`` looks at its data. The first look has R processes per side of
every cell; each later look adds processes to the cells still *unsure* and decides them on
everything they have so far. A cell stops once it is decided: a regression, a significant
change within the threshold (``slower``, ``faster``), or a slowdown shown to be below the
threshold (:func:`clearly_within`, at :func:`futility_level`). Alpha is spent by a
Lan-DeMets spending function f at each look's *information fraction*: R / (R x looks) at
the first look, then processes per side so far over ``most``, the processes per side the
whole budget affords (fixed when the second look is planned, from the processes' costs).
Look k tests at f(t_k) less what the looks before it spent, Holm across the gate's cells;
the last look at all the alpha left. The levels add up to at most alpha, so by the union
bound (Bonferroni over the looks; conservative, as it ignores their correlation) the
gate's false-alarm rate stays at most alpha. A look whose processes cannot reach its Holm
bound is a *futility-only* look: it spends nothing (:func:`look_level`) and only stops
cells shown within the threshold. A later look takes its share of the budget left
(:func:`next_look_size`); which cells share it depends on the earlier looks' verdicts of
the other cells, so the bound assumes cells whose tests are independent of each other.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

from harness.records.schema import CellComparison, CellResult
from harness.stats import TimingTest

SPENDING = ("obrien-fleming", "pocock", "equal")
FUTILITY_LEVEL = 0.05  # the most a cell exactly at the threshold is stopped as "within" it


def spent(alpha: float, fraction: float, spending: str) -> float:
    """The alpha spent by information fraction ``fraction`` (0..1), one-sided.

    ``obrien-fleming``: 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)), almost nothing early, most of
    alpha left for the last look; ``pocock``: alpha ln(1 + (e - 1) t), more early;
    ``equal``: alpha t (Bonferroni over the looks).
    """
    t = min(max(fraction, 0.0), 1.0)
    if t == 0.0:
        return 0.0
    if spending == "obrien-fleming":
        z = scipy_stats.norm.isf(alpha / 2)
        return float(min(alpha, 2.0 * scipy_stats.norm.sf(z / math.sqrt(t))))
    if spending == "pocock":
        return alpha * math.log(1.0 + (math.e - 1.0) * t)
    if spending == "equal":
        return alpha * t
    raise ValueError(f"Unknown alpha spending. Expected one of: {', '.join(SPENDING)}")


def look_level(alpha: float, looks: int, spending: str, number: int, spent_before: float) -> float:
    """Look ``number``'s level when the looks before it could spend ``spent_before``: the
    alpha spent by its information fraction (all of alpha at the last look), less that.
    A look at which no cell could reach significance (:func:`could_reject`) spends nothing,
    so its share is carried to the next look; the levels of the looks that could reject
    still add up to at most alpha."""
    return level_at(alpha, 1.0 if number >= looks else number / looks, spending, spent_before)


def level_at(alpha: float, fraction: float, spending: str, spent_before: float) -> float:
    """A look's level at information ``fraction`` (1: the last look, all the alpha left)
    when the looks before it could spend ``spent_before``."""
    cumulative = alpha if fraction >= 1.0 else spent(alpha, fraction, spending)
    return max(0.0, cumulative - spent_before)


def could_reject(per_side: int, family: int, level: float, test: TimingTest) -> bool:
    """Whether ``per_side`` samples per side (processes, or process pairs under the paired
    test) can give a one-sided p below ``level``'s Holm bound for the first of ``family``
    cells."""
    return test.smallest_p(per_side) * max(1, family) < level


def fewest_to_reject(family: int, level: float, test: TimingTest, most: int = 1000) -> int | None:
    """The fewest samples per side that can reach ``level``'s Holm bound for the first of
    ``family`` cells (None: not even ``most``)."""
    return next((n for n in range(2, most + 1) if could_reject(n, family, level, test)), None)


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
class SoFar:
    """What the looks before this one did: the processes per side they ran, in all, and the
    alpha they could spend."""

    processes: int = 0
    spent: float = 0.0


@dataclass(frozen=True)
class Room:
    """What the budget affords a later look, in processes per side: when it shares the
    budget left with the looks after it, and when it takes all of it."""

    shared: int
    whole: int


@dataclass(frozen=True)
class LaterLook:
    """What a later look is planned from: its number (> 1), the looks before it, the
    gate's Holm family, the budget's room, a resumed gate's recorded size (``fixed``), and
    the processes per side at full information (``most``; None: what the room affords),
    and the fewest per side at which the last look can reject (``fewest``)."""

    number: int
    so_far: SoFar
    family: int
    room: Room
    fixed: int | None = None
    most: int | None = None
    fewest: int = 0

    @property
    def full(self) -> int:
        """Processes per side at full information: at least one more than so far, and at
        least the fewest at which the last look can reject."""
        most = self.most or self.so_far.processes + self.room.whole
        return max(most, self.so_far.processes + 1, self.fewest)


@dataclass(frozen=True)
class LookPlan:
    """A look: its processes per side (added), its level, whether it is the last; or, with
    ``stop``, why the budget affords it nothing (then it is not taken)."""

    size: int
    level: float
    last: bool
    stop: str | None = None
    past_budget: bool = False  # raised past the budget to the fewest that can reject

    @classmethod
    def not_taken(cls, why: str) -> LookPlan:
        """A look the budget affords nothing: ``why``, for the gate's file."""
        return cls(0, 0.0, True, why)


def plan_first_look(design: Design, alpha: float, size: int) -> LookPlan:
    """The first look: ``size`` processes per side (R, or a resumed gate's recorded size)."""
    return LookPlan(size, design.levels(alpha)[0], design.looks == 1)


def plan_later_look(design: Design, alpha: float, test: TimingTest, look: LaterLook) -> LookPlan:
    """Look ``look.number`` after ``look.so_far``: it adds ``look.room.shared`` processes per
    side (or a resumed gate's ``look.fixed``) and tests at the spending function's value at
    its information fraction, (so far + added) / ``look.full``, less what the looks before it
    spent; the last look (by number, at full information, or when the budget affords no
    more) at all the alpha left. A last look too small to reach its Holm bound would leave
    the gate unable to flag anything: it is raised to ``look.fewest``, past the budget.
    Sizes and levels depend on the budget and the processes' costs, never on the p-values."""
    number, done, spent_before = look.number, look.so_far.processes, look.so_far.spent
    size = look.fixed if look.fixed is not None else look.room.shared
    last = number >= design.looks or done + size >= look.full or size == 0
    raised = last and look.fixed is None and done + size < look.fewest
    size = look.fewest - done if raised else size
    fraction = 1.0 if last else (done + size) / look.full
    level = level_at(alpha, fraction, design.spending, spent_before)
    return LookPlan(size, level, last, past_budget=raised)


def futility_level(looks: int) -> float:
    """The futility test's level at each look that can stop a cell (every look but the
    last): ``FUTILITY_LEVEL`` split over them, so that a cell whose slowdown is exactly the
    threshold is stopped as "within" at some look with probability at most
    ``FUTILITY_LEVEL`` (Bonferroni over the looks)."""
    return FUTILITY_LEVEL / max(looks - 1, 1)


def look_levels(alpha: float, looks: int, spending: str) -> list[float]:
    """Each look's test level: the spending function's increments at k / looks."""
    edges = [spent(alpha, k / looks, spending) for k in range(looks + 1)]
    edges[-1] = alpha  # exact at the end, whatever the rounding
    return [high - low for low, high in itertools.pairwise(edges)]


def clearly_within(
    cell: CellComparison, threshold: float, test: TimingTest, level: float = FUTILITY_LEVEL
) -> bool:
    """Whether B is shown faster than A slowed by the threshold: the rule's own test, one
    sided, that B's times lie below A's x (1 + threshold) (the shifted signed-rank test
    for process pairs, the shifted Mann-Whitney test otherwise), at ``level``."""
    if not cell.a_samples or not cell.b_samples:
        return False
    p = test.p_faster(cell.a_samples, cell.b_samples, shift=threshold)
    return p is not None and p < level


def unsure(
    cell: CellComparison, threshold: float, test: TimingTest, level: float = FUTILITY_LEVEL
) -> bool:
    """Whether the cell needs another look: a slowdown above the threshold that the test
    cannot support yet (``inconclusive``), or a ``same`` that has not excluded one at the
    futility ``level``."""
    if cell.verdict == "inconclusive":
        return True
    return cell.verdict == "same" and not clearly_within(cell, threshold, test, level)


def next_look_cost(per_process_s: Mapping[str, float], keys: Sequence[str], repeats: int) -> float:
    """Seconds a look of ``repeats`` more processes per side of ``keys`` should take."""
    return sum(2 * repeats * per_process_s[key] for key in keys)


def next_look_size(
    per_process_s: Mapping[str, float],
    keys: Sequence[str],
    repeats: int,
    remaining_s: float | None,
    looks_left: int,
) -> int:
    """Processes per side for the next look: ``repeats``, or fewer so that this look and
    the ``looks_left - 1`` after it, as large, fit in ``remaining_s`` (None: no budget).
    0 when not one process per side of every unsure cell fits."""
    if remaining_s is None:
        return repeats
    one = next_look_cost(per_process_s, keys, 1)
    if one <= 0:
        return repeats
    return max(0, min(repeats, int(remaining_s // (one * max(looks_left, 1)))))


def mean_process_seconds(results: Sequence[CellResult]) -> float:
    """One process's mean wall time among ``results`` (each may stand for several)."""
    walls = [
        (p.phases_s or {}).get("wall")
        for r in results
        if r.step_time_ms is not None
        for p in r.step_time_ms.processes
    ]
    known = [w for w in walls if w is not None]
    if known:
        return sum(known) / len(known)
    count = sum(r.step_time_ms.n_processes if r.step_time_ms else 1 for r in results)
    return sum(r.duration_s or 0.0 for r in results) / max(count, 1)

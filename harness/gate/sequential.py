"""Group-sequential looks for ``kbench ab``: how much alpha each look spends, which cells
go on to the next look, and whether the budget affords it (pure).

A gate takes up to ``looks`` looks at its data. The first look has R processes per side of
every cell; each later look adds R more per side to the cells still *unsure* and decides
them on everything they have so far. A cell stops once it is decided: a regression, a
significant change within the threshold (``slower``, ``faster``), or a slowdown shown to be
below the threshold (:func:`clearly_within`). Each look tests at its own level ``alpha_k``
(Holm across the gate's cells), the increments of an alpha-spending function at
information fraction k / looks (Lan and DeMets); the levels add up to alpha, so by the
union bound the gate's false-alarm rate stays at most alpha whichever cells go on and
however many processes each look gets. A look whose processes cannot reach its Holm bound
spends nothing and carries its share to the next look (:func:`look_level`). A later look
adds R processes per side, or fewer so that it and the looks left after it fit in the time
budget (:func:`next_look_size`), or more where fewer could not reach its Holm bound; when
not even the whole budget left could, it is the last look, at all the alpha left
(:func:`plan_later_look`). A look without room for one process per side is not taken and
its alpha is left unspent.
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
FUTILITY_LEVEL = 0.05  # "clearly within the threshold": B below A x (1 + threshold) at this p


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
    cumulative = alpha if number >= looks else spent(alpha, number / looks, spending)
    return max(0.0, cumulative - spent_before)


def could_reject(per_side: int, family: int, level: float, test: TimingTest) -> bool:
    """Whether ``per_side`` samples per side (processes, or process pairs under the paired
    test) can give a one-sided p below ``level``'s Holm bound for the first of ``family``
    cells."""
    return test.smallest_p(per_side) * max(1, family) < level


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
    gate's Holm family, the budget's room, and a resumed gate's recorded size (``fixed``)."""

    number: int
    so_far: SoFar
    family: int
    room: Room
    fixed: int | None = None


@dataclass(frozen=True)
class LookPlan:
    """A look: its processes per side (added), its level, whether it is the last; or, with
    ``stop``, why the budget affords it nothing (then it is not taken)."""

    size: int
    level: float
    last: bool
    stop: str | None = None

    @classmethod
    def not_taken(cls, why: str) -> LookPlan:
        """A look the budget affords nothing: ``why``, for the gate's file."""
        return cls(0, 0.0, True, why)


def plan_first_look(design: Design, alpha: float, size: int) -> LookPlan:
    """The first look: ``size`` processes per side (R, or a resumed gate's recorded size)."""
    return LookPlan(size, design.levels(alpha)[0], design.looks == 1)


def plan_later_look(design: Design, alpha: float, test: TimingTest, look: LaterLook) -> LookPlan:
    """Look ``look.number`` after ``look.so_far``. It adds ``look.room.shared`` processes
    per side (or ``look.fixed``), or more, up to ``look.room.whole``, so that its processes
    can reach its Holm bound. When even all of it cannot, it becomes the last look and
    tests at all the alpha left (what the looks after it would have spent). Sizes and
    levels depend on the budget and the processes' costs, never on the p-values."""
    number, done, spent_before = look.number, look.so_far.processes, look.so_far.spent
    level = look_level(alpha, design.looks, design.spending, number, spent_before)

    def reaches(size: int) -> bool:
        return could_reject(done + size, look.family, level, test)

    size = look.fixed
    if size is None:
        size = look.room.shared
        while size < look.room.whole and not reaches(size):
            size += 1
    if number < design.looks and not reaches(size):
        rest = look_level(alpha, design.looks, design.spending, design.looks, spent_before)
        return LookPlan(size, rest, True)
    return LookPlan(size, level, number >= design.looks)


def look_levels(alpha: float, looks: int, spending: str) -> list[float]:
    """Each look's test level: the spending function's increments at k / looks."""
    edges = [spent(alpha, k / looks, spending) for k in range(looks + 1)]
    edges[-1] = alpha  # exact at the end, whatever the rounding
    return [high - low for low, high in itertools.pairwise(edges)]


def clearly_within(cell: CellComparison, threshold: float, test: TimingTest) -> bool:
    """Whether B is shown faster than A slowed by the threshold: the rule's one-sided test
    that B's times lie below A's x (1 + threshold), at ``FUTILITY_LEVEL``."""
    if not cell.a_samples or not cell.b_samples:
        return False
    p = test.p_faster(cell.a_samples, cell.b_samples, shift=threshold)
    return p is not None and p < FUTILITY_LEVEL


def unsure(cell: CellComparison, threshold: float, test: TimingTest) -> bool:
    """Whether the cell needs another look: a slowdown above the threshold that the test
    cannot support yet (``inconclusive``), or a ``same`` that has not excluded one."""
    if cell.verdict == "inconclusive":
        return True
    return cell.verdict == "same" and not clearly_within(cell, threshold, test)


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

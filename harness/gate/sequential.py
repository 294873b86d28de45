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
however many processes each look gets. A later look adds R processes per side, or fewer so
that it and the looks left after it fit in the time budget (:func:`next_look_size`); a look
without room for one process per side is not taken and its alpha is left unspent.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

from scipy import stats as scipy_stats

from harness import stats
from harness.records.schema import CellComparison, CellResult

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


def look_levels(alpha: float, looks: int, spending: str) -> list[float]:
    """Each look's test level: the spending function's increments at k / looks."""
    edges = [spent(alpha, k / looks, spending) for k in range(looks + 1)]
    edges[-1] = alpha  # exact at the end, whatever the rounding
    return [high - low for low, high in itertools.pairwise(edges)]


def clearly_within(cell: CellComparison, threshold: float) -> bool:
    """Whether B is shown faster than A slowed by the threshold: the one-sided Mann-Whitney
    test that B's times lie below A's x (1 + threshold), at ``FUTILITY_LEVEL``."""
    if not cell.a_samples or not cell.b_samples:
        return False
    scaled = [a * (1.0 + threshold) for a in cell.a_samples]
    p = stats.p_faster(scaled, cell.b_samples)
    return p is not None and p < FUTILITY_LEVEL


def unsure(cell: CellComparison, threshold: float) -> bool:
    """Whether the cell needs another look: a slowdown above the threshold that the test
    cannot support yet (``inconclusive``), or a ``same`` that has not excluded one."""
    if cell.verdict == "inconclusive":
        return True
    return cell.verdict == "same" and not clearly_within(cell, threshold)


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

"""The paired test: one-sided signed-rank test on the log ratios of a gate's process pairs.

With ``kbench ab --pairing live`` process k of side A and process k of side B were alive at
once and took the CPU in turns, so a slow spell of the machine moved both. The unit is the
process pair's log ratio d_k = log(B_k / A_k) of their per-process median step times; what
the two processes shared cancels in it. The test is Wilcoxon's signed-rank test on the d_k,
one-sided and exact (2^n equally likely sign patterns under the null that the d_k are
symmetric about 0, which alternating the sides' order makes true of an A/A process pair).
The effect is the estimate that goes with that test: the Hodges-Lehmann estimate, the median
of the Walsh averages (d_i + d_j) / 2 (i <= j), as a ratio exp(.), with its exact interval,
sorted Walsh averages cut where the signed-rank null puts 2.5% on either side.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from harness.stats.shared import CONFIDENCE, POWER


@dataclass(frozen=True)
class SignedRank:
    """The paired test (:class:`harness.stats.TimingTest`): process k of A and process k
    of B form a process pair."""

    def aligned(self, a: Sequence[float], b: Sequence[float]) -> tuple[list[float], list[float]]:
        """The first min(len) processes of each side: one per process pair."""
        count = min(len(a), len(b))
        return list(a[:count]), list(b[:count])

    def ratio(self, a: Sequence[float], b: Sequence[float]) -> float:
        """exp of the Hodges-Lehmann estimate of the process pairs' log ratios (the median
        of their Walsh averages): above 1 means B is slower."""
        return math.exp(statistics.median(walsh_averages(log_ratios(a, b))))

    def ratio_ci(self, a: Sequence[float], b: Sequence[float]) -> tuple[float, float] | None:
        """The exact 95% interval that goes with the signed-rank test (None: < 2 pairs)."""
        interval = walsh_interval(log_ratios(a, b))
        return None if interval is None else (math.exp(interval[0]), math.exp(interval[1]))

    def p_slower(self, a: Sequence[float], b: Sequence[float], shift: float = 0.0) -> float | None:
        """One-sided exact p for "B_k / A_k above ``1 + shift``" (None: < 2 process pairs)."""
        return _signed_rank(log_ratios(a, b), math.log1p(shift), "greater")

    def p_faster(self, a: Sequence[float], b: Sequence[float], shift: float = 0.0) -> float | None:
        """One-sided exact p for "B_k / A_k below ``1 + shift``" (None: < 2 process pairs)."""
        return _signed_rank(log_ratios(a, b), math.log1p(shift), "less")

    def smallest_p(self, per_side: int) -> float:
        """The smallest one-sided exact p ``per_side`` process pairs can give: 2^-n."""
        return 0.5**per_side

    def detectable_slowdown(
        self,
        a: Sequence[float],
        b: Sequence[float],
        bound: float,
        threshold: float,
        size: int | None = None,
        looks: int = 1,
    ) -> float | None:
        """:func:`detectable_slowdown` with ``size`` process pairs (default: as many as
        here), at one look (``looks`` is not modelled for the paired test)."""
        return detectable_slowdown(a, b, bound, threshold, size)


def log_ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """log(b_k / a_k) of each process pair (the first min(len) processes of each side)."""
    return [math.log(y / x) for x, y in zip(a, b, strict=False) if x > 0 and y > 0]


def walsh_averages(d: Sequence[float]) -> list[float]:
    """(d_i + d_j) / 2 for every i <= j, sorted."""
    values = list(d)
    return sorted((x + y) / 2.0 for i, x in enumerate(values) for y in values[i:])


def walsh_interval(
    d: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """The exact interval for the centre of symmetry of ``d`` (Hodges-Lehmann's, from the
    signed-rank test): the k-th smallest and k-th largest Walsh averages, k - 1 the largest
    W+ whose one-sided null probability P(W+ <= k - 1) is at most (1 - confidence) / 2.
    Its coverage is at least ``confidence``; below 6 values no k does, so it is the range
    of the Walsh averages (coverage 1 - 2^(1 - n)). None below two values."""
    if len(d) < 2:
        return None
    walsh = walsh_averages(d)
    n = len(d)
    null = _null_distribution(tuple(range(2, 2 * n + 1, 2)))  # doubled ranks, no ties
    lower_tail = np.cumsum(null)[::2]  # P(W+ <= w), w = 0, 1, ... in ranks
    within = np.nonzero(lower_tail <= (1.0 - confidence) / 2.0)[0]
    k = int(within[-1]) + 1 if len(within) else 1  # below 6 values: the range
    return walsh[k - 1], walsh[-k]


def _signed_rank(d: Sequence[float], center: float, alternative: str) -> float | None:
    """The exact one-sided p of the signed-rank statistic of ``d - center``."""
    values = np.asarray([v - center for v in d])
    values = values[values != 0]
    if len(values) < 2:
        return None
    doubled = np.rint(2 * scipy_stats.rankdata(np.abs(values))).astype(int)  # mean ranks x 2
    observed = int(doubled[values > 0].sum())
    null = _null_distribution(tuple(doubled))
    if alternative == "greater":
        return float(null[observed:].sum())
    return float(null[: observed + 1].sum())


@functools.lru_cache(maxsize=4096)
def _null_distribution(doubled_ranks: tuple[int, ...]) -> np.ndarray:
    """P(W+ = w) for every w (in doubled rank units) under the null: each rank's sign
    positive with probability 1/2, independently (a count over the 2^n sign patterns)."""
    counts = np.zeros(sum(doubled_ranks) + 1)
    counts[0] = 1.0
    for rank in doubled_ranks:
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return counts / 2.0 ** len(doubled_ranks)


@functools.lru_cache(maxsize=256)
def rank_sum_needed(count: int, bound: float) -> int | None:
    """The smallest W+ (sum of the ranks of positive d_k) whose exact one-sided p is below
    ``bound`` with ``count`` process pairs, or None when even W+ = n(n+1)/2 is not."""
    null = _null_distribution(tuple(range(2, 2 * count + 1, 2)))
    tail = np.cumsum(null[::-1])[::-1]  # P(W+ >= w), w in doubled units
    below = np.nonzero(tail < bound)[0]
    return (int(below[0]) + 1) // 2 if len(below) else None  # W+ in ranks, rounded up


def detectable_slowdown(
    a: Sequence[float],
    b: Sequence[float],
    bound: float,
    threshold: float,
    count: int | None = None,
    power: float = POWER,
    draws: int = 2000,
    seed: int = 0,
) -> float | None:
    """The smallest slowdown the paired test flags, in ``power`` of repetitions of a
    comparison like this one: the process pairs' log ratios, centred on their median, drawn with
    replacement into ``count`` new process pairs (default: as many as here) and shifted by
    log(1 + delta). A draw is flagged when its exact signed-rank p is below ``bound`` and
    its Hodges-Lehmann ratio is above 1 + ``threshold``. W+ counts the Walsh averages
    (d_i + d_j) / 2, i <= j, above zero, so each draw's smallest flagged shift is minus its
    k-th largest Walsh average, k the W+ the bound needs. None: no delta is flagged, or
    fewer than two process pairs.
    """
    d = np.asarray(log_ratios(a, b))
    n = count or len(d)
    needed = rank_sum_needed(n, bound) if n >= 2 else None
    if len(d) < 2 or needed is None:
        return None
    rng = np.random.default_rng(seed)
    drawn = rng.choice(d - statistics.median(walsh_averages(d)), size=(draws, n))
    upper = np.triu_indices(n)
    walsh = (drawn[:, :, None] + drawn[:, None, :])[:, upper[0], upper[1]] / 2.0
    kth_largest = -np.partition(-walsh, needed - 1, axis=1)[:, needed - 1]
    significant = -kth_largest
    large = math.log1p(threshold) - np.median(walsh, axis=1)
    shift = np.maximum(significant, large)
    delta = math.expm1(float(np.quantile(shift, power, method="higher")))
    return max(delta, 0.0)

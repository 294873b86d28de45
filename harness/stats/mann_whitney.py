"""The per-process test: one-sided Mann-Whitney U on the per-process medians of two sides.

Each side's processes are independent samples (``kbench compare``, ``kbench ab --pairing
processes``); the effect is the ratio of the sides' medians, its interval a bootstrap that
resamples each side.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from harness.stats.shared import CONFIDENCE, POWER, RESAMPLES


@dataclass(frozen=True)
class MannWhitney:
    """The per-process test (:class:`harness.stats.TimingTest`): A's and B's processes
    are two independent samples."""

    def aligned(self, a: Sequence[float], b: Sequence[float]) -> tuple[list[float], list[float]]:
        """Every process of each side: the sides need not be the same size."""
        return list(a), list(b)

    def ratio(self, a: Sequence[float], b: Sequence[float]) -> float:
        """median(b) / median(a): above 1 means B is slower."""
        return statistics.median(b) / statistics.median(a)

    def ratio_ci(
        self, a: Sequence[float], b: Sequence[float], seed: int = 0
    ) -> tuple[float, float] | None:
        """95% percentile-bootstrap interval of median(b)/median(a), resampling each side."""
        if len(a) < 2 or len(b) < 2:
            return None
        result = scipy_stats.bootstrap(
            (np.asarray(a, dtype=float), np.asarray(b, dtype=float)),
            _ratio_of_medians,
            confidence_level=CONFIDENCE,
            n_resamples=RESAMPLES,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
        low, high = result.confidence_interval.low, result.confidence_interval.high
        if math.isnan(low) or math.isnan(high):  # a degenerate resample distribution
            point = self.ratio(a, b)
            return point, point
        return float(low), float(high)

    def p_slower(self, a: Sequence[float], b: Sequence[float], shift: float = 0.0) -> float | None:
        """One-sided p for "B's step times are larger than A's x (1 + ``shift``)"."""
        return _mann_whitney(b, [x * (1.0 + shift) for x in a])

    def p_faster(self, a: Sequence[float], b: Sequence[float], shift: float = 0.0) -> float | None:
        """One-sided p for "B's step times are smaller than A's x (1 + ``shift``)"."""
        return _mann_whitney([x * (1.0 + shift) for x in a], b)

    def smallest_p(self, per_side: int) -> float:
        """The smallest one-sided exact p ``per_side`` processes a side can give."""
        return smallest_p(per_side, per_side)

    def detectable_slowdown(
        self,
        a: Sequence[float],
        b: Sequence[float],
        bound: float,
        threshold: float,
        size: int | None = None,
        looks: int = 1,
    ) -> float | None:
        """:func:`detectable_slowdown`, with ``size`` processes a side (default: as here)."""
        sizes = (size, size) if size else None
        return detectable_slowdown(a, b, bound, threshold, looks=looks, sizes=sizes)


def _ratio_of_medians(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(b, axis=axis) / np.median(a, axis=axis)


def _mann_whitney(larger: Sequence[float], smaller: Sequence[float]) -> float | None:
    if len(larger) < 2 or len(smaller) < 2:
        return None
    # Exact null distribution when there are no ties (timings rarely tie), at any size: the
    # normal approximation is anti-conservative far in the tail, where alpha/m lies.
    tied = len(set(larger) | set(smaller)) < len(larger) + len(smaller)
    method = "asymptotic" if tied else "exact"
    result = scipy_stats.mannwhitneyu(larger, smaller, alternative="greater", method=method)
    return float(result.pvalue)


def smallest_p(n_a: int, n_b: int) -> float:
    """The smallest one-sided exact Mann-Whitney p-value n_a and n_b samples can give."""
    return 1.0 / math.comb(n_a + n_b, n_a)


def detectable_slowdown(
    a: Sequence[float],
    b: Sequence[float],
    bound: float,
    threshold: float,
    looks: int = 1,
    power: float = POWER,
    draws: int = 2000,
    seed: int = 0,
    sizes: tuple[int, int] | None = None,
) -> float | None:
    """The smallest slowdown a comparison like this one flags in ``power`` of repetitions.

    Resamples this comparison's own spread: the per-process medians of both sides, each
    divided by its side's median, drawn with replacement into new sides of the same sizes,
    B scaled by (1 + delta). A draw is flagged when the one-sided exact Mann-Whitney p is
    below ``bound`` (alpha per look / the Holm family: the bound for one regressed cell)
    and the ratio of medians is above 1 + ``threshold``. With ``looks=2`` an inconclusive
    draw (ratio above, p not below) gets a confirmation batch of the same size, decided on
    the pooled samples, as ``kbench ab`` does. The test is taken as exact and tie-free, as
    on real timings (resampling repeats values). Each draw's smallest flagged delta has a
    closed form, so the answer is a quantile of those (None: no delta would be flagged,
    or fewer than two processes on a side). ``sizes`` draws sides of other sizes (A, B)
    from the same spread: what R processes per side would detect.
    """
    if len(a) < 2 or len(b) < 2:
        return None
    residuals = np.log(np.concatenate([_centred(a), _centred(b)]))
    rng = np.random.default_rng(seed)

    def draw(n: int) -> np.ndarray:
        return np.exp(rng.choice(residuals, size=(draws, n)))

    n_a, n_b = sizes or (len(a), len(b))
    if n_a < 2 or n_b < 2:
        return None
    a1, b1 = draw(n_a), draw(n_b)
    large = _shift_above_threshold(a1, b1, threshold)  # above it: flagged or inconclusive
    smallest = np.maximum(large, _shift_significant(a1, b1, bound))
    if looks >= 2:
        a2, b2 = np.hstack([a1, draw(n_a)]), np.hstack([b1, draw(n_b)])
        pooled_large = _shift_above_threshold(a2, b2, threshold)
        confirmed = np.maximum(pooled_large, _shift_significant(a2, b2, bound))
        smallest = np.minimum(smallest, np.maximum(large, confirmed))
    delta = float(np.quantile(smallest, power, method="higher"))
    return None if math.isinf(delta) else max(delta, 0.0)


def _centred(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array / np.median(array)


def _shift_above_threshold(a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    """Per draw, the delta above which median(b (1 + delta)) / median(a) > 1 + threshold."""
    return (1.0 + threshold) * np.median(a, axis=1) / np.median(b, axis=1) - 1.0


def _shift_significant(a: np.ndarray, b: np.ndarray, bound: float) -> np.ndarray:
    """Per draw (row), the delta above which the test on B scaled by (1 + delta) gives a p
    below ``bound`` (inf: no delta does).

    The U statistic counts the (i, j) with b_j (1 + delta) > a_i, i.e. 1 + delta > a_i / b_j;
    p falls below the bound once U reaches ``needed``, i.e. above the needed-th smallest a/b.
    """
    needed = _u_needed(a.shape[1], b.shape[1], bound)
    if needed is None:
        return np.full(len(a), np.inf)
    return _kth_smallest_quotient(a, b, needed) - 1.0


def _kth_smallest_quotient(
    a: np.ndarray, b: np.ndarray, k: int, cells: int = 2_000_000
) -> np.ndarray:
    """Per row, the k-th smallest of a_i / b_j over all (i, j) (rows in chunks of about
    ``cells`` quotients, so that R = 80 per side does not build a 400 MB array)."""
    quotients_per_row = a.shape[1] * b.shape[1]
    rows = max(1, cells // quotients_per_row)
    out = np.empty(len(a))
    for start in range(0, len(a), rows):
        chunk = slice(start, start + rows)
        quotients = (a[chunk, :, None] / b[chunk, None, :]).reshape(-1, quotients_per_row)
        out[chunk] = np.partition(quotients, k - 1, axis=1)[:, k - 1]
    return out


@functools.lru_cache(maxsize=256)
def _u_needed(n_a: int, n_b: int, bound: float) -> int | None:
    """The smallest U (the (i, j) with b_j above a_i) whose one-sided p is below ``bound``,
    or None."""
    most = n_a * n_b
    if _p_with_u(n_a, n_b, most) >= bound:
        return None
    low, high = 0, most  # p(high) < bound; find the smallest such U
    while low < high:
        middle = (low + high) // 2
        if _p_with_u(n_a, n_b, middle) < bound:
            high = middle
        else:
            low = middle + 1
    return low


def _p_with_u(n_a: int, n_b: int, u: int) -> float:
    """The one-sided p (B slower) of samples whose U statistic is ``u``."""
    a, b = _samples_with_u(n_a, n_b, u)
    p = _mann_whitney(b, a)
    assert p is not None
    return p


def _samples_with_u(n_a: int, n_b: int, u: int) -> tuple[list[float], list[float]]:
    """Tie-free samples (A, B) in which exactly ``u`` of the (a_i, b_j) have b_j above a_i."""
    a = [float(i) for i in range(n_a)]
    above = [min(n_a, max(0, u - n_a * j)) for j in range(n_b)]  # A values below each b_j
    b = [k - 0.5 + j * 1e-6 for j, k in enumerate(above)]
    return a, b

"""Statistics of per-process step times: bootstrap intervals, one-sided tests, Holm.

Pure functions over plain sequences (no Keras, no clocks). The unit is one worker
process's median step time: steps inside a process are correlated, so only processes
count as independent samples. Tests and intervals come from scipy.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
RESAMPLES = 2000


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample stdev / mean (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    mean = statistics.fmean(values)
    return statistics.stdev(values) / abs(mean) if mean else 0.0


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, float] | None:
    """Spearman's rho and its p-value, or None where either series is constant (no ranks)."""
    if len(set(x)) < 2 or len(set(y)) < 2:
        return None
    result = scipy_stats.spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)


def median_ci(values: Sequence[float], seed: int = 0) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of the median (None below two values)."""
    if len(values) < 2:
        return None
    if len(set(values)) == 1:
        return (values[0], values[0])
    result = scipy_stats.bootstrap(
        (np.asarray(values, dtype=float),),
        np.median,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def ratio_of_medians(a: Sequence[float], b: Sequence[float]) -> float:
    """median(b) / median(a): above 1 means B is slower."""
    return statistics.median(b) / statistics.median(a)


def ratio_ci(a: Sequence[float], b: Sequence[float], seed: int = 0) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of median(b)/median(a), resampling each side."""
    if len(a) < 2 or len(b) < 2:
        return None

    def ratio(sample_a: np.ndarray, sample_b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(sample_b, axis=axis) / np.median(sample_a, axis=axis)

    result = scipy_stats.bootstrap(
        (np.asarray(a, dtype=float), np.asarray(b, dtype=float)),
        ratio,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval.low, result.confidence_interval.high
    if math.isnan(low) or math.isnan(high):  # a degenerate resample distribution
        point = ratio_of_medians(a, b)
        return point, point
    return float(low), float(high)


def p_slower(a: Sequence[float], b: Sequence[float]) -> float | None:
    """One-sided Mann-Whitney U p-value for "B's step times are larger than A's"."""
    return _mann_whitney(b, a)


def p_faster(a: Sequence[float], b: Sequence[float]) -> float | None:
    """One-sided Mann-Whitney U p-value for "B's step times are smaller than A's"."""
    return _mann_whitney(a, b)


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


def holm(pvalues: Sequence[float | None], family_size: int | None = None) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None entries are left out and stay None).

    The k-th smallest of m p-values becomes max over j <= k of min(1, (m - j + 1) p_(j)),
    so comparing the adjusted values with alpha is Holm's step-down procedure.
    ``family_size`` counts tests not given here (as if their p were 1): a confirmation look
    at a subset chosen from the first look must still correct for the whole family.
    """
    present = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = max(len(present), family_size or 0)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


POWER = 0.95  # the detection rate the detectable slowdown is quoted at (the gate's target)


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

    The U statistic counts pairs with b_j (1 + delta) > a_i, i.e. 1 + delta > a_i / b_j; p
    falls below the bound once U reaches ``needed``, i.e. above the needed-th smallest a/b.
    """
    needed = _pairs_needed(a.shape[1], b.shape[1], bound)
    if needed is None:
        return np.full(len(a), np.inf)
    return _kth_smallest_quotient(a, b, needed) - 1.0


def _kth_smallest_quotient(
    a: np.ndarray, b: np.ndarray, k: int, cells: int = 2_000_000
) -> np.ndarray:
    """Per row, the k-th smallest of a_i / b_j over all pairs (rows in chunks of about
    ``cells`` pairs, so that R = 80 per side does not build a 400 MB array)."""
    pairs = a.shape[1] * b.shape[1]
    rows = max(1, cells // pairs)
    out = np.empty(len(a))
    for start in range(0, len(a), rows):
        chunk = slice(start, start + rows)
        quotients = (a[chunk, :, None] / b[chunk, None, :]).reshape(-1, pairs)
        out[chunk] = np.partition(quotients, k - 1, axis=1)[:, k - 1]
    return out


@functools.lru_cache(maxsize=256)
def _pairs_needed(n_a: int, n_b: int, bound: float) -> int | None:
    """The smallest U (pairs with B above A) whose one-sided p is below ``bound``, or None."""
    pairs = n_a * n_b
    if p_slower(*_samples_with_u(n_a, n_b, pairs)) >= bound:
        return None
    low, high = 0, pairs  # p(high) < bound; find the smallest such U
    while low < high:
        middle = (low + high) // 2
        if p_slower(*_samples_with_u(n_a, n_b, middle)) < bound:
            high = middle
        else:
            low = middle + 1
    return low


def _samples_with_u(n_a: int, n_b: int, u: int) -> tuple[list[float], list[float]]:
    """Tie-free samples (A, B) in which exactly ``u`` pairs have B above A."""
    a = [float(i) for i in range(n_a)]
    above = [min(n_a, max(0, u - n_a * j)) for j in range(n_b)]  # A values below each b_j
    b = [k - 0.5 + j * 1e-6 for j, k in enumerate(above)]
    return a, b

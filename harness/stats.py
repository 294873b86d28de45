"""Statistics of per-process step times: bootstrap intervals, one-sided tests, Holm.

Pure functions over plain sequences (no Keras, no clocks). The unit is one worker
process's median step time: steps inside a process are correlated, so only processes
count as independent samples. Tests and intervals come from scipy.
"""

from __future__ import annotations

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

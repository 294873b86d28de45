"""What both timing tests share: bootstrap intervals, Holm's correction, spread measures.

Pure functions over plain sequences (no Keras, no clocks). The unit is one worker
process's median step time: steps inside a process are correlated, so only processes
count as independent samples. Tests and intervals come from scipy.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
RESAMPLES = 2000
POWER = 0.95  # the detection rate the detectable slowdown is quoted at (the gate's target)


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

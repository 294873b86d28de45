"""Two samples of clusters: the processes of one run share that run's host, so the run, not
the process, is the unit that varies independently.

A test that treats every process as independent reads a run-to-run change of the host as
evidence: on a 2-core VM, 29% of replayed histories in which nothing changed had a "step"
under Mann-Whitney on the pooled processes (docs/history.md). Here each run's level is the
mean of its processes' log step times, and the two sides' run levels are compared with
Welch's t-test (each side's own variance), or, when one side is a single run, by whether
that run lies outside the other side's prediction interval (Student's t with the other
side's variance). The effect is the ratio of the sides' geometric means, with the matching
95% interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

from harness.stats.shared import CONFIDENCE

Clusters = Sequence[Sequence[float]]


@dataclass(frozen=True)
class ClusterTest:
    """B against A at the level of their clusters: the ratio B/A, its interval, two-sided p
    (None: too few clusters: two on one side and one on the other at least)."""

    ratio: float
    ci: tuple[float, float] | None
    p: float | None
    clusters_a: int
    clusters_b: int


def cluster_levels(clusters: Clusters) -> list[float]:
    """Each cluster's level: the mean of its samples' logs."""
    return [statistics.fmean(math.log(x) for x in c) for c in clusters if len(c)]


def cluster_test(a: Clusters, b: Clusters) -> ClusterTest:
    """Welch's t-test on the cluster levels (a single cluster on one side: its distance
    from the other side's mean in units of that side's prediction error)."""
    xa, xb = cluster_levels(a), cluster_levels(b)
    difference = statistics.fmean(xb) - statistics.fmean(xa)
    ratio = math.exp(difference)
    if min(len(xa), len(xb)) < 1 or max(len(xa), len(xb)) < 2:
        return ClusterTest(ratio, None, None, len(xa), len(xb))
    if len(xa) >= 2 and len(xb) >= 2:
        va, vb = statistics.variance(xa) / len(xa), statistics.variance(xb) / len(xb)
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1)) if se else 1.0
    else:  # one cluster against several: a prediction interval of the several
        many = xa if len(xa) > 1 else xb
        se = statistics.stdev(many) * math.sqrt(1 + 1 / len(many))
        df = len(many) - 1
    if se == 0:
        p = 1.0 if difference == 0 else 0.0
        return ClusterTest(ratio, (ratio, ratio), p, len(xa), len(xb))
    p = float(2 * scipy_stats.t.sf(abs(difference) / se, df))
    half = float(scipy_stats.t.ppf(1 - (1 - CONFIDENCE) / 2, df)) * se
    return ClusterTest(
        ratio, (math.exp(difference - half), math.exp(difference + half)), p, len(xa), len(xb)
    )

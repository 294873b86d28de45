"""The statistics room: one timing-test interface, two implementations, shared helpers.

* ``interface``: :class:`TimingTest` (the protocol), :class:`TimingTestName` (what a rule
  records) and :func:`timing_test` (the implementation a rule names)
* ``mann_whitney``: the per-process test, Mann-Whitney U on per-process medians
* ``signed_rank``: the paired test, signed-rank on the log ratios of process pairs
* ``clustered``: two samples of clusters (runs of processes): Welch's t on the runs' levels
* ``shared``: bootstrap intervals, Holm's correction, spread measures, ``POWER``

Pure functions over plain sequences; imports numpy and scipy, never a framework.
"""

from __future__ import annotations

from harness._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "interface": (
            "MANN_WHITNEY",
            "SIGNED_RANK",
            "TESTS",
            "TimingTest",
            "TimingTestName",
            "timing_test",
        ),
        "mann_whitney": ("MannWhitney",),
        "signed_rank": (
            "SignedRank",
            "log_ratios",
            "rank_sum_needed",
            "walsh_averages",
            "walsh_interval",
        ),
        "clustered": ("ClusterTest", "cluster_levels", "cluster_test"),
        "shared": (
            "CONFIDENCE",
            "POWER",
            "RESAMPLES",
            "coefficient_of_variation",
            "holm",
            "median_ci",
            "rank_correlation",
        ),
    },
)

"""The statistics behind the gate: the timing-test interface and its per-process test
(Mann-Whitney U), Holm, bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from harness import stats
from harness.records.steptime import StepTimeStats, StepTimeSummary
from harness.stats import (
    MANN_WHITNEY,
    SIGNED_RANK,
    TimingTest,
    TimingTestName,
    mann_whitney,
    timing_test,
)


def test_holm_matches_the_step_down_procedure_by_hand():
    # sorted: 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> monotone 0.06)
    assert stats.holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])
    assert stats.holm([0.5, 0.9]) == [1.0, 1.0]
    assert stats.holm([]) == []


def test_holm_over_a_larger_family_counts_the_untested_cells():
    # a confirmation look at 2 of 6 cells: ranks are corrected as if m = 6
    assert stats.holm([0.001, 0.002], family_size=6) == pytest.approx([0.006, 0.01])
    assert stats.holm([0.001, 0.002], family_size=1) == pytest.approx([0.002, 0.002])


def test_one_sided_tests_point_the_right_way():
    rng = np.random.default_rng(0)
    a = list(1.0 + 0.02 * rng.standard_normal(10))
    slower = [x * 1.2 for x in a]
    assert MANN_WHITNEY.p_slower(a, slower) < 0.001
    assert MANN_WHITNEY.p_faster(a, slower) > 0.99
    assert MANN_WHITNEY.p_faster(slower, a) < 0.001
    assert MANN_WHITNEY.p_slower([1.0], [2.0]) is None  # one process per side: no test


def test_smallest_p_limits_what_few_processes_can_show():
    assert MANN_WHITNEY.smallest_p(5) == pytest.approx(1 / 252)
    # exact test, total separation reaches that bound
    assert MANN_WHITNEY.p_slower([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(1 / 252)


def test_ratio_interval_brackets_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(1)
    a = list(2.0 + 0.05 * rng.standard_normal(10))
    b = list(2.2 + 0.05 * rng.standard_normal(10))
    low, high = MANN_WHITNEY.ratio_ci(a, b)
    assert low < MANN_WHITNEY.ratio(a, b) < high
    assert 1.0 < low < high < 1.2
    assert MANN_WHITNEY.ratio_ci(a, b) == (low, high)
    assert MANN_WHITNEY.ratio_ci([1.0], b) is None


def test_median_interval_and_cv():
    values = [1.0, 1.1, 0.9, 1.05, 0.95]
    low, high = stats.median_ci(values)
    assert low <= 1.0 <= high
    assert stats.median_ci([1.0]) is None
    assert stats.coefficient_of_variation([2.0, 2.0]) == 0.0
    assert stats.coefficient_of_variation([1.0, 3.0]) == pytest.approx(np.std([1, 3], ddof=1) / 2)


def _process(ms: float) -> StepTimeStats:
    return StepTimeStats.from_fits([0.1] * 4, [0.1 + ms * 0.01] * 4, 10, 1)


def test_summary_uses_processes_as_samples_and_keeps_their_raw_data():
    summary = StepTimeSummary.from_processes([_process(m) for m in (1.0, 1.2, 1.1)])
    assert summary.median == pytest.approx(1.1)
    assert summary.n_processes == 3
    assert summary.spread_of == "processes"
    assert summary.ci_low <= summary.median <= summary.ci_high
    assert all(len(p.samples) == 3 for p in summary.processes)
    assert StepTimeSummary.from_dict(summary.to_dict()) == summary


def test_schema_one_step_time_reads_as_one_process():
    old = _process(2.0).to_dict()
    summary = StepTimeSummary.from_dict(old)
    assert summary.n_processes == 1
    assert summary.median == pytest.approx(2.0)
    assert summary.ci_low is None
    assert summary.spread_of == "windows"


def test_u_needed_is_the_smallest_count_the_test_accepts():
    bound = 0.005 / 6
    assert mann_whitney._u_needed(5, 5, bound) is None  # 1 / C(10, 5) = 0.004: never below
    needed = mann_whitney._u_needed(10, 10, bound)
    assert MANN_WHITNEY.p_slower(*mann_whitney._samples_with_u(10, 10, needed)) < bound
    assert MANN_WHITNEY.p_slower(*mann_whitney._samples_with_u(10, 10, needed - 1)) >= bound


def _flag_rate(a, b, delta, bound, threshold, looks, draws=1500, seed=7) -> float:
    """The rule applied draw by draw (scipy's test), resampling as detectable_slowdown does."""
    rng = np.random.default_rng(seed)
    pool = np.log(np.concatenate([np.asarray(a) / np.median(a), np.asarray(b) / np.median(b)]))
    flagged = 0
    for _ in range(draws):
        # resampling repeats values; a jitter far below any effect keeps the test exact
        a1, b1, a2, b2 = (
            np.exp(rng.choice(pool, size=len(a)) + 1e-9 * rng.standard_normal(len(a)))
            for _ in range(4)
        )
        b1, b2 = b1 * (1 + delta), b2 * (1 + delta)
        large = MANN_WHITNEY.ratio(a1, b1) > 1 + threshold
        if large and MANN_WHITNEY.p_slower(a1, b1) < bound:
            flagged += 1
        elif large and looks == 2:
            pooled_a, pooled_b = np.concatenate([a1, a2]), np.concatenate([b1, b2])
            big = MANN_WHITNEY.ratio(pooled_a, pooled_b) > 1 + threshold
            flagged += big and MANN_WHITNEY.p_slower(pooled_a, pooled_b) < bound
    return flagged / draws


@pytest.mark.parametrize("looks", [1, 2])
def test_detectable_slowdown_is_where_the_rule_reaches_95_percent(looks):
    rng = np.random.default_rng(3)
    a, b = list(rng.lognormal(0, 0.06, 7)), list(rng.lognormal(0, 0.06, 7))
    bound, threshold = 0.005 / 3, 0.05
    delta = mann_whitney.detectable_slowdown(a, b, bound, threshold, looks=looks)
    assert threshold < delta < 0.5
    assert _flag_rate(a, b, delta * 1.02 + 0.002, bound, threshold, looks) >= 0.93
    assert _flag_rate(a, b, threshold + 0.75 * (delta - threshold), bound, threshold, looks) < 0.9


def test_detectable_slowdown_grows_with_spread_and_shrinks_with_processes():
    rng = np.random.default_rng(4)
    base = rng.standard_normal(20)
    tight, wide = np.exp(0.03 * base), np.exp(0.12 * base)
    bound = 0.01 / 6

    def detectable(values: np.ndarray) -> float:
        half = len(values) // 2
        return mann_whitney.detectable_slowdown(values[:half], values[half:], bound, 0.05, looks=2)

    assert detectable(tight) < detectable(wide)
    assert detectable(wide) < detectable(wide[:10])
    assert mann_whitney.detectable_slowdown([1.0, 1.1], [1.0, 1.1], bound, 0.05) is None  # 2 vs 2
    assert mann_whitney.detectable_slowdown([1.0], [1.0, 1.1], bound, 0.05) is None


def test_detectable_slowdown_for_other_sizes_from_the_same_spread():
    rng = np.random.default_rng(6)
    a, b = list(rng.lognormal(0, 0.1, 8)), list(rng.lognormal(0, 0.1, 8))
    bound = 0.005 / 6
    as_run = mann_whitney.detectable_slowdown(a, b, bound, 0.05, looks=2)
    assert mann_whitney.detectable_slowdown(a, b, bound, 0.05, looks=2, sizes=(8, 8)) == as_run
    larger = mann_whitney.detectable_slowdown(a, b, bound, 0.05, looks=2, sizes=(40, 40))
    assert 0.05 < larger < as_run
    assert mann_whitney.detectable_slowdown(a, b, bound, 0.05, sizes=(1, 8)) is None


def test_quotients_are_chunked_without_changing_the_answer():
    rng = np.random.default_rng(7)
    a, b = rng.lognormal(0, 0.1, (50, 12)), rng.lognormal(0, 0.1, (50, 9))
    whole = mann_whitney._kth_smallest_quotient(a, b, 30)
    chunked = mann_whitney._kth_smallest_quotient(a, b, 30, cells=250)  # 2 rows at a time
    assert np.array_equal(whole, chunked)
    assert whole[0] == np.sort((a[0][:, None] / b[0][None, :]).ravel())[29]


def test_rank_correlation_needs_ranks_on_both_sides():
    rho, pvalue = stats.rank_correlation([1.0, 2.0, 3.0, 4.0], [10.0, 30.0, 20.0, 40.0])
    assert rho == pytest.approx(0.8)
    assert 0 < pvalue < 1
    assert stats.rank_correlation([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) is None
    assert stats.rank_correlation([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) is None


def test_a_rule_names_one_of_two_implementations_of_one_interface():
    members = [
        name
        for name in vars(TimingTest)
        if not name.startswith("_") and callable(getattr(TimingTest, name))
    ]
    assert set(members) >= {"ratio", "ratio_ci", "p_slower", "p_faster", "detectable_slowdown"}
    for test in (MANN_WHITNEY, SIGNED_RANK):
        assert all(callable(getattr(test, name)) for name in members)
    assert timing_test(TimingTestName.PER_PROCESS) is MANN_WHITNEY
    assert timing_test(TimingTestName.PAIRED.value) is SIGNED_RANK  # as a file records it


def test_a_shift_scales_side_a_in_the_per_process_test():
    rng = np.random.default_rng(2)
    a, b = list(1.0 + 0.01 * rng.standard_normal(8)), list(1.03 + 0.01 * rng.standard_normal(8))
    scaled = [x * 1.05 for x in a]
    assert MANN_WHITNEY.p_faster(a, b, shift=0.05) == MANN_WHITNEY.p_faster(scaled, b)
    assert MANN_WHITNEY.p_slower(a, b, shift=0.05) == MANN_WHITNEY.p_slower(scaled, b)
    assert MANN_WHITNEY.aligned(a, b[:5]) == (a, b[:5])  # the sides need not match in size


def test_the_cluster_test_takes_the_run_not_the_process_as_its_unit():
    """Three processes in each of four runs a side, the runs' levels scattered by 10% and
    the processes of a run within 0.5% of each other: at the run level the sides do not
    differ; slowed by 1.5 they do. A side of one run is tested against the other's
    prediction interval."""
    from harness.stats import cluster_test

    rng = np.random.default_rng(0)
    levels = np.exp(0.10 * rng.standard_normal(8))
    runs = [list(level * np.exp(0.005 * rng.standard_normal(3))) for level in levels]
    same = cluster_test(runs[:4], runs[4:])
    assert same.p > 0.05
    assert same.ci[0] < 1 < same.ci[1]
    slower = cluster_test(runs[:4], [[x * 1.5 for x in run] for run in runs[4:]])
    assert slower.p < 0.01
    assert slower.ci[0] < slower.ratio < slower.ci[1]
    latest = cluster_test(runs[:6], [[x * 2.0 for x in runs[6]]])
    assert (latest.clusters_a, latest.clusters_b) == (6, 1)
    assert latest.p < 0.05
    assert cluster_test(runs[:1], runs[1:2]).p is None

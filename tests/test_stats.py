"""The statistics behind the gate: Holm, one-sided tests, bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from harness import stats
from harness.measure import StepTimeStats, StepTimeSummary


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
    assert stats.p_slower(a, slower) < 0.001
    assert stats.p_faster(a, slower) > 0.99
    assert stats.p_faster(slower, a) < 0.001
    assert stats.p_slower([1.0], [2.0]) is None  # one process per side: no test


def test_smallest_p_limits_what_few_processes_can_show():
    assert stats.smallest_p(5, 5) == pytest.approx(1 / 252)
    # exact test, total separation reaches that bound
    assert stats.p_slower([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(1 / 252)


def test_ratio_interval_brackets_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(1)
    a = list(2.0 + 0.05 * rng.standard_normal(10))
    b = list(2.2 + 0.05 * rng.standard_normal(10))
    low, high = stats.ratio_ci(a, b)
    assert low < stats.ratio_of_medians(a, b) < high
    assert 1.0 < low < high < 1.2
    assert stats.ratio_ci(a, b) == (low, high)
    assert stats.ratio_ci([1.0], b) is None


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

"""The pure timing statistics and window planning."""

from __future__ import annotations

import random

import pytest

from harness.records.steptime import StepTimeStats, StepTimeSummary, marginal_step_cost
from harness.run.timing import WindowPlan


def test_pairs_cancel_the_fixed_cost_of_a_fit():
    step, overhead, n = 0.002, 0.050, 100
    short = [overhead + n * step] * 4
    long = [overhead + 2 * n * step] * 4
    stats = StepTimeStats.from_fits(short, long, window_steps=n, warmup_windows=1)
    assert stats.median == pytest.approx(2.0)
    assert stats.fit_overhead_ms == pytest.approx(50.0)
    assert stats.n_windows == 3
    assert stats.cv == pytest.approx(0.0)


def test_warmup_pairs_are_dropped_and_samples_kept():
    short = [5.0, 0.1, 0.1, 0.1]
    long = [9.0, 0.3, 0.2, 0.25]
    stats = StepTimeStats.from_fits(short, long, window_steps=10, warmup_windows=1)
    assert stats.samples == pytest.approx([20.0, 10.0, 15.0])
    assert stats.median == pytest.approx(15.0)
    assert stats.short_fit_s == short
    assert StepTimeStats.from_dict(stats.to_dict()) == stats


def test_no_window_pairs_after_warmup_is_an_error():
    with pytest.raises(ValueError, match="No timed window pairs"):
        StepTimeStats.from_fits([0.1], [0.2], window_steps=10, warmup_windows=1)


def test_window_steps_targets_a_duration_within_bounds():
    plan = WindowPlan(target_window_s=0.2, min_window_steps=2, max_window_steps=100)
    assert plan.window_steps(0.01) == 20
    assert plan.window_steps(1.0) == 2
    assert plan.window_steps(1e-6) == 100
    assert plan.window_steps(float("nan")) == 100


def test_enough_needs_both_count_and_duration():
    plan = WindowPlan(min_windows=3, min_seconds=1.0, warmup_windows=1, max_windows=5)
    assert not plan.enough([9.0, 0.5, 0.5])  # two kept samples
    assert not plan.enough([9.0, 0.1, 0.1, 0.1])  # too little timed work
    assert plan.enough([9.0, 0.4, 0.4, 0.4])
    assert plan.exhausted([0.1] * 6)
    assert not plan.exhausted([0.1] * 5)


def test_marginal_step_cost_is_the_median_over_back_to_back_pairs():
    assert marginal_step_cost([1.0, 1.1, 5.0], [2.0, 2.1, 9.0], 100) == pytest.approx(0.01)
    # pair differences 1.0, 0.5, 2.0: median 1.0 (a difference of medians would give 0.5)
    assert marginal_step_cost([1.0, 2.0, 2.0], [2.0, 2.5, 4.0], 1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shorter"):
        marginal_step_cost([1.0, 2.0], [2.0], 1)


def test_step_time_is_the_median_of_the_kept_pairs():
    stats = StepTimeStats.from_fits([9.0, 1.0, 2.0, 2.0], [9.0, 2.0, 2.5, 4.0], 1, 1)
    assert stats.median == pytest.approx(1000.0)
    assert stats.samples == pytest.approx([1000.0, 500.0, 2000.0])


def test_timing_continues_until_the_marginal_cost_is_positive():
    plan = WindowPlan(warmup_windows=1, max_windows=5)
    assert not plan.positive([], [])
    assert not plan.positive([9.0, 1.0, 1.2], [9.0, 0.9, 1.1])  # noise: T(2N) below T(N)
    assert plan.positive([9.0, 1.0, 1.2], [9.0, 2.0, 2.1])
    assert plan.exhausted([0.1] * 11, fixed=10)
    assert not plan.exhausted([0.1] * 10, fixed=10)


# Shaped like a quick dense_mlp/jax process seen on 2026-12-05: the first 5 of 13 pairs
# still warming up (between 0.76 and 2.36 ms a step), the rest steady (0.88 to 0.99 ms).
WARMING = [2.36, 1.52, 0.76, 1.21, 1.10, 0.95, 0.90, 0.99, 0.88, 0.92, 0.93, 0.90, 0.91]


def test_the_warm_up_is_dropped_until_the_steady_state():
    plan = WindowPlan(warmup_windows=1)
    assert plan.steady_start(WARMING) == 5
    assert max(plan.kept(WARMING)) < 1.0


def test_a_steady_series_loses_only_the_fixed_warm_up():
    rng = random.Random(0)
    plan = WindowPlan(warmup_windows=1)
    drops = [plan.steady_start([rng.gauss(1.0, 0.03) for _ in range(15)]) for _ in range(200)]
    assert min(drops) == 1
    assert sum(d > 1 for d in drops) <= 10  # a chance outlier first: rarely a pair more
    assert max(drops) <= 3


def test_at_most_half_the_pairs_are_dropped():
    plan = WindowPlan(warmup_windows=1)
    wild = [50.0, 1.0, 50.0, 1.01, 50.0, 50.0, 1.0, 1.01, 0.99, 1.0, 1.02, 0.98]
    assert plan.steady_start(wild) == 6  # not steady before pair 7, but half is the bound
    assert plan.steady_start([1.0]) == 1
    assert plan.steady_start([]) == 1


def test_timing_goes_on_until_enough_steady_pairs_are_kept():
    plan = WindowPlan(min_windows=9, min_seconds=0.0, warmup_windows=1)
    assert not plan.enough(WARMING)  # 13 pairs, 8 kept: the first 5 were warm-up
    assert plan.enough([*WARMING, 0.9])


def test_the_teardown_is_kept_per_fit_and_averaged_per_step():
    short, long = [0.10] * 5, [0.20] * 5  # 1 ms per step at N = 100
    quiet = [0.001] * 5
    stats = StepTimeStats.from_fits(short, long, 100, 1, quiet, quiet)
    assert stats.teardown_ms_per_step == pytest.approx(0.0)
    assert stats.with_teardown_ms == pytest.approx(stats.median)
    # one slow teardown (0.3 s) after one long fit of the four kept pairs: 0.75 ms/step
    slow = [0.001, 0.001, 0.301, 0.001, 0.001]
    stats = StepTimeStats.from_fits(short, long, 100, 1, quiet, slow)
    assert stats.median == pytest.approx(1.0)  # the step time leaves the teardown out
    assert stats.teardown_ms_per_step == pytest.approx(0.75)
    assert stats.with_teardown_ms == pytest.approx(1.75)
    assert stats.long_teardown_s == slow
    summary = StepTimeSummary.from_processes([stats, StepTimeStats.from_fits(short, long, 100, 1)])
    assert summary.teardown_ms_per_step is None  # a process that did not record it

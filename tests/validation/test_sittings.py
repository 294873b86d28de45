"""The real gates' evidence across sittings (validation.gate.sittings)."""

from __future__ import annotations

import pytest

from validation.gate import sittings


def test_the_work_given_is_read_from_the_files_runs_as_a_share_of_a_step(one_cell_run):
    def side(medians: list[float], busy: list[float] | None = None) -> dict:
        return one_cell_run(medians, busy).to_dict()  # as a kbench ab --out file holds it

    comparison = {"runs": {"a": side([2.0, 4.0, 1.0]), "b": side([9, 9, 9], [0.2, 0.2, 0.3])}}
    assert sittings.given_shares(comparison) == {"m/jax/cpu": pytest.approx(0.1)}  # 10, 5, 30%
    assert sittings.given_shares({"runs": {"a": side([2.0]), "b": side([2.0])}}) == {}
    assert sittings.given_shares({"runs": {}}) == {}


def test_a_rate_carries_its_exact_interval():
    none_of_six = sittings.rate(0, 6)
    assert (none_of_six["rate"], none_of_six["low"]) == (0.0, 0.0)
    assert none_of_six["high"] == pytest.approx(0.459, abs=1e-3)
    assert sittings.rate(0, 0)["rate"] is None


def test_the_trials_that_could_show_a_rate_are_the_fewest_whose_interval_clears_it():
    # Clopper-Pearson with no hits: upper = 1 - 0.025^(1/n); with all hits: lower = 0.025^(1/n)
    assert sittings.trials_to_show(0.01, below=True) == 368  # ln 0.025 / ln 0.99 = 367.0...
    assert sittings.trials_to_show(0.95, below=False) == 72  # ln 0.025 / ln 0.95 = 71.9...
    assert sittings.rate(0, 367)["high"] > 0.01 >= sittings.rate(0, 368)["high"]
    assert sittings.rate(71, 71)["low"] < 0.95 <= sittings.rate(72, 72)["low"]


def test_the_target_line_prices_the_trials_in_gates_of_the_gates_own_size():
    gate = {"cells": {key: {} for key in "abcdef"}, "minutes": 30.0}
    summary = {"gates": [{**gate, "factor": 1.0}, {**gate, "factor": 1.1, "minutes": 36.0}]}
    line = sittings.target_line(summary)
    assert "368 cell trials with none flagged in A/A (62 gates of 6 cells, about 31 h)" in line
    assert "72 cell trials with all caught in self-tests (12 gates of 6 cells, about 7 h)" in line

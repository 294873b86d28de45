"""The real gates' evidence across sittings (validation.gate.sittings)."""

from __future__ import annotations

import pytest

from validation.gate import sittings


def _side(medians: list[float], busy: list[float] | None = None) -> dict:
    processes = [
        {"median": m, **({"injected": {"busy_ms": b}} if busy else {})}
        for m, b in zip(medians, busy or medians, strict=True)
    ]
    cell = {"plugin": "m", "backend": "jax", "device": "cpu"}
    return {"cells": [{**cell, "step_time_ms": {"processes": processes}}]}


def test_the_work_given_is_a_share_of_the_paired_a_process_step():
    comparison = {"runs": {"a": _side([2.0, 4.0, 1.0]), "b": _side([9, 9, 9], [0.2, 0.2, 0.3])}}
    assert sittings.given_shares(comparison) == {"m/jax/cpu": pytest.approx(0.1)}  # 10, 5, 30%
    assert sittings.given_shares({"runs": {"a": _side([2.0]), "b": _side([2.0])}}) == {}


def test_a_rate_carries_its_exact_interval():
    none_of_six = sittings.rate(0, 6)
    assert (none_of_six["rate"], none_of_six["low"]) == (0.0, 0.0)
    assert none_of_six["high"] == pytest.approx(0.459, abs=1e-3)
    assert sittings.rate(0, 0)["rate"] is None

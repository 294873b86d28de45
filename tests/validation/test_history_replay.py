"""The history replay: whole runs redrawn, the last ones slowed, ``kbench history``'s steps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from harness.history import read_history
from harness.records import (
    CellResult,
    Params,
    RunResult,
    Status,
    StepTimeStats,
    StepTimeSummary,
    write_json_atomic,
)
from validation.history.replay import replay

START = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _run(index: int, medians: list[float]) -> RunResult:
    processes = [StepTimeStats.from_fits([0.1] * 3, [0.1 + m * 0.01] * 3, 10, 1) for m in medians]
    cell = CellResult(
        "dense_mlp", "jax", "cpu", "mnist_5k", Status.OK, params=Params(1, 1, 0),
        step_time_ms=StepTimeSummary.from_processes(processes),
    )  # fmt: skip
    environment = {"cpu": "Test CPU", "cores": 2, "packages": {}}
    return RunResult((START + timedelta(hours=index)).isoformat(), environment, {}, [cell])


def test_replayed_histories_find_a_planted_step_and_rarely_one_in_aa(tmp_path):
    rng = np.random.default_rng(0)
    for index in range(8):
        medians = list(np.exp(0.05 * rng.standard_normal(3)))
        write_json_atomic(tmp_path / f"r{index}.json", _run(index, medians).to_dict())
    pool = read_history([tmp_path])
    null = replay(pool, runs=10, after=4, delta=0.0, sims=40, seed=1)
    slowed = replay(pool, runs=10, after=4, delta=0.5, sims=40, seed=2)
    assert null["histories_with_a_step"]["rate"] <= 0.15
    assert slowed["series_hit"]["rate"] >= 0.9
    assert slowed["series_hit"]["low"] < slowed["series_hit"]["rate"] < 1.01

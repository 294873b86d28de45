"""Records, atomic writes and the results table."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from harness.records.files import write_json_atomic
from harness.records.schema import CellResult, Params, RunResult, Status
from harness.records.steptime import StepTimeStats, StepTimeSummary
from harness.report.console import results_table


def _cell(backend: str, median: float, total: int = 100, status: Status = Status.OK) -> CellResult:
    stats = StepTimeStats.from_fits([0.1] * 3, [0.1 + median * 0.01] * 3, 10, 1)
    step = StepTimeSummary.from_processes([stats])
    return CellResult(
        "toy",
        backend,
        "cpu",
        "synthetic",
        status,
        params=Params(total, total, 0),
        step_time_ms=step,
        metrics={"test_accuracy": 0.5},
    )


def _run(*cells: CellResult) -> RunResult:
    return RunResult("now", {}, {"profile": "smoke"}, list(cells))


def _render(run: RunResult) -> str:
    console = Console(record=True, width=160)
    console.print(results_table(run))
    return console.export_text()


def test_cell_result_round_trips_through_json():
    cell = _cell("jax", 2.0)
    assert CellResult.from_dict(json.loads(json.dumps(cell.to_dict()))) == cell


def test_table_marks_the_fastest_backend():
    text = _render(_run(_cell("jax", 2.0), _cell("torch", 1.0)))
    assert "*1.00" in text
    assert "*2.00" not in text


def test_table_flags_parameter_counts_that_differ():
    text = _render(_run(_cell("jax", 2.0, total=100), _cell("torch", 1.0, total=101)))
    assert "jax/cpu=100" in text
    assert "torch/cpu=101" in text


def test_table_shows_status_of_cells_that_did_not_run():
    failed = CellResult.not_run(_cell("torch", 1.0).cell, "synthetic", Status.FAILED, "boom")
    assert "failed" in _render(_run(_cell("jax", 2.0), failed))


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(ValueError, match="JSON compliant"):
        write_json_atomic(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_quality_figure_is_recorded_only_for_a_plugin_with_a_task():
    plain = _cell("jax", 2.0)
    assert "quality" not in plain.to_dict()  # records of the built-ins stay as they were
    mae = {"name": "mae", "value": 0.15, "higher_is_better": False}
    named = CellResult.from_dict({**plain.to_dict(), "quality": mae})
    assert named.quality == mae
    assert CellResult.from_dict(named.to_dict()) == named

"""``kbench history``: series kept apart, change points found and tested, what changed named,
damaged files skipped, the dashboard written (results files built by hand, no workers)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from harness import cli
from harness.history.series import read_history
from harness.history.steps import FASTER, SLOWER, change_points, find_steps
from harness.records.efficiency import MeasuredPeak, Rate
from harness.records.files import write_json_atomic
from harness.records.schema import CellResult, Params, RunResult, Status
from harness.records.steptime import StepTimeStats, StepTimeSummary

START = datetime(2026, 12, 1, tzinfo=timezone.utc)
ENV = {
    "cpu": "Test CPU",
    "cores": 2,
    "affinity": [0, 1],
    "hostname": "host",
    "python": "3.11.7",
    "packages": {"keras": "3.15.1", "jax": "0.10.2"},
    "gpus": [],
    "git_commit": "a" * 40,
}
CONFIG = {"profile": "gate", "epochs": 1, "seed": 0, "repeats": 3}
CHROMIUM = next(
    filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
)


def _cell(
    medians: list[float], plugin: str = "dense_mlp", keras: str = "3.15.1", peak: float = 0.0
) -> CellResult:
    processes = [StepTimeStats.from_fits([0.1] * 3, [0.1 + m * 0.01] * 3, 10, 1) for m in medians]
    return CellResult(
        plugin,
        "jax",
        "cpu",
        "mnist_5k",
        Status.OK,
        params=Params(10, 10, 0),
        step_time_ms=StepTimeSummary.from_processes(processes),
        fairness={"batch_size": 32},
        versions={"keras": keras, "jax": "0.10.2"},
        peak=MeasuredPeak(
            [Rate("matmul", "square", [8, 8, 8], "float32", 1.0, 1, peak)], None, "", 0.5
        )
        if peak
        else None,
    )


def _write(folder: Path, index: int, medians: list[float], env=None, config=None, **cell) -> Path:
    created = (START + timedelta(hours=index)).isoformat()
    run = RunResult(
        created, {**ENV, **(env or {})}, {**CONFIG, **(config or {})}, [_cell(medians, **cell)]
    )
    return write_json_atomic(folder / f"run-{index:02d}.json", run.to_dict())


def _noisy(level: float, rng: np.random.Generator, n: int = 3, sd: float = 0.04) -> list[float]:
    return list(level * np.exp(sd * rng.standard_normal(n)))


@pytest.fixture
def stepped(tmp_path: Path) -> Path:
    """Seven runs at 1 ms, then five at 1.3 ms run on one core (``taskset -c 0``)."""
    rng = np.random.default_rng(1)
    for index in range(12):
        slow = index >= 7
        env = {"affinity": [0]} if slow else None
        _write(tmp_path, index, _noisy(1.3 if slow else 1.0, rng), env)
    return tmp_path


def test_a_step_is_found_tested_and_what_changed_is_named(stepped):
    history = read_history([stepped])
    (series,) = history.series
    assert len(series.groups) == 12
    found = [step for step in find_steps(history) if step.found]
    (step,) = found
    assert step.verdict == SLOWER
    assert step.at == 7
    assert step.n_before == 21
    assert step.n_after == 15
    assert 1.2 < step.ratio < 1.4
    assert step.ci[0] > 1.05
    assert step.p_adjusted < 0.01
    assert step.changes == ("affinity: [0, 1] -> [0]",)


def test_a_slow_latest_run_is_reported_before_a_second_run_confirms_it(tmp_path):
    rng = np.random.default_rng(2)
    for index in range(10):
        _write(tmp_path, index, _noisy(1.0 if index < 9 else 1.4, rng, n=4))
    (step,) = [s for s in find_steps(read_history([tmp_path])) if s.found]
    assert step.latest
    assert step.at == 9
    assert step.verdict_text == "slower (latest run only)"


def test_a_step_with_no_software_change_names_the_machines_measured_speed(tmp_path):
    rng = np.random.default_rng(4)
    for index in range(10):
        slow = index >= 5
        _write(tmp_path, index, _noisy(1.3 if slow else 1.0, rng), peak=120.0 if slow else 160.0)
    (step,) = [s for s in find_steps(read_history([tmp_path])) if s.found]
    assert step.changes == ("measured matmul peak: 160 -> 120 GFLOP/s (x0.75)",)


def test_no_step_is_found_in_a_series_of_aa_runs(tmp_path):
    rng = np.random.default_rng(7)
    for index in range(14):
        _write(tmp_path, index, _noisy(1.0, rng, sd=0.08))
    assert not [step for step in find_steps(read_history([tmp_path])) if step.found]


def test_a_faster_step_is_reported_as_faster(tmp_path):
    rng = np.random.default_rng(3)
    for index in range(10):
        _write(tmp_path, index, _noisy(1.0 if index < 5 else 0.7, rng))
    (step,) = [s for s in find_steps(read_history([tmp_path])) if s.found]
    assert step.verdict == FASTER
    assert step.at == 5


def test_series_are_kept_apart_by_machine_and_settings(tmp_path):
    """Another CPU and another profile are other series: their levels never make a step."""
    rng = np.random.default_rng(5)
    for index in range(12):
        if index % 3 == 1:
            env, config, level = {"cpu": "Other CPU"}, None, 3.0
        elif index % 3 == 2:
            env, config, level = None, {"profile": "quick"}, 0.5
        else:
            env, config, level = None, None, 1.0
        _write(tmp_path, index, _noisy(level, rng), env, config)
    history = read_history([tmp_path])
    assert len(history.series) == 3
    assert {len(s.groups) for s in history.series} == {4}
    assert not [step for step in find_steps(history) if step.found]


def test_runs_ordered_by_a_package_version_are_grouped_by_it(tmp_path):
    rng = np.random.default_rng(11)
    versions = ["3.9.0", "3.13.0", "3.13.0", "3.14.0", "3.14.0", "3.15.1", "3.15.1", "3.10.0"]
    for index, keras in enumerate(versions):
        level = 1.4 if keras in ("3.14.0", "3.15.1") else 1.0
        _write(
            tmp_path, index, _noisy(level, rng, n=4), {"packages": {"keras": keras}}, keras=keras
        )
    history = read_history([tmp_path], order_by="keras")
    (series,) = history.series
    assert [g.order for g in series.groups] == ["3.9.0", "3.10.0", "3.13.0", "3.14.0", "3.15.1"]
    (step,) = [s for s in find_steps(history) if s.found]
    assert (step.before[-1].order, step.after[0].order) == ("3.13.0", "3.14.0")
    assert "package keras: 3.13.0 -> 3.14.0" in step.changes


def test_change_points_of_a_clean_step_and_of_flat_or_short_series():
    assert change_points([1.0] * 5 + [2.0] * 5) == [5]
    assert change_points([1.0] * 10) == []
    assert change_points([1.0, 2.0, 2.0]) == []  # too short for two runs a side


def test_damaged_and_foreign_files_are_skipped_with_one_line_each(stepped, capsys):
    (stepped / "truncated.json").write_text('{"schema_version": 2, "cells": [')
    (stepped / "list.json").write_text("[1, 2]")
    (stepped / "comparison.json").write_text(json.dumps({"kind": "kbench-comparison", "cells": []}))
    (stepped / "notes").mkdir()
    (stepped / "notes" / "empty.json").write_text("")
    assert cli.main(["history", str(stepped)]) == 0
    err = capsys.readouterr().err
    skipped = [line for line in err.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 4, err
    assert "Traceback" not in err


def test_no_readable_file_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{")
    assert cli.main(["history", str(tmp_path)]) == 2
    assert cli.main(["history", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "kbench: error:" in err


def test_the_cli_writes_the_dashboard_and_the_markdown_summary(stepped, tmp_path, capsys):
    out = tmp_path / "dash"
    assert cli.main(["history", str(stepped), "--out", str(out), "--fail-on-slower"]) == 1
    page = (out / "dashboard.html").read_text()
    assert "<h1>kbench history</h1>" in page
    assert "data:image/png;base64," in page
    assert "affinity: [0, 1] -&gt; [0]" in page
    assert "<script" not in page
    assert "http" not in page.split("</style>")[1]
    summary = (out / "summary.md").read_text()
    assert "1 step found (1 slower" in summary
    assert "| dense_mlp/jax/cpu" in summary
    assert "slower" in capsys.readouterr().out


def test_the_markdown_goes_to_the_ci_job_summary(stepped, tmp_path, monkeypatch):
    target = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert cli.main(["history", str(stepped), "--markdown"]) == 0
    assert "## kbench history" in target.read_text()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_the_dashboard_renders_in_headless_chromium(stepped, tmp_path):
    out = tmp_path / "dash"
    assert cli.main(["history", str(stepped), "--out", str(out)]) == 0
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    command += ["--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}"]
    command += ["--enable-logging=stderr", "--v=0", "--dump-dom"]
    done = subprocess.run(
        [*command, (out / "dashboard.html").as_uri()], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<h1>kbench history</h1>" in done.stdout
    assert "Change points" in done.stdout
    assert done.stdout.count("<img") == 1
    assert not [line for line in done.stderr.splitlines() if "Uncaught" in line]

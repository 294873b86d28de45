"""Repeats, baselines, compare, export and the A/B gate, end to end with real workers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.gate.sequential import fewest_to_reject, futility_level, look_levels, unsure
from harness.records import CellComparison
from harness.records.files import read_run
from harness.records.steptime import PHASES
from harness.stats import SignedRank

RUN_ARGS = ["-p", "dense_mlp", "-b", "jax", "--profile", "smoke", "--dataset", "synthetic"]


@pytest.fixture(scope="module")
def repeated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of one cell in three worker processes."""
    out = tmp_path_factory.mktemp("gate") / "repeated.json"
    assert cli.main(["run", *RUN_ARGS, "--device", "cpu", "--repeats", "3", "--out", str(out)]) == 0
    return out


def _one_line_error(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_repeats_are_separate_processes_timing_the_same_steps(repeated):
    (cell,) = read_run(repeated).cells
    step = cell.step_time_ms
    assert step.n_processes == 3 == len(step.processes) == len(step.process_medians)
    assert step.spread_of == "processes"
    assert step.ci_low <= step.median <= step.ci_high
    first = step.processes[0]
    for later in step.processes[1:]:
        assert (later.window_steps, later.n_windows) == (first.window_steps, first.n_windows)
        assert len(later.samples) == later.n_windows  # raw per-window samples kept
    assert cell.metrics["test_accuracy"] >= 0  # trained once, in the first process


def test_each_process_says_where_its_seconds_went(repeated):
    (cell,) = read_run(repeated).cells
    for index, process in enumerate(cell.step_time_ms.processes):
        phases = process.phases_s
        assert set(phases) == set(PHASES), index
        assert all(seconds >= 0 for seconds in phases.values())
        parts = sum(s for name, s in phases.items() if name != "wall")
        assert parts <= phases["wall"] * 1.01  # the parts fit in the wall the parent saw
        timed = sum(process.short_fit_s) + sum(process.long_fit_s)
        assert timed <= phases["timed"]
        assert (phases["train"] > 0) == (index == 0)  # only the first process trains
        fits = (process.short_teardown_s, process.long_teardown_s)
        assert [len(f) for f in fits] == [len(process.short_fit_s)] * 2
        assert all(seconds >= 0 for f in fits for seconds in f)  # fit returned after the end
        assert process.with_teardown_ms == process.median + process.teardown_ms_per_step
    config = read_run(repeated).config
    assert config["repeats"] == 3
    assert len(config["plugin_sources"]["dense_mlp"]) == 16


def test_baseline_save_list_and_compare(repeated, tmp_path, capsys):
    store = tmp_path / "baselines"
    assert cli.main(["baseline", "save", str(repeated), "--name", "ref", "--dir", str(store)]) == 0
    saved = json.loads((store / "ref.json").read_text())
    assert saved["baseline"]["fingerprints"]["dense_mlp/jax/cpu"]["profile"] == "smoke"
    assert cli.main(["baseline", "list", "--dir", str(store)]) == 0
    assert "ref" in capsys.readouterr().out
    out = tmp_path / "cmp.json"
    code = cli.main(["compare", "ref", str(repeated), "--dir", str(store), "--json", str(out)])
    assert code == 0
    (cell,) = json.loads(out.read_text())["cells"]
    assert cell["verdict"] == "same"
    assert cell["ratio"] == pytest.approx(1.0)


def test_compare_fails_on_a_cell_that_stopped_working(repeated, tmp_path):
    broken = json.loads(repeated.read_text())
    broken["cells"][0].update(status="failed", error="it broke", step_time_ms=None)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    assert cli.main(["compare", str(repeated), str(path)]) == 1


def test_compare_bad_input_is_one_line(repeated, tmp_path, capsys):
    assert "No baseline" in _one_line_error(capsys, ["compare", "nope", str(repeated)])
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert "not readable" in _one_line_error(capsys, ["compare", str(garbage), str(repeated)])
    other = json.loads(repeated.read_text())
    other["cells"][0]["plugin"] = "another"
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    assert "no cell in common" in _one_line_error(capsys, ["compare", str(path), str(repeated)])
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"schema_version": 99}))
    assert "schema version" in _one_line_error(capsys, ["compare", str(wrong), str(repeated)])


def test_pytest_benchmark_compare_reads_the_export(repeated, tmp_path):
    out = tmp_path / "0001_kbench.json"
    assert cli.main(["export", str(repeated), "--out", str(out)]) == 0
    (benchmark,) = json.loads(out.read_text())["benchmarks"]
    assert benchmark["stats"]["rounds"] == 3  # the process medians
    assert benchmark["stats"]["median"] > 0
    tool = shutil.which("pytest-benchmark", path=str(Path(sys.executable).parent))
    assert tool, "pytest-benchmark's command is installed with the test extras"
    shown = subprocess.run([tool, "compare", str(out)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "dense_mlp[jax-cpu]" in shown.stdout


@pytest.mark.e2e
def test_ab_runs_both_sides_interleaved_and_passes_an_aa_gate(tmp_path):
    out = tmp_path / "ab.json"
    code = cli.main(["ab", *RUN_ARGS, "--repeats", "2", "--no-confirm", "--out", str(out)])
    assert code == 0
    record = json.loads(out.read_text())
    assert record["kind"] == "kbench-comparison"
    assert record["ab"]["python_a"] == record["ab"]["python_b"] == [sys.executable]
    (cell,) = record["cells"]
    assert cell["n_a"] == cell["n_b"] == 2
    assert cell["verdict"] in ("same", "slower", "faster", "inconclusive")
    sides = [record["runs"][s]["cells"][0]["step_time_ms"]["processes"] for s in ("a", "b")]
    window = {(p["window_steps"], p["n_windows"]) for side in sides for p in side[1:]}
    assert window == {(sides[0][0]["window_steps"], sides[0][0]["n_windows"])}


@pytest.mark.e2e
def test_ab_past_its_budget_takes_only_the_look_that_can_reject(tmp_path, capsys, aa_gate_decided):
    out = tmp_path / "ab.json"
    design = ["--repeats", "2", "--looks", "3", "--budget-minutes", "0.01"]
    code = cli.main(["ab", *RUN_ARGS, *design, "--out", str(out)])
    printed = capsys.readouterr().out.replace("\n", " ")
    assert "past the budget" in printed
    record = json.loads(out.read_text())
    aa_gate_decided(code, record, printed)  # the raised look can reject, so can false-alarm
    ab = record["ab"]
    assert (ab["looks_planned"], ab["spending"], len(ab["looks"])) == (3, "obrien-fleming", 2)
    first, raised = ab["looks"]  # look 1 (R = 2) cannot reject; look 2 is raised until it can
    assert first["processes_per_side"] == 2
    assert not first["can_reject"]
    assert first["level"] == pytest.approx(look_levels(0.01, 3, "obrien-fleming")[0])
    assert raised["past_budget"]
    assert raised["can_reject"]
    assert raised["processes_per_side"] == fewest_to_reject(1, 0.01, SignedRank())
    (cell,) = [CellComparison.from_dict(c) for c in record["cells"]]
    threshold = record["rule"]["threshold"]
    if unsure(cell, threshold, SignedRank(), futility_level(3)):  # look 3 was wanted
        assert ab["budget_stop"].startswith("look 3 of 3")
    else:  # decided at look 2 (tests/test_gate_looks.py scripts both ways)
        assert "budget_stop" not in ab
    assert 0 < ab["elapsed_s"] < 600


def test_ab_with_an_interpreter_that_cannot_run_the_harness(capsys):
    err = _one_line_error(capsys, ["ab", *RUN_ARGS, "--python-b", "/no/such/python"])
    assert "--python-b" in err

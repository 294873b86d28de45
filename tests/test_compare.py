"""The decision rule, cell by cell, on records built by hand (no workers)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from harness.gate.compare import Rule, compare_runs
from harness.gate.sequential import could_reject
from harness.records.fingerprint import fingerprint_differences
from harness.records.schema import CellResult, Params, RunResult, Status
from harness.records.steptime import StepTimeStats, StepTimeSummary
from harness.stats import MANN_WHITNEY, SIGNED_RANK, TimingTestName

ENV = {"cpu": "Test CPU", "cores": 2, "packages": {"keras": "3.15.1"}, "gpus": []}


def _cell(
    plugin: str,
    medians: list[float],
    backend: str = "jax",
    accuracy: float = 0.8,
    status: Status = Status.OK,
    total: int = 100,
    keras: str = "3.15.1",
) -> CellResult:
    processes = [StepTimeStats.from_fits([0.1] * 3, [0.1 + m * 0.01] * 3, 10, 1) for m in medians]
    return CellResult(
        plugin,
        backend,
        "cpu",
        "synthetic",
        status,
        error=None if status is Status.OK else "boom",
        params=Params(total, total, 0),
        step_time_ms=StepTimeSummary.from_processes(processes) if status is Status.OK else None,
        metrics={"test_accuracy": accuracy},
        fairness={"batch_size": 32, "jit_compile_requested": "auto", "dtype_policy": "float32"},
        versions={"keras": keras, backend: "1.0"},
    )


def _run(*cells: CellResult) -> RunResult:
    return RunResult("now", ENV, {"profile": "gate"}, list(cells))


def _noisy(center: float, n: int = 10, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(center * (1 + 0.01 * rng.standard_normal(n)))


def _verdicts(a: RunResult, b: RunResult, **kwargs) -> dict[str, str]:
    return {c.plugin: c.verdict for c in compare_runs(a, b, **kwargs).cells}


def test_a_clear_slowdown_above_the_threshold_is_a_regression():
    comparison = compare_runs(_run(_cell("m", _noisy(1.0))), _run(_cell("m", _noisy(1.2, seed=1))))
    (cell,) = comparison.cells
    assert cell.verdict == "regression"
    assert cell.ratio == pytest.approx(1.2, rel=0.02)
    assert cell.ratio_ci_low < 1.2 < cell.ratio_ci_high
    assert cell.p_adjusted < 0.01
    assert comparison.regressed


def test_verdicts_below_above_and_without_support():
    a = _run(
        _cell("same", _noisy(1.0)),
        _cell("slower", _noisy(1.0)),
        _cell("faster", _noisy(1.0)),
        _cell("single", [1.0]),
    )
    b = _run(
        _cell("same", _noisy(1.0, seed=5)),
        _cell("slower", _noisy(1.03, seed=6)),
        _cell("faster", _noisy(0.8, seed=7)),
        _cell("single", [1.5]),
    )
    assert _verdicts(a, b) == {
        "same": "same",
        "slower": "slower",  # significant, but within the 5% threshold
        "faster": "faster",
        "single": "inconclusive",  # +50% but one process per side cannot be tested
    }


def test_holm_correction_spans_the_cells():
    # 5 vs 5 fully separated: p = 1/252 = 0.004 < 0.01 alone, but not after Holm over 3 cells
    a = _run(*(_cell(f"m{i}", [1.0, 1.01, 1.02, 1.03, 1.04]) for i in range(3)))
    b = _run(*(_cell(f"m{i}", [1.2, 1.21, 1.22, 1.23, 1.24]) for i in range(3)))
    assert set(_verdicts(a, b).values()) == {"inconclusive"}
    one_a, one_b = _run(a.cells[0]), _run(b.cells[0])
    assert _verdicts(one_a, one_b) == {"m0": "regression"}
    assert not could_reject(5, 3, 0.01, MANN_WHITNEY)
    assert could_reject(5, 1, 0.01, MANN_WHITNEY)


def test_the_rule_names_its_test_and_files_keep_its_wording():
    assert Rule().timing_test is MANN_WHITNEY
    paired = Rule(test=TimingTestName.PAIRED)
    assert paired.timing_test is SIGNED_RANK
    recorded = paired.to_dict()["test"]
    assert recorded == "wilcoxon-signed-rank, one-sided, on log(B/A) of live process pairs"
    assert type(recorded) is str
    assert Rule().to_dict()["test"] == "mann-whitney-u, one-sided, on per-process medians"
    assert Rule(**paired.to_dict()) == paired  # a file's rule reads back
    assert Rule(test="mann-whitney-u, one-sided").test is TimingTestName.PER_PROCESS  # older


def test_status_params_and_accuracy_changes_are_regressions():
    a = _run(
        _cell("crashed", _noisy(1.0)),
        _cell("grew", _noisy(1.0)),
        _cell("worse", _noisy(1.0), accuracy=0.85),
    )
    b = _run(
        _cell("crashed", [], status=Status.FAILED),
        _cell("grew", _noisy(1.0, seed=3), total=120),
        _cell("worse", _noisy(1.0, seed=4), accuracy=0.80),
    )
    comparison = compare_runs(a, b)
    reasons = {c.plugin: (c.verdict, c.reason) for c in comparison.cells}
    assert reasons["crashed"][0] == "regression"
    assert "ok -> failed" in reasons["crashed"][1]
    assert reasons["grew"][0] == "regression"
    assert "100 -> 120" in reasons["grew"][1]
    assert reasons["worse"][0] == "regression"
    assert "0.850 -> 0.800" in reasons["worse"][1]
    tolerant = compare_runs(a, b, Rule(accuracy_tolerance=0.1))
    assert {c.plugin: c.verdict for c in tolerant.cells}["worse"] == "same"


def test_new_missing_and_incomparable_cells():
    a = _run(_cell("old", _noisy(1.0)), _cell("kept", _noisy(1.0)))
    b = _run(_cell("new", _noisy(1.0)), _cell("kept", _noisy(1.0, seed=2), keras="3.16.0"))
    comparison = compare_runs(a, b)
    by_plugin = {c.plugin: c for c in comparison.cells}
    assert by_plugin["old"].verdict == "missing"
    assert by_plugin["new"].verdict == "new"
    assert by_plugin["kept"].verdict == "incomparable"
    assert by_plugin["kept"].reason == "keras: 3.15.1 -> 3.16.0"
    assert not comparison.regressed
    assert _verdicts(a, b, ignore=["keras"])["kept"] == "same"
    assert _verdicts(a, b, check_fingerprint=False)["kept"] == "same"


def test_fingerprint_differences_name_the_field():
    old = {"machine": "x", "keras": "1"}
    assert fingerprint_differences(old, {**old, "machine": "y"}) == ["machine: x -> y"]


def test_comparison_serializes_without_nan():
    import json

    a, b = _run(_cell("m", [1.0])), _run(replace(_cell("m", [1.0]), status=Status.TIMEOUT))
    record = compare_runs(a, b).to_dict()
    json.dumps(record, allow_nan=False)
    assert record["kind"] == "kbench-comparison"
    assert record["summary"] == {"regressed": True, "counts": {"regression": 1}}


def test_each_tested_cell_states_the_slowdown_its_spread_could_detect():
    from harness.report.console import sensitivity_line

    rng = np.random.default_rng(5)

    def spread(cv: float) -> RunResult:
        return _run(_cell("m", list(np.exp(cv * rng.standard_normal(10)))))

    tight = compare_runs(spread(0.01), spread(0.01)).cells[0].detectable_slowdown
    wide = compare_runs(spread(0.10), spread(0.10)).cells[0].detectable_slowdown
    assert 0.05 < tight < wide
    one_each = compare_runs(_run(_cell("m", [1.0])), _run(_cell("m", [1.0])))
    assert one_each.cells[0].detectable_slowdown is None
    assert sensitivity_line(one_each) is None  # nothing was tested
    line = sensitivity_line(compare_runs(spread(0.01), spread(0.01)))
    assert line.startswith("detectable slowdown (95% of comparisons this size)")


def test_the_strict_reading_tests_against_the_threshold_not_against_a():
    a = [1.0 + 0.3 * i for i in range(12)]  # a level per process pair
    factors = [1.06, 1.04, 1.07, 1.05, 1.06, 1.03, 1.07, 1.06, 1.04, 1.06, 1.05, 1.07]
    b = [x * f for x, f in zip(a, factors, strict=True)]  # about 5.5% slower, every pair
    runs = _run(_cell("m", a)), _run(_cell("m", b))
    loose = Rule(test=TimingTestName.PAIRED)
    strict = Rule(test=TimingTestName.PAIRED, strict=True)
    (plain,) = compare_runs(*runs, loose).cells
    (tight,) = compare_runs(*runs, strict).cells
    assert plain.verdict == "regression"  # B is slower than A, by an estimated +5.5%
    assert plain.p_value == pytest.approx(0.5**12)
    assert tight.verdict == "inconclusive"  # not shown slower than A x 1.05
    assert tight.p_value > 0.1
    assert tight.detectable_slowdown > plain.detectable_slowdown
    assert strict.to_dict()["strict"] is True


def test_the_gate_family_counts_every_timed_cell_even_one_not_testable_yet():
    from harness.gate.ab import _timed_cells

    a = _run(_cell("m", [1.0, 1.1]), _cell("n", [1.0]), _cell("x", [1.0], status=Status.FAILED))
    b = _run(_cell("m", [1.0, 1.1]), _cell("n", [1.2]), _cell("x", [1.0]))
    (_, one_pair, _) = compare_runs(a, b, Rule(test=TimingTestName.PAIRED)).cells
    assert one_pair.p_value is None  # one process pair cannot be tested
    assert _timed_cells(a, b) == 2  # yet it is in the Holm family from the first look

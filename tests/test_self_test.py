"""``kbench ab --self-test``: the injected work (worker side, with a real backend in a fresh
process) and the gate's self-test commands and summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.gate.compare import Comparison, Rule, Side
from harness.gate.self_test import (
    ENV,
    MORE_PAIRS,
    SelfTestCell,
    given_of_a,
    injected_factor,
    self_test_cells,
    self_test_pythons,
    summary_lines,
)
from harness.records.schema import CellComparison, RunResult
from harness.worker import injected
from harness.worker.injected import Injection

CHILD = r"""
import json
import keras
import numpy as np
from harness import registry
from harness.run import RunSettings
from harness.worker import Session
from harness.worker import injected

calls = []
original = injected.busy
injected.busy = lambda n: calls.append(n) or original(n)
plugin = registry.discover()["dense_mlp"].plugin
session = Session(keras, plugin, RunSettings(batch_size=32), "jax")
x = np.random.default_rng(0).random((256, 784), dtype=np.float32)
y = np.arange(256) % 10
timing = session.time_steps(x, y, 10, window_steps=32, windows=2, predict=False)
lists = keras.callbacks.CallbackList(session._busy, model=session.build())
print(json.dumps({"injected": timing["step"].injected, "calls": calls,
                  "seconds": session.injection.seconds, "async": lists._async_train}))
"""


def test_a_self_test_worker_does_its_share_of_work_before_every_timed_batch():
    env = {**os.environ, "KERAS_BACKEND": "jax", ENV: "0.5"}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    record, seconds = measured["injected"], measured["seconds"]
    assert record["slowdown"] == 0.5
    assert record["base_ms"] > 0
    assert record["busy_ms"] == pytest.approx(0.5 * record["base_ms"], rel=1e-3, abs=1e-3)
    assert seconds > 0
    # every batch of the timed window pairs (2 x (32 + 64) steps at least) worked the same
    worked = measured["calls"]
    assert len(worked) >= 2 * (32 + 64)
    assert set(worked) == {seconds}
    assert measured["async"] is False  # Keras waits for each step before the work


def test_a_worker_outside_a_self_test_injects_nothing(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert Injection.from_env() is None
    monkeypatch.setenv(ENV, "0")
    zero = Injection.from_env()
    assert zero is not None
    assert zero.seconds == 0


@pytest.mark.parametrize("text", ["-0.1", "12", "fast"])
def test_a_bad_slowdown_in_the_environment_is_refused(monkeypatch, text):
    monkeypatch.setenv(ENV, text)
    with pytest.raises(ValueError, match="must be a fraction"):
        injected.requested()


def test_the_work_is_sized_from_the_process_own_step_time():
    injection = Injection(0.10)
    injection.size(0.020)  # 20 ms a step
    assert injection.seconds == pytest.approx(0.002)
    assert injection.record() == pytest.approx({"slowdown": 0.10, "base_ms": 20.0, "busy_ms": 2.0})


def test_the_work_is_sized_from_the_median_of_warmed_window_pairs():
    fits = iter([9.0, 18.0, 1.0, 2.0, 2.4, 1.0, 1.0, 2.2])  # 1 pair left out, then 3 pairs
    injection = Injection(0.10)
    injection.seconds = 5.0
    work_during_fits = []

    def fit(k: int) -> float:
        work_during_fits.append(injection.seconds)
        return next(fits)

    injection.size_from_window_pairs(fit, steps=100)
    assert set(work_during_fits) == {0.0}  # sized with the hook idle
    assert injection.base_ms == pytest.approx(12.0)  # per step: 10, 14, 12 ms; not 90
    assert injection.seconds == pytest.approx(0.0012)
    assert next(fits, None) is None


def test_the_work_spins_the_cpu_for_its_time():
    import time

    cpu = time.process_time()
    turns = injected.busy(0.05)
    assert turns > 0
    assert time.process_time() - cpu > 0.02  # computing, not sleeping


def test_both_sides_run_one_interpreter_and_only_b_is_given_work():
    pythons = self_test_pythons(("/venv/bin/python",), 1.10)
    assert pythons["A"] == ("env", f"{ENV}=0", "/venv/bin/python")
    assert pythons["B"] == ("env", f"{ENV}=0.1", "/venv/bin/python")
    assert injected_factor(pythons["B"]) == pytest.approx(1.10)
    assert injected_factor(pythons["A"]) == 1.0
    assert injected_factor(("/venv/bin/python",)) is None


def _comparison(*cells: CellComparison) -> Comparison:
    side = Side("A", {}, {})
    return Comparison(Rule(), side, side, list(cells))


def test_caught_means_a_regression_verdict():
    cells = [
        CellComparison("m/jax/cpu", "m", "jax", "cpu", verdict="regression", ratio=1.11),
        CellComparison("m/torch/cpu", "m", "torch", "cpu", verdict="inconclusive", ratio=1.08),
        CellComparison("n/jax/cpu", "n", "jax", "cpu", verdict="missing"),
    ]
    empty = RunResult("", {}, {}, [])
    found = self_test_cells(_comparison(*cells), empty, empty)
    assert [(c.key, c.caught) for c in found] == [("m/jax/cpu", True), ("m/torch/cpu", False)]
    lines = summary_lines(1.10, found)
    assert lines[0].startswith("m/jax/cpu: caught (regression; measured x1.110")
    assert lines[1].startswith("m/torch/cpu: not caught")
    assert lines[-2] == "self-test x1.1: 1 of 2 cells caught"
    assert lines[-1] == MORE_PAIRS  # a miss says how to buy power
    assert summary_lines(1.10, found[:1])[-1] == "self-test x1.1: 1 of 1 cells caught"


def test_the_work_given_is_a_share_of_the_paired_a_process_step(one_cell_run):
    timed_run = one_cell_run
    run_a, run_b = timed_run([2.0, 4.0, 1.0]), timed_run([9, 9, 9, 9], [0.2, 0.2, 0.3, 5.0])
    assert given_of_a(run_a, run_b) == {"m/jax/cpu": pytest.approx(0.1)}  # 10, 5, 30%; 4th alone
    assert given_of_a(run_a, timed_run([2.0])) == {}  # a side with no work given
    assert given_of_a(RunResult("", {}, {}, []), run_b) == {}


def test_the_summary_shows_the_work_given_against_a_and_against_b_itself(one_cell_run):
    timed_run = one_cell_run
    comparison = _comparison(
        CellComparison("m/jax/cpu", "m", "jax", "cpu", verdict="regression", ratio=1.12)
    )
    run_a, run_b = timed_run([2.0, 4.0, 1.0]), timed_run([2.2, 4.4, 1.1], [0.2, 0.2, 0.3])
    [cell] = self_test_cells(comparison, run_a, run_b)
    assert (cell.given, cell.given_of_a) == (pytest.approx(0.1), pytest.approx(0.1))
    line = summary_lines(1.1, [cell])[0]
    assert "work given +10.0% of A's step (+10.0% of B's own)" in line
    alone = SelfTestCell("m/jax/cpu", True, "regression", 1.12, 0.1)
    assert "work given +10.0% of its own step" in summary_lines(1.1, [alone])[0]


@pytest.mark.e2e
def test_kbench_ab_self_test_end_to_end(tmp_path, capsys):
    from harness import cli

    out = tmp_path / "self-test.json"
    args = ["ab", "--self-test", "1.5", "-p", "dense_mlp", "-b", "torch", "--profile", "smoke"]
    args += ["--dataset", "synthetic", "--device", "cpu", "--repeats", "3", "--no-confirm"]
    assert cli.main([*args, "--out", str(out)]) == 0  # a caught slowdown is not a failure
    shown = capsys.readouterr().out
    assert "self-test x1.5: " in shown
    assert "dense_mlp/torch/cpu: " in shown
    assert "of A's step (+50.0% of B's own)" in shown  # what B was given, against A too
    record = json.loads(out.read_text())
    assert record["ab"]["python_b"][:2] == ["env", f"{ENV}=0.5"]
    given = [p["injected"] for p in record["runs"]["b"]["cells"][0]["step_time_ms"]["processes"]]
    assert all(g["slowdown"] == 0.5 and g["busy_ms"] > 0 for g in given)
    untouched = record["runs"]["a"]["cells"][0]["step_time_ms"]["processes"]
    assert all(p["injected"]["busy_ms"] == 0 for p in untouched)


def test_self_test_with_a_second_interpreter_is_a_one_line_error(capsys):
    from harness import cli

    args = ["ab", "--self-test", "1.1", "--python-b", sys.executable, "-p", "dense_mlp"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--python-a only" in err

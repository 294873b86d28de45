"""kbench parity: real workers per backend, a passing set and a deliberately broken plugin."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness import datasets, registry
from harness.backends.parent import BACKENDS, backend_installed
from harness.parity.checks import ParityReport, run_parity
from harness.parity.verdicts import Judge, Tolerances
from harness.records.schema import CheckResult

KBENCH = [sys.executable, "-m", "harness"]

SHIFTY = """
from harness.plugin import ModelPlugin


def build(input_shape, num_classes):
    import keras

    stack = [keras.Input(shape=input_shape), keras.layers.Dense(16, activation="relu")]
    if keras.backend.backend() == "torch":  # deliberately backend-dependent
        stack.append(keras.layers.Dense(16, activation="relu"))
    stack.append(keras.layers.Dense(num_classes, activation="softmax"))
    return keras.Sequential(stack)


SHIFTY = ModelPlugin("shifty", "broken", "one more layer on torch", "flat", build)
"""


@pytest.fixture(scope="module")
def parity_report(tmp_path_factory):
    """Four built-ins and one backend-dependent plugin, in one ``kbench parity`` run."""
    folder = tmp_path_factory.mktemp("parity")
    plugin_file, out = folder / "shifty.py", folder / "parity.json"
    plugin_file.write_text(SHIFTY)
    plugins = "dense_dropout,cnn,dense_subclassed,dense_two_heads,shifty"
    command = [*KBENCH, "parity", "-p", plugins, "--plugin-path", str(plugin_file)]
    done = subprocess.run([*command, "--json", str(out)], capture_output=True, text=True)
    return done, json.loads(out.read_text())


def _builtins(report: dict) -> list[dict]:
    return [r for r in report["results"] if r["plugin"] != "shifty"]


def test_builtins_pass_every_check_on_every_backend(parity_report):
    _, report = parity_report
    results = _builtins(report)
    checks = {(r["plugin"], r["check"]) for r in results}
    assert len(checks) == 4 * 4
    assert all(r["status"] == "pass" for r in results), results


def test_measured_differences_are_reported(parity_report):
    _, report = parity_report
    results = _builtins(report)
    forward = [r for r in results if r["check"] == "forward"]
    assert {r["pair"] for r in forward} == {"jax~tensorflow", "jax~torch"}
    assert all(0.0 <= r["measured"] < 1e-4 for r in forward)
    training = [r for r in results if r["check"] == "training"]
    assert all(0.0 <= r["measured"] < 1e-2 for r in training)
    portability = [r for r in results if r["check"] == "portability"]
    assert len({r["pair"] for r in portability}) == 9  # every ordered pair, and round trips


def test_backend_dependent_plugin_fails_naming_check_and_backends(parity_report):
    done, report = parity_report
    assert done.returncode == 1, done.stdout + done.stderr
    assert report["passed"] is False
    assert "FAIL shifty build jax~torch" in done.stdout
    assert "layers differ: jax has 2, torch has 3" in done.stdout
    build = {r["pair"]: r["status"] for r in report["results"]
             if r["plugin"] == "shifty" and r["check"] == "build"}  # fmt: skip
    assert build["jax~torch"] == "fail"
    assert build["jax~tensorflow"] == "pass"


def test_unavailable_backend_does_not_fail_the_report():
    report = ParityReport(["jax", "torch"], 5, Tolerances())
    report.results.append(CheckResult("p", "build", "torch", "unavailable"))
    report.results.append(CheckResult("p", "forward", "jax~torch", "pass", 0.0, 1e-4))
    assert report.passed
    report.results.append(CheckResult("p", "training", "jax~torch", "fail", 0.1, 1e-3))
    assert not report.passed


def _measured(losses, nudged=None):
    return {"losses": losses, "losses_nudged": nudged or losses}


def test_training_check_uses_the_plugins_stated_tolerance_and_reports_the_floor():
    checker = Judge("bn", Tolerances(), training_tolerance=0.1)
    ref = _measured([2.0, 1.5, 1.2], nudged=[2.0, 1.5, 1.23])
    other = _measured([2.0, 1.55, 1.26])
    result = checker.training("jax~torch", ref, other)
    assert result.status == "pass"
    assert result.tolerance == 0.1
    assert result.measured == pytest.approx(0.05)
    assert "own 1-ulp floor 2.5e-02" in result.detail
    assert "stated tolerance" in result.detail
    strict = Judge("bn", Tolerances()).training("jax~torch", ref, other)
    assert strict.status == "fail"
    assert strict.tolerance == 1e-2


def test_training_check_fails_a_first_loss_mismatch_whatever_the_plugin_states():
    checker = Judge("bn", Tolerances(), training_tolerance=0.5)
    result = checker.training("jax~tensorflow", _measured([2.0, 1.5]), _measured([2.01, 1.5]))
    assert result.status == "fail"
    assert result.detail.startswith("the first loss, before any update, differs")


def test_plugin_rejects_a_non_positive_parity_tolerance():
    from harness.errors import PluginError
    from harness.plugin import ModelPlugin

    with pytest.raises(PluginError, match="parity_training_tolerance"):
        ModelPlugin("bad", "x", "x", "flat", lambda shape, n: None, parity_training_tolerance=0)


def _alone(backend: str) -> pytest.param:
    """One backend's case: in ``nox -s compat`` (its own install) and the e2e tier; the default
    tests check parity across all three backends above."""
    missing = pytest.mark.skipif(not backend_installed(backend), reason=f"{backend} not installed")
    return pytest.param(backend, marks=[pytest.mark.backend, pytest.mark.e2e, missing], id=backend)


@pytest.mark.parametrize("backend", [_alone(b) for b in BACKENDS])
def test_one_backend_alone_checks_what_it_can(tmp_path, backend):
    out = tmp_path / "parity.json"
    cmd = [*KBENCH, "parity", "-p", "dense_mlp", "-b", backend, "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    results = {(r["check"], r["pair"]): r for r in json.loads(out.read_text())["results"]}
    round_trip = f"{backend}->{backend}"
    assert set(results) == {("build", backend), ("portability", round_trip), ("training", backend)}
    assert all(r["status"] == "pass" for r in results.values())
    assert "no other backend" in results["build", backend]["detail"]
    assert results["portability", round_trip]["measured"] < 1e-6
    assert results["training", backend]["measured"] < 1e-2  # its own one-ulp floor


def test_a_plugin_with_declared_inputs_is_unavailable_not_failed():
    plugin = registry.discover()["conv1d_regression"].plugin
    report = run_parity([plugin], ["jax", "torch"], datasets.load_dataset("synthetic"))
    assert report.passed
    assert {r.status for r in report.results} == {"unavailable"}
    assert len(report.results) == 4 * 2
    assert "declared inputs" in report.results[0].detail

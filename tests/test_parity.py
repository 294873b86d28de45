"""kbench parity: real workers per backend, a passing set, a plugin with declared inputs and a
deliberately broken plugin."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import datasets, registry
from harness.backends.parent import BACKENDS, backend_installed
from harness.parity.checks import ParityReport, run_parity
from harness.parity.probe import Probe, make_probe
from harness.parity.verdicts import Judge, Tolerances
from harness.plugin import ModelPlugin, floats, language_model, regression, token_ids
from harness.records.schema import CheckResult

KBENCH = [sys.executable, "-m", "harness"]
DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"

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

MIXED = """
from harness.plugin import ModelPlugin, floats, regression, token_ids


def build(inputs, task):
    import keras

    tokens = keras.Input(shape=(6,), dtype="int64", name="tokens")
    readings = keras.Input(shape=(5, 2), name="readings")
    words = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(40, 4)(tokens))
    both = keras.layers.Concatenate()([words, keras.layers.Flatten()(readings)])
    out = keras.layers.Reshape((2, 3))(keras.layers.Dense(6)(both))
    return keras.Model({"tokens": tokens, "readings": readings}, out)


MIXED = ModelPlugin(
    "mixed_inputs", "declared", "token ids and a time series to a 2x3 regression",
    build=build, inputs={"tokens": token_ids(6, 40, "int64"), "readings": floats(5, 2)},
    task=regression(2, 3),
)
"""
BUILTINS = ("dense_dropout", "cnn", "dense_subclassed", "dense_two_heads")


@pytest.fixture(scope="module")
def parity_report(tmp_path_factory):
    """Four built-ins, a plugin with declared inputs and one backend-dependent plugin, in one
    ``kbench parity`` run."""
    folder, out = tmp_path_factory.mktemp("parity"), tmp_path_factory.mktemp("out") / "p.json"
    (folder / "shifty.py").write_text(SHIFTY)
    (folder / "mixed.py").write_text(MIXED)
    plugins = ",".join([*BUILTINS, "mixed_inputs", "shifty"])
    command = [*KBENCH, "parity", "-p", plugins, "--plugin-path", str(folder)]
    done = subprocess.run([*command, "--json", str(out)], capture_output=True, text=True)
    return done, json.loads(out.read_text())


def _builtins(report: dict) -> list[dict]:
    return [r for r in report["results"] if r["plugin"] in BUILTINS]


@pytest.mark.slow  # the shared parity run of every built-in on every backend: ~3 min
def test_builtins_pass_every_check_on_every_backend(parity_report):
    _, report = parity_report
    results = _builtins(report)
    checks = {(r["plugin"], r["check"]) for r in results}
    assert len(checks) == 4 * 4
    assert all(r["status"] == "pass" for r in results), results


@pytest.mark.slow  # the shared parity run of every built-in on every backend: ~3 min
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


@pytest.mark.slow  # the shared parity run of every built-in on every backend: ~3 min
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


def test_forward_check_says_when_the_outputs_hardly_vary():
    judge, flat = Judge("m", Tolerances()), np.full(20, 0.1)
    vacuous = judge.forward("jax~torch", flat, flat, {})
    assert vacuous.status == "pass"
    assert "hardly vary over the probe (spread 0.0e+00)" in vacuous.detail
    varied = np.linspace(0.0, 1.0, 20)
    assert judge.forward("jax~torch", varied, varied, {}).detail == "max abs diff"


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


@pytest.mark.slow  # the shared parity run of every built-in on every backend: ~3 min
def test_declared_token_ids_and_floats_by_name_pass_every_check(parity_report):
    done, report = parity_report
    results = [r for r in report["results"] if r["plugin"] == "mixed_inputs"]
    assert {r["check"] for r in results} == {"build", "forward", "portability", "training"}
    assert all(r["status"] == "pass" for r in results), results
    assert len(results) == 2 + 2 + 9 + 2
    assert all(r["measured"] < 1e-4 for r in results if r["check"] in ("forward", "portability"))
    assert "on spec_synthetic and synthetic" in " ".join(done.stdout.split())


def test_a_declared_plugins_probe_is_its_own_synthetic_data_by_name(tmp_path):
    inputs = {"tokens": token_ids(6, 40, "int64"), "readings": floats(5, 2)}
    mixed = ModelPlugin("m", "x", "x", build=print, inputs=inputs, task=regression(2, 3))
    data = datasets.load_dataset("synthetic")
    make_probe(mixed, data, steps=3, seed=0).save(tmp_path)
    probe = Probe.load(tmp_path)
    assert set(probe.x_probe) == set(probe.x_train) == {"tokens", "readings"}
    assert probe.x_probe["tokens"].dtype == "int64"
    assert 0 <= probe.x_train["tokens"].min() <= probe.x_train["tokens"].max() < 40
    assert probe.x_train["readings"].shape == (3 * 32, 5, 2)
    assert probe.y_probe.shape == (64, 2, 3)
    assert probe.y_train.shape == (96, 2, 3)
    lm = ModelPlugin("lm", "x", "x", build=print, inputs=token_ids(8, 30), task=language_model())
    made = make_probe(lm, data, steps=2, seed=0)
    assert made.x_train.shape == made.y_train.shape == (64, 8)
    assert (made.x_train[:, 1:] == made.y_train[:, :-1]).all()  # the targets: inputs shifted


def test_a_plugin_needing_a_missing_module_is_unavailable_and_starts_no_worker():
    needs = {"no_such_module_for_kbench": "pip install it"}
    plugin = ModelPlugin("hub", "x", "x", build=print, inputs=floats(3), task=regression(),
                         requires=needs)  # fmt: skip
    report = run_parity([plugin], ["jax", "torch"], datasets.load_dataset("synthetic"))
    assert report.passed
    assert {r.status for r in report.results} == {"unavailable"}
    assert len(report.results) == 4 * 2
    assert "needs no_such_module_for_kbench (pip install it)" in report.results[0].detail


@pytest.mark.e2e
def test_the_zoo_and_the_docs_declared_plugins_pass_parity(tmp_path):
    docs = DOCS.read_text()
    example = re.search(r"<!-- example: my_text_models.py -->\n```\w+\n(.*?)```", docs, re.S)
    (tmp_path / "my_text_models.py").write_text(example.group(1))
    out = tmp_path / "parity.json"
    command = [*KBENCH, "parity", "-p", "zoo,mine", "--plugin-path", str(tmp_path)]
    done = subprocess.run([*command, "--json", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())["results"]
    zoo = registry.select(registry.discover(), ["zoo"])
    assert {r["plugin"] for r in results} == {
        *(p.name for p in zoo),
        "topic_classifier",
        "sensor_regression",
    }
    unmet = {p.name for p in zoo if p.unmet_requirement()}  # e.g. keras-hub not installed
    for r in results:
        assert r["status"] == ("unavailable" if r["plugin"] in unmet else "pass"), r

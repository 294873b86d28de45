"""Plugins that declare their inputs and task: the author's example runs as written on
synthetic data, reports its quality figure by name, and a model whose output does not fit
its task fails only its own cell; a plugin that needs a module this Python lacks is
unavailable without starting a worker; the zoo runs on every backend."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from harness import registry
from harness.errors import PluginError
from harness.executors.local import LocalExecutor
from harness.plugin import ModelPlugin, classification, floats
from harness.records.frames import cells_frame
from harness.records.schema import Cell, RunResult, Status
from harness.report import tables
from harness.run import driver
from harness.run.plan import plan_run
from harness.run.settings import RunSettings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
ZOO = ("conv1d_regression", "bilstm_text", "mobilenet", "transformer_text", "gpt_tiny", "gpt2_hub")
WRONG_OUTPUT = """
from harness.plugin import ModelPlugin, classification, floats


def build(inputs, task):
    import keras

    return keras.Sequential([keras.Input(shape=inputs.shape), keras.layers.Dense(3)])


WRONG = ModelPlugin(
    name="wrong_output", family="broken", description="3 outputs for a 5-class task",
    build=build, inputs=floats(6), task=classification(5),
)
"""


def doc_example(name: str) -> str:
    """The code block that follows ``<!-- example: NAME -->`` in docs/plugins.md."""
    match = re.search(
        rf"<!-- example: {re.escape(name)} -->\n```\w+\n(.*?)```", DOCS.read_text(), re.S
    )
    assert match, f"docs/plugins.md has no example {name}"
    return match.group(1)


@pytest.fixture(scope="module")
def spec_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The docs' two plugins (one backend each) and a plugin whose model does not fit its
    task, in one smoke run whose --dataset is the MNIST-shaped synthetic one."""
    folder = tmp_path_factory.mktemp("spec_plugins")
    (folder / "my_text_models.py").write_text(doc_example("my_text_models.py"))
    (folder / "wrong_output.py").write_text(WRONG_OUTPUT)
    settings = RunSettings(
        dataset="synthetic", profile="smoke", device="cpu", plugin_paths=(str(folder),)
    )
    cells = [
        Cell("topic_classifier", "torch", "cpu"),
        Cell("wrong_output", "jax", "cpu"),
        Cell("sensor_regression", "jax", "cpu"),
    ]
    plan = replace(plan_run(settings), cells=cells)
    return driver.execute(plan, driver.load_data(plan), LocalExecutor())


def _cell(run: RunResult, plugin: str):
    return next(c for c in run.cells if c.plugin == plugin)


def test_declared_plugins_train_on_their_own_synthetic_data(spec_run):
    for name in ("topic_classifier", "sensor_regression"):
        cell = _cell(spec_run, name)
        assert cell.status is Status.OK, f"{name}: {cell.error}\n{cell.log_tail}"
        assert cell.dataset == "spec_synthetic"
    assert spec_run.config["dataset"]["used"] == "synthetic"  # the run's, for the others
    topics = _cell(spec_run, "topic_classifier")
    assert topics.params.total == 2000 * 16 + 16 * 4 + 4
    assert topics.quality["name"] == "accuracy"
    assert topics.metrics["test_accuracy"] == topics.quality["value"]
    assert 0 < topics.metrics["chance_accuracy"] < 0.5


def test_a_regression_reports_its_named_figure_and_no_accuracy(spec_run):
    cell = _cell(spec_run, "sensor_regression")
    assert cell.quality["name"] == "mae"
    assert cell.quality["higher_is_better"] is False
    assert cell.quality["value"] == cell.metrics["test_mae"]
    assert "test_accuracy" not in cell.metrics
    assert "chance_accuracy" not in cell.metrics
    assert "quality" not in cell.timings_s
    table = tables.results_table(cells_frame(spec_run))
    row = next(r for r in table.rows if r[0].text == "sensor_regression")
    assert any(c.text.startswith("mae ") for c in row)
    assert "quality" in [c.header for c in table.columns]


def test_a_model_that_does_not_fit_its_task_fails_only_its_cell(spec_run):
    cell = _cell(spec_run, "wrong_output")
    assert cell.status is Status.FAILED
    assert "'wrong_output'" in cell.error
    assert "expected a per-sample shape of (5,)" in cell.error
    assert "Received: output_shape=(3,)" in cell.error
    assert "--dataset synthetic" in cell.repro


NEEDS_MISSING = """
from harness.plugin import ModelPlugin, classification, floats


def build(inputs, task):
    raise AssertionError("an unavailable cell must never build")


NEEDY = ModelPlugin(
    name="needy", family="test", description="needs a module nobody has", build=build,
    inputs=floats(4), task=classification(2),
    requires={"kbench_no_such_module": "pip install it"},
)
"""


def test_a_plugin_needing_a_missing_module_is_unavailable_without_a_worker(tmp_path):
    path = tmp_path / "needy.py"
    path.write_text(NEEDS_MISSING)
    settings = RunSettings(
        plugins=("needy",), dataset="synthetic", profile="smoke", device="cpu",
        backends=("jax", "torch"), plugin_paths=(str(path),),
    )  # fmt: skip
    plan = plan_run(settings)
    assert plan.requires == {"needy": {"kbench_no_such_module": "pip install it"}}
    run = driver.execute(plan, driver.load_data(plan), LocalExecutor())
    assert [(c.backend, c.status) for c in run.cells] == [
        ("jax", Status.UNAVAILABLE),
        ("torch", Status.UNAVAILABLE),
    ]
    reason = run.cells[0].error
    assert reason.startswith("needs kbench_no_such_module (pip install it): not importable by ")
    assert sys.executable in reason
    assert run.cells[0].step_time_ms is None


def test_requires_names_importable_modules_with_how_to_get_them():
    def build(inputs, task):
        raise AssertionError("never built")

    spec = {"build": build, "inputs": floats(4), "task": classification(2)}
    importable = ModelPlugin("a", "t", "d", requires={"json": "the standard library"}, **spec)
    assert importable.unmet_requirement() is None
    with pytest.raises(PluginError, match=r"'b' is malformed: requires must map module names"):
        ModelPlugin("b", "t", "d", requires=("keras_hub",), **spec)


def test_the_zoo_is_listed_in_its_docstring_and_outside_the_default_run():
    zoo = {n: r.plugin for n, r in registry.discover().items() if r.plugin.family == "zoo"}
    assert tuple(zoo) == ZOO
    assert not any(p.in_default_run for p in zoo.values())
    assert all(f"``{name}``" in sys.modules["plugins.zoo"].__doc__ for name in zoo)
    assert zoo["mobilenet"].inputs.shape == (32, 32, 3)
    assert zoo["gpt_tiny"].task.kind == zoo["gpt2_hub"].task.kind == "language_model"
    assert dict(zoo["gpt2_hub"].requires) == {"keras_hub": "pip install keras-hub"}


@pytest.mark.e2e
def test_the_zoo_runs_on_every_backend(tmp_path):
    """Every zoo plugin ok on JAX, TensorFlow and PyTorch; gpt2_hub, where keras_hub cannot
    be imported, unavailable with the reason (the run's exit status still 0)."""
    hub = registry.discover()["gpt2_hub"].plugin.unmet_requirement()
    out = tmp_path / "zoo.json"
    command = [sys.executable, "-m", "harness", "run", "-p", "zoo", "--profile", "smoke"]
    command += ["--dataset", "synthetic", "--device", "cpu", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    cells = json.loads(out.read_text())["cells"]
    expected = {(name, b): "ok" for name in ZOO for b in ("jax", "tensorflow", "torch")}
    if hub is not None:
        expected.update({("gpt2_hub", b): "unavailable" for b in ("jax", "tensorflow", "torch")})
    assert {(c["plugin"], c["backend"]): c["status"] for c in cells} == expected, [
        (c["plugin"], c["backend"], c["error"]) for c in cells if c["status"] != "ok"
    ]
    assert all(c["error"] == hub for c in cells if c["status"] == "unavailable")


def test_a_run_whose_only_missing_cells_are_an_optional_plugins_exits_0(tmp_path):
    (tmp_path / "needy.py").write_text(NEEDS_MISSING)
    out = tmp_path / "needy.json"
    command = [sys.executable, "-m", "harness", "run", "-p", "needy", "-b", "jax"]
    options = ["--plugin-path", str(tmp_path), "--dataset", "synthetic", "--profile", "smoke"]
    done = subprocess.run([*command, *options, "--device", "cpu", "--out", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (cell,) = json.loads(out.read_text())["cells"]
    assert cell["status"] == "unavailable"
    assert "needs kbench_no_such_module" in cell["error"]

"""The plugin catalogue: regularization, API variants, multi-output, skips, the author's guide."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from harness import cli
from harness.executors.local import LocalExecutor
from harness.plugin import ModelPlugin
from harness.records.schema import Cell, Status
from harness.run import driver, plan
from harness.run.plan import plan_run
from harness.run.settings import RunSettings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
KBENCH = [sys.executable, "-m", "harness"]
SMOKE = ["--profile", "smoke", "--dataset", "synthetic", "--device", "cpu"]


def doc_example(name: str) -> str:
    """The code block that follows ``<!-- example: NAME -->`` in docs/plugins.md."""
    text = DOCS.read_text()
    match = re.search(rf"<!-- example: {re.escape(name)} -->\n```\w+\n(.*?)```", text, re.S)
    assert match, f"docs/plugins.md has no example {name}"
    return match.group(1)


@pytest.fixture(scope="module")
def catalogue_run():
    """Multi-output, subclassed, BatchNorm and early-stopping plugins, one backend each."""
    settings = RunSettings(dataset="synthetic", profile="smoke", device="cpu", epochs=4)
    cells = [
        Cell("dense_two_heads", "jax", "cpu"),
        Cell("dense_subclassed", "tensorflow", "cpu"),
        Cell("dense_batchnorm", "torch", "cpu"),
        Cell("dense_early_stopping", "torch", "cpu"),
    ]
    plan = replace(plan_run(settings), cells=cells)
    return {
        c.plugin: c for c in driver.execute(plan, driver.load_data(plan), LocalExecutor()).cells
    }


@pytest.mark.slow  # the shared run of four catalogue plugins: ~2 min
def test_catalogue_plugins_train(catalogue_run):
    for name, cell in catalogue_run.items():
        assert cell.status is Status.OK, f"{name}: {cell.error}\n{cell.log_tail}"


@pytest.mark.slow  # the shared run of four catalogue plugins: ~2 min
def test_two_heads_report_both_outputs(catalogue_run):
    cell = catalogue_run["dense_two_heads"]
    assert cell.metrics["test_accuracy"] == cell.metrics["test_label_accuracy"]
    assert "test_group_accuracy" in cell.metrics
    assert {"label_accuracy", "group_accuracy", "val_label_accuracy"} <= set(cell.history)


@pytest.mark.slow  # the shared run of four catalogue plugins: ~2 min
def test_early_stopping_is_recorded(catalogue_run):
    cell = catalogue_run["dense_early_stopping"]
    stop = cell.early_stopping
    assert stop["monitor"] == "val_loss"
    assert stop["patience"] == 2
    assert stop["restore_best_weights"] is True
    assert 1 <= stop["best_epoch"] <= cell.epochs_run <= 4
    assert cell.epochs_run == len(cell.history["loss"])
    if stop["stopped_epoch"] is not None:
        assert stop["stopped_epoch"] == cell.epochs_run
    assert catalogue_run["dense_batchnorm"].early_stopping is None


def test_declared_skips_become_skipped_cells(tmp_path):
    def build(shape, n):
        raise AssertionError("a skipped cell must never build")

    plugin = ModelPlugin("no_torch", "t", "d", "flat", build, skip={"torch": "needs XLA"})
    cells = plan.expand([plugin], ["jax", "torch"], ["cpu", "gpu"])
    assert plan.skip_reasons([plugin], cells) == {
        "no_torch/torch/cpu": "needs XLA",
        "no_torch/torch/gpu": "needs XLA",
    }
    assert plugin.skip_reason("jax", "cpu") is None
    device_skip = ModelPlugin("x", "t", "d", "flat", build, skip={"jax/gpu": "no"})
    assert device_skip.skip_reason("jax", "gpu") == "no"
    assert device_skip.skip_reason("jax", "cpu") is None


def test_skipped_cell_does_not_fail_the_run(tmp_path):
    plugin_file = tmp_path / "skippy.py"
    plugin_file.write_text(
        "from harness.plugin import ModelPlugin\n"
        "def build(shape, n):\n    raise AssertionError('never built')\n"
        "SKIPPY = ModelPlugin('skippy', 't', 'd', 'flat', build, skip={'cpu': 'GPU only'})\n"
    )
    out = tmp_path / "r.json"
    command = [*KBENCH, "run", "--plugin-path", str(plugin_file), "-p", "skippy", *SMOKE]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    cells = json.loads(out.read_text())["cells"]
    assert {(c["status"], c["error"]) for c in cells} == {("skipped", "GPU only")}


@pytest.mark.e2e
def test_docs_example_and_skeleton_run_as_written(tmp_path):
    example = tmp_path / "my_models.py"
    example.write_text(doc_example("my_models.py"))
    assert cli.main(["new-plugin", "my_skeleton", "--dir", str(tmp_path)]) == 0
    assert cli.main(["new-plugin", "my_skeleton", "--dir", str(tmp_path)]) == 2
    out = tmp_path / "r.json"
    command = [*KBENCH, "run", "--plugin-path", str(example)]
    command += ["--plugin-path", str(tmp_path / "my_skeleton.py")]
    command += ["-p", "tiny_mlp,tiny_cnn,my_skeleton", "-b", "torch", *SMOKE, "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    cells = json.loads(out.read_text())["cells"]
    assert [(c["plugin"], c["status"]) for c in cells] == [
        ("tiny_mlp", "ok"),
        ("tiny_cnn", "ok"),
        ("my_skeleton", "ok"),
    ]
    assert cells[0]["params"]["total"] == 784 * 64 + 64 + 64 * 10 + 10


def test_installed_third_party_package_is_found_by_entry_point(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "my_models.py").write_text(doc_example("my_models.py"))
    (source / "pyproject.toml").write_text(doc_example("pyproject.toml"))
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    pip += ["--no-build-isolation", "--target", str(site), str(source)]
    subprocess.run(pip, check=True, capture_output=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    listed = subprocess.run(
        [*KBENCH, "list", "--json", "--no-params"], env=env, capture_output=True, text=True
    )
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert plugins["tiny_mlp"]["origin"].startswith("entry point 'tiny_mlp'")
    out = tmp_path / "r.json"
    done = subprocess.run(
        [*KBENCH, "run", "-p", "tiny_mlp", "-b", "jax", *SMOKE, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(out.read_text())["cells"][0]["status"] == "ok"


def test_list_groups_the_catalogue_with_parameter_counts(capsys, list_describes_once):
    assert cli.main(["list", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in info["plugins"]}
    assert by_name["dense_batchnorm"]["params"]["non_trainable"] == 1_344
    assert by_name["dense_l2"]["family"] == "regularization"
    assert cli.main(["list"]) == 0
    text = capsys.readouterr().out
    assert "regularization" in text
    assert "474,730" in text
    assert "eats" in text  # each plugin's inputs and task (tests/test_tables.py: the texts)

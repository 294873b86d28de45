"""Native references (``kbench run --native``): each is the Keras model (same outputs and
losses from the same weights, real frameworks in fresh processes), a broken one is caught,
and the cells, records and tables that carry them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.records.frames import cells_frame
from harness.records.schema import Cell, CellResult, Status
from harness.report.native import native_table
from harness.run.plan import plan_run
from harness.run.settings import RunSettings

CHILD = r"""
import dataclasses, json, sys
import keras
import numpy as np
from harness import registry, synthetic
from harness.native import make_reference
from harness.native.same_model import check
from harness.native.spec import layer_specs
from harness.worker.native_cell import loss_kind

backend, variant, name, broken = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
plugin = registry.discover()[name].plugin
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
if plugin.task is None:
    shape = (784,) if plugin.input_kind == "flat" else (28, 28, 1)
    model = plugin.build(shape, 10)
    x = rng.random((160, *shape), dtype=np.float32)
    y = rng.integers(0, 10, 160)
else:
    model = plugin.build(plugin.inputs, plugin.task)
    data = synthetic.generate(plugin.inputs, plugin.task, 160, 8, 0)
    x, y = data.x_train, data.y_train
model.compile(optimizer="adam", loss=plugin.training.loss)
specs = layer_specs(model)
if broken:  # a reference whose last layer's first bias is off by a little
    last = specs[-1]
    bias = last.weights[1].copy()
    bias[0] += 0.05
    specs[-1] = dataclasses.replace(last, weights=(last.weights[0], bias))
reference = make_reference(backend, variant, specs, loss_kind(plugin))
found = check(model, reference, x, y, 32)
print(json.dumps(found.to_dict()))
"""

SLOW = pytest.mark.slow  # the default tier checks one; the costly tier every one
CASES = [
    ("torch", "eager", "dense_mlp"),
    pytest.param("jax", "jit", "dense_mlp", marks=SLOW),
    pytest.param("tensorflow", "function", "dense_mlp", marks=SLOW),
    pytest.param("tensorflow", "xla", "cnn", marks=SLOW),
    pytest.param("jax", "jit", "cnn", marks=SLOW),
    pytest.param("tensorflow", "function", "cnn", marks=SLOW),
    pytest.param("torch", "eager", "cnn", marks=SLOW),
    pytest.param("jax", "jit", "conv1d_regression", marks=SLOW),
    pytest.param("tensorflow", "function", "conv1d_regression", marks=SLOW),
    pytest.param("torch", "eager", "conv1d_regression", marks=SLOW),
]


def _check(backend: str, variant: str, plugin: str, broken: bool = False) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend}
    args = [sys.executable, "-c", CHILD, backend, variant, plugin, "1" if broken else "0"]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("backend", "variant", "plugin"), CASES, ids=lambda v: str(v))
def test_each_native_reference_is_the_keras_model(backend, variant, plugin):
    found = _check(backend, variant, plugin)
    assert found["passed"], found
    assert found["max_output_diff"] <= 1e-4
    assert len(found["native_losses"]) == 5


@pytest.mark.slow
def test_the_compiled_torch_reference_is_the_keras_model():
    assert _check("torch", "compiled", "cnn")["passed"]


@pytest.mark.parametrize("backend", ["torch", pytest.param("jax", marks=SLOW)])
def test_a_native_reference_that_is_not_the_model_is_caught(backend):
    found = _check(backend, "jit" if backend == "jax" else "eager", "dense_mlp", broken=True)
    assert not found["passed"]
    assert found["max_output_diff"] > 1e-3


def test_native_cells_follow_each_keras_cell_of_a_plugin_that_has_them():
    settings = RunSettings(plugins=("dense_mlp", "dense_dropout"), device="cpu", native=True)
    keys = [c.key for c in plan_run(settings).cells]
    assert keys[:5] == [
        "dense_mlp/jax/cpu",
        "dense_mlp/jax/cpu/native-jit",
        "dense_mlp/tensorflow/cpu",
        "dense_mlp/tensorflow/cpu/native-function",
        "dense_mlp/tensorflow/cpu/native-xla",
    ]
    assert "dense_mlp/torch/cpu/native-compiled" in keys
    assert not any(k.startswith("dense_dropout/") and "native" in k for k in keys)
    assert "--native" in settings.command_for("dense_mlp", "jax", "cpu", "synthetic")
    plain = RunSettings(plugins=("dense_mlp",), device="cpu")
    assert not any(c.native for c in plan_run(plain).cells)


def _result(cell: Cell, ms: float, status: Status = Status.OK) -> dict:
    from harness.records.steptime import StepTimeStats, StepTimeSummary

    stats = StepTimeStats.from_fits([0.1] * 3, [0.1 + ms * 0.01] * 3, 10, 1)
    record = CellResult.not_run(cell, "synthetic", status, "boom").to_dict()
    if status is Status.OK:
        record.update(error=None, step_time_ms=StepTimeSummary.from_processes([stats]).to_dict())
    return record


def test_the_native_table_shows_keras_over_native_per_variant():
    keras_cell = Cell("dense_mlp", "torch", "cpu")
    run = {
        "config": {},
        "cells": [
            _result(keras_cell, 6.0),
            _result(Cell("dense_mlp", "torch", "cpu", native="eager"), 3.0),
            _result(Cell("dense_mlp", "torch", "cpu", native="compiled"), 2.0, Status.FAILED),
        ],
    }
    frame = cells_frame(run)
    native = frame[frame["native"].notna()]
    assert list(native["key"]) == [
        "dense_mlp/torch/cpu/native-eager",
        "dense_mlp/torch/cpu/native-compiled",
    ]
    assert native["keras_over_native"].iloc[0] == pytest.approx(2.0)
    table = native_table(frame)
    assert table is not None
    (row,) = table.rows
    assert [c.text for c in row] == ["dense_mlp", "torch/cpu", "6.000", "3.000 (x2.00)", "failed"]
    assert native_table(frame[frame["native"].isna()]) is None
    assert CellResult.from_dict(run["cells"][1]).cell.key.endswith("/native-eager")


@pytest.mark.e2e
def test_kbench_run_native_end_to_end(tmp_path, capsys):
    from harness import cli

    out = tmp_path / "native.json"
    args = ["run", "-p", "dense_mlp", "-b", "jax,torch", "--device", "cpu", "--profile", "smoke"]
    assert cli.main([*args, "--dataset", "synthetic", "--native", "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "What Keras costs" in shown
    cells = json.loads(out.read_text())["cells"]
    natives = [c for c in cells if c.get("native")]
    assert {c["native"]["variant"] for c in natives} == {"jit", "eager", "compiled"}
    assert all(c["status"] == "ok" and c["native"]["same_model"]["passed"] for c in natives)


OWN_REFERENCE = """
from harness.native import make_reference
from harness.native.spec import layer_specs
from harness.plugin import ModelPlugin
from plugins.dense import build_dense_mlp


def make_mine(model, loss):
    return make_reference("torch", "eager", layer_specs(model), loss)


MINE = ModelPlugin(
    name="mine",
    family="dense",
    description="dense_mlp with its own torch reference",
    input_kind="flat",
    build=build_dense_mlp,
    native={"torch": {"handmade": make_mine}},
)
"""

CHILD_OWN = r"""
import json, sys
import keras
import numpy as np
from harness import registry
from harness.run import RunSettings
from harness.worker import Session
from harness.worker.native_cell import time_native

plugin = registry.discover([sys.argv[1]])["mine"].plugin
session = Session(keras, plugin, RunSettings(batch_size=32), "torch")
x = np.random.default_rng(0).random((320, 784), dtype=np.float32)
y = np.arange(320) % 10
found = time_native(session, "handmade", x, y, 10, windows=2)
print(json.dumps({**found["native"], "ms": found["step"].median}))
"""


def test_a_plugin_gives_its_own_native_reference(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(OWN_REFERENCE)
    settings = RunSettings(plugins=("mine",), plugin_paths=(str(path),), device="cpu", native=True)
    keys = [c.key for c in plan_run(settings).cells]
    assert "mine/torch/cpu/native-handmade" in keys
    assert not any(k.startswith("mine/jax/cpu/native") for k in keys)
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD_OWN, str(path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["variant"] == "handmade"
    assert found["framework"] == "torch"
    assert found["same_model"]["passed"]
    assert found["ms"] > 0

"""The FLOP counter against closed forms, the count read from real Keras models, and a real
tiny run's cell (the shared smoke run's) with its measured peak and achieved GFLOP/s.

The count of every built-in plugin on every backend: ``tests/test_plugins.py`` (it builds
them all once per backend already).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from harness import cli
from harness.backends.parent import backend_installed
from harness.errors import HarnessError
from harness.records.check import check_file
from harness.records.efficiency import FlopCount, MeasuredPeak, Rate
from harness.records.files import read_run
from harness.records.schema import CellResult, Status
from harness.records.shapes import RunShape
from harness.records.steptime import StepTimeStats, StepTimeSummary
from harness.run import driver
from harness.worker.flops import LayerCall, StepSpec, count_step, layer_cost, optimizer_extra

B = 32
SCE = {"output": "sparse_categorical_crossentropy"}


def _loss_and_accuracy(classes: int) -> float:
    """Sparse categorical crossentropy (6 forward + 5 backward per class, 1 for the batch
    mean) and the accuracy metric (argmax, compare, count), per step."""
    return B * (classes * (6 + 5) + 1) + B * (classes + 2)


def _dense(n_in: int, n_out: int, activation: str = "softmax") -> LayerCall:
    params = n_in * n_out + n_out
    return LayerCall(
        "d", "Dense", ((n_in,),), (n_out,), (n_in, n_out), True, params, params, activation
    )


def test_one_dense_layer_in_closed_form():
    step = StepSpec({"output": (10,)}, SCE, {"output": ("accuracy",)}, "adam", 0, 7850)
    count = count_step([_dense(784, 10)], step, B)
    matmul = 2 * 784 * 10  # one multiply-add = 2 FLOPs, per sample
    assert count.forward == B * (matmul + 10 + 5 * 10)  # + bias + softmax
    assert count.backward == B * (matmul + 10 + 4 * 10)  # the first layer: no input gradient
    assert count.loss == _loss_and_accuracy(10)
    assert count.optimizer == 12 * 7850  # Adam: 12 per trainable parameter
    assert count.total == count.forward + count.backward + count.loss + count.optimizer
    assert count.largest_matmul == [B, 784, 10]
    assert count.bytes_moved > 0
    assert count.intensity > 0
    assert (count.counted_by, count.uncounted) == ("harness", [])


def test_a_layer_after_a_trainable_one_also_computes_its_input_gradient():
    hidden, head = _dense(784, 32, "relu"), _dense(32, 10)
    step = StepSpec({"output": (10,)}, SCE, {}, "sgd", 0, 0)
    count = count_step([hidden, head], step, 1)
    assert count.backward == (2 * 784 * 32 + 32 + 32) + (4 * 32 * 10 + 10 + 40)


def test_a_convolution_counts_every_window_position_and_tap():
    conv = LayerCall("c", "Conv2D", ((28, 28, 1),), (14, 14, 8), (3, 3, 1, 8), True, 80, 80, "relu")
    forward, backward, matmul = layer_cost(conv, needs_input_grad=True)
    macs = 14 * 14 * 8 * 3 * 3 * 1  # padding taps counted: the whole 3x3 window everywhere
    assert forward == 2 * macs + 14 * 14 * 8 * 2  # bias and relu per output element
    assert backward == 4 * macs + 14 * 14 * 8 * 2
    assert matmul == (14 * 14, 9, 8)  # the im2col product, per sample


def test_what_the_counter_does_not_know_is_named_and_a_plugins_own_count_wins():
    unknown = LayerCall("x", "MyAttention", ((16,),), (16,), trainable=4)
    stated = replace(unknown, name="y", stated=(1000.0, 2000.0))
    step = StepSpec({"output": (16,)}, {"output": "my_loss"}, {"output": ("auc",)}, "lion", 0, 4)
    count = count_step([unknown, stated], step, B)
    assert count.uncounted == ["layer MyAttention", "loss my_loss", "metric auc", "optimizer lion"]
    assert (count.forward, count.backward, count.optimizer) == (1000.0, 2000.0, 0.0)
    assert count.counted_by == "harness+plugin"


def test_optimizer_options_add_their_own_work_per_parameter():
    assert optimizer_extra("sgd") == 0
    assert optimizer_extra("sgd", momentum=0.9) == 2
    assert optimizer_extra("sgd", momentum=0.9, nesterov=True) == 5
    assert optimizer_extra("adam", amsgrad=True, clipnorm=1.0) == 4
    assert optimizer_extra("adam", loss_scale=True) == 2


def test_a_cell_record_with_its_count_and_peak_round_trips_and_is_checked(tmp_path):
    rate = Rate("matmul", "square", [1024, 1024, 1024], "float32", 0.01, 3, 214.7)
    peak = MeasuredPeak([rate], Rate("stream", "memory", [8], "float32", 1e-3, 5, 20.0), "m", 0.4)
    flops = FlopCount(2e8, 1e8, 0.5e8, 0.0, 0.5e8, 1e7, 32, [32, 784, 512])
    stats = StepTimeStats.from_fits([0.1] * 4, [0.3] * 4, window_steps=100, warmup_windows=1)
    step = StepTimeSummary.from_processes([stats])  # 2 ms a step
    cell = CellResult("p", "jax", "cpu", "d", Status.OK, step_time_ms=step, flops=flops, peak=peak)
    data = cell.to_dict()
    assert CellResult.from_dict(json.loads(json.dumps(data))) == cell
    assert cell.achieved_gflops == pytest.approx(100.0)
    assert (peak.gflops, peak.bandwidth_gbs, flops.intensity) == (214.7, 20.0, 20.0)
    check_file({"cells": [data]}, RunShape, "run.json", "results file")
    data["flops"]["total"] = "many"
    with pytest.raises(HarnessError, match=r"cells\[0\]\.flops\.total must be a number"):
        check_file({"cells": [data]}, RunShape, "run.json", "results file")


CHILD = r"""
import json, keras
from harness.plugin import ModelPlugin
from harness.worker.model import compile_model
from harness.worker.trace import count_model
from dataclasses import asdict

def dense(shape, classes):
    return keras.Sequential([keras.Input(shape), keras.layers.Dense(classes, activation="softmax")])

def conv(shape, classes):
    return keras.Sequential([
        keras.Input(shape),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(classes, activation="softmax"),
    ])

class Doubling(keras.layers.Layer):
    def call(self, x):
        return x * 2.0

def custom(shape, classes):
    return keras.Sequential([keras.Input(shape), Doubling(), keras.layers.Dense(classes)])

def stated(layer, inputs, output):
    if type(layer).__name__ != "Doubling":
        return None
    return {"forward": output[0] * output[1], "backward": 0.0}

out = {}
models = [("dense", "flat", dense, None), ("conv", "image", conv, None)]
models += [("custom", "flat", custom, None), ("stated", "flat", custom, stated)]
for name, kind, build, layer_flops in models:
    plugin = ModelPlugin(name, "test", "closed form", kind, build, layer_flops=layer_flops)
    model = build(plugin.input_shape, 10)
    compile_model(model, plugin)
    sample = keras.ops.zeros((1, *plugin.input_shape))
    out[name] = asdict(count_model(model, plugin, sample, 32, "float32"))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def counted_in_keras() -> dict:
    """Both models built, compiled and counted by the worker's code under JAX."""
    if not backend_installed("jax"):
        pytest.skip("jax not installed")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_real_dense_model_counts_as_its_closed_form(counted_in_keras):
    count = counted_in_keras["dense"]
    expected = B * (2 * 2 * 784 * 10 + 2 * 10 + 9 * 10) + _loss_and_accuracy(10) + 12 * 7850
    assert count["total"] == expected
    assert count["largest_matmul"] == [B, 784, 10]


def test_a_real_conv_model_counts_as_its_closed_form(counted_in_keras):
    conv_macs, dense_macs, conv_out = 14 * 14 * 8 * 9, 14 * 14 * 8 * 10, 14 * 14 * 8
    conv = (2 * conv_macs + 2 * conv_out) + (2 * conv_macs + 2 * conv_out)  # no input gradient
    dense = (2 * dense_macs + 10 + 50) + (4 * dense_macs + 10 + 40)
    params = (9 * 8 + 8) + (conv_out * 10 + 10)
    count = counted_in_keras["conv"]
    assert count["total"] == B * (conv + dense) + _loss_and_accuracy(10) + 12 * params
    assert count["largest_matmul"] == [B, conv_out, 10]
    assert count["uncounted"] == []


def test_a_layer_the_counter_does_not_know_is_named_unless_the_plugin_states_it(
    counted_in_keras,
):
    unknown, stated = counted_in_keras["custom"], counted_in_keras["stated"]
    assert unknown["uncounted"] == ["layer Doubling"]
    assert (stated["uncounted"], stated["counted_by"]) == ([], "harness+plugin")
    assert stated["total"] - unknown["total"] == B * 784  # the plugin's count, batch included


@pytest.mark.skipif(not backend_installed("jax"), reason="jax not installed")
def test_a_tiny_run_records_the_count_the_peak_and_the_achieved_rate(smoke_run, tmp_path, capsys):
    (jax,) = [c for c in smoke_run.cells if c.cell.key == "dense_mlp/jax/cpu"]
    out = driver.save(replace(smoke_run, cells=[jax]), tmp_path / "run.json")
    cell = read_run(out).cells[0]
    assert cell.ok, cell.error
    assert cell.flops is not None
    assert cell.flops.total == 70_659_096  # as tests/test_plugins.py pins it
    assert cell.peak is not None
    assert cell.peak.seconds < 10
    assert [r.label for r in cell.peak.matmul] == ["square", "model"]
    assert cell.peak.matmul[1].shape == [32, 784, 512]  # the model's largest matmul
    assert all(r.rate > 0 and r.seconds > 0 for r in [*cell.peak.matmul, cell.peak.memory])
    assert cell.achieved_gflops > 0
    capsys.readouterr()
    assert cli.main(["show", str(out)]) == 0
    assert "GFLOP/s" in capsys.readouterr().out


def test_the_peak_and_count_are_documented():
    docs = (Path(__file__).resolve().parent.parent / "docs" / "efficiency.md").read_text()
    for term in ("multiply-add", "latency-bound", "fuse", "datasheet", "Adam"):
        assert term in docs

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


def test_an_embedding_is_a_gather_whose_gradient_adds_rows():
    embedding = LayerCall("e", "Embedding", ((7,),), (7, 4), trainable=50 * 4, weights=50 * 4)
    assert layer_cost(embedding, needs_input_grad=False) == (0.0, 7 * 4, None)
    count = count_step([embedding], StepSpec({"o": (7, 4)}, {"o": "mse"}), B)
    assert (count.forward, count.backward) == (0.0, B * 7 * 4)  # trainable: its gradient runs


def _recurrent(kind: str, gates: int, bias: int = 1) -> LayerCall:
    """3 steps of 2 features into 4 units."""
    kernel = (2, gates * 4)
    return LayerCall(
        kind, kind, ((3, 2),), (4,), kernel, bias, 1, 1, "tanh", gate_activation="sigmoid"
    )


@pytest.mark.parametrize(
    ("kind", "gates", "bias", "forward", "backward"),
    [
        # per step: products 2 (2 + 4) 16, their sum and bias 2 x 16, 3 sigmoids (4) and
        # 2 tanh (1) per unit, the state f c + i g, o tanh(c) 4 per unit / both kernels'
        # gradients 2 (2 + 4) 16 and the state's through the recurrent kernel 2 x 4 x 16,
        # the activations' gradients 3 x 3 + 2 x 3 per unit, the bias 16, the state 7 per unit
        ("LSTM", 4, 1, 3 * (192 + 32 + 4 * 14 + 4 * 4), 3 * (192 + 128 + 4 * 15 + 16 + 4 * 7)),
        # 3 gates, a second (recurrent) bias: sum 12 + bias 24; 2 sigmoids and a tanh per
        # unit; the state r (hU + b), 1 - z, z h, (1 - z) h~ and their sum: 5 per unit
        ("GRU", 3, 2, 3 * (144 + 36 + 4 * 9 + 4 * 5), 3 * (144 + 96 + 4 * 9 + 24 + 4 * 7)),
        ("SimpleRNN", 1, 1, 3 * (48 + 8 + 4 * 1), 3 * (48 + 32 + 4 * 3 + 4)),
    ],
)
def test_a_recurrent_layer_counts_every_time_step(kind, gates, bias, forward, backward):
    call = _recurrent(kind, gates, bias)
    assert layer_cost(call, needs_input_grad=False) == (forward, backward, (1, 4, 4 * gates))
    with_input = layer_cost(call, needs_input_grad=True)
    assert with_input[1] == backward + 3 * 2 * 2 * 4 * gates  # the input's gradient too


def _attention(masked: bool = False) -> LayerCall:
    """2 heads of width 3 attending from 4 queries (6 wide) over 5 keys and values."""
    inputs = ((4, 6), (5, 6))
    return LayerCall("a", "MultiHeadAttention", inputs, (4, 6), bias=1, heads=(2, 3, 3),
                     masked=masked)  # fmt: skip


def test_attention_counts_projections_scores_softmax_and_the_weighted_sum():
    projections = 4 * 6 * 6 + 5 * 6 * 6 + 5 * 6 * 6  # query, key, value: multiply-adds
    output = 4 * 6 * 6  # the output projection
    scores = 2 * 4 * 5  # heads x queries x keys, all of them (a causal mask hides none)
    attend = scores * (3 + 3)  # QK^T and the weighted sum of the values
    biases = 4 * 6 + 5 * 6 + 5 * 6 + 4 * 6
    forward = 2 * (projections + output + attend) + biases + (1 + 5) * scores  # scale, softmax
    backward = 2 * projections + 4 * (output + attend) + biases + (1 + 4) * scores
    assert layer_cost(_attention(), needs_input_grad=False) == (forward, backward, (5, 6, 6))
    masked = layer_cost(_attention(masked=True), needs_input_grad=True)
    assert masked[:2] == (forward + scores, backward + 2 * projections + scores)


def test_depthwise_separable_and_grouped_convolutions_count_their_own_products():
    depthwise = LayerCall("d", "DepthwiseConv2D", ((8, 8, 4),), (6, 6, 8), (3, 3, 4, 2), 1)
    macs = 6 * 6 * 8 * 9  # each output channel sees one input channel's window
    assert layer_cost(depthwise, True) == (2 * macs + 288, 4 * macs + 288, None)
    separable = LayerCall("s", "SeparableConv2D", ((8, 8, 4),), (6, 6, 5), (3, 3, 4, 1), 1)
    deep, point = 6 * 6 * 4 * 9, 6 * 6 * 4 * 5  # depthwise, then 1x1 from 4 to 5 channels
    forward, backward, matmul = layer_cost(separable, needs_input_grad=False)
    assert (forward, matmul) == (2 * (deep + point) + 180, (36, 4, 5))
    assert backward == 2 * (deep + point) + 2 * point + 180  # the depthwise input's: not needed
    grouped = LayerCall("g", "Conv2D", ((8, 8, 4),), (6, 6, 4), (3, 3, 2, 4), 1)  # 2 groups
    assert layer_cost(grouped, False)[0] == 2 * (6 * 6 * 4 * 3 * 3 * 2) + 144
    conv1d = LayerCall("c", "Conv1D", ((64, 3),), (64, 16), (5, 3, 16), 1, activation="relu")
    assert layer_cost(conv1d, False)[0] == 2 * 64 * 16 * 5 * 3 + 2 * 64 * 16


@pytest.mark.parametrize(
    ("call", "forward", "backward"),
    [
        (LayerCall("h", "Activation", ((10,),), (10,), activation="hard_silu"), 50, 40),
        (LayerCall("r", "ReLU", ((10,),), (10,), activation="relu6"), 20, 10),
        (LayerCall("r", "ReLU", ((10,),), (10,)), 10, 10),
        (LayerCall("s", "Rescaling", ((10,),), (10,)), 20, 10),
        (LayerCall("n", "LayerNormalization", ((2, 5),), (2, 5)), 80, 90),
        (LayerCall("g", "GlobalAveragePooling1D", ((5, 2),), (2,)), 12, 10),
        (LayerCall("g", "GlobalAveragePooling2D", ((2, 3, 2),), (1, 1, 2)), 14, 12),
        (LayerCall("p", "AveragePooling1D", ((8, 2),), (2, 2), pool=(4,)), 16, 16),
        (LayerCall("a", "Add", ((10,), (10,)), (10,)), 10, 0),
        (LayerCall("m", "Multiply", ((10,), (10,)), (10,)), 10, 20),
        (LayerCall("z", "ZeroPadding2D", ((2, 2, 1),), (4, 4, 1)), 0, 0),
        (LayerCall("r", "Reshape", ((10,),), (2, 5)), 0, 0),
        # operations of a functional graph: x + 3.0 and x * (1 / 6), as MobileNetV3 has them
        (LayerCall("o", "Add", ((10,),), (10,), operation=True), 10, 0),
        (LayerCall("o", "Multiply", ((10,),), (10,), operation=True), 10, 10),
        (LayerCall("o", "Multiply", ((10,), (10,)), (10,), operation=True), 10, 20),
        (LayerCall("o", "Tanh", ((10,),), (10,), operation=True), 10, 30),
        (LayerCall("o", "Reshape", ((10,),), (2, 5), operation=True), 0, 0),
    ],
    ids=lambda value: getattr(value, "kind", None),
)
def test_elementwise_layers_and_operations_per_element(call, forward, backward):
    assert layer_cost(call, needs_input_grad=True) == (forward, backward, None)


def test_a_call_without_the_batch_counts_once_a_step():
    """A position embedding of arange(length): one gather a step, whatever the batch."""
    positions = LayerCall("p", "Embedding", ((7,),), (7, 4), trainable=28, batched=False)
    step = StepSpec({"o": (4,)}, {"o": "mse"})
    assert count_step([positions], step, B).backward == 7 * 4


def test_what_cannot_be_priced_is_named_with_what_it_is():
    calls = [
        LayerCall("t", "TimeDistributed", ((3, 4),), (3, 2)),  # its layer runs per time step
        LayerCall("r", "RNN", ((3, 4),), (2,), (4, 2)),  # a custom cell
        LayerCall("m", "Matmul", ((3, 4), (4, 2)), (3, 2), operation=True),
    ]
    count = count_step(calls, StepSpec({"o": (2,)}, {"o": "mse"}, {"o": ("mae",)}), B)
    assert count.uncounted == ["layer RNN", "layer TimeDistributed", "op Matmul"]
    assert count.loss == B * (2 * (3 + 2) + 1) + B * (3 * 2 + 1)  # mse, and the mae metric


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
import json, jax, keras
import numpy as np
from harness.plugin import ModelPlugin
from harness.worker.model import compile_model
from harness.worker.trace import count_model, trace_calls
from dataclasses import asdict

# A count reads shapes only; drawing random weights compiles a kernel per shape on JAX.
init = keras.initializers
for drawn in (init.VarianceScaling, init.Orthogonal, init.RandomUniform):
    drawn.__call__ = init.Ones.__call__

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

class Positions(keras.layers.Layer):  # token and position embeddings
    def __init__(self):
        super().__init__()
        self.tokens, self.positions = keras.layers.Embedding(50, 8), keras.layers.Embedding(6, 8)

    def call(self, x):
        return self.tokens(x) + self.positions(keras.ops.arange(keras.ops.shape(x)[-1]))

class Block(keras.layers.Layer):  # causal attention, a norm, a feed-forward Sequential
    def __init__(self):
        super().__init__()
        self.attention = keras.layers.MultiHeadAttention(2, 4)
        self.norm = keras.layers.LayerNormalization()
        dense = keras.layers.Dense
        self.feed = keras.Sequential([dense(16, activation="relu"), dense(8)])

    def call(self, x):
        x = self.norm(x + self.attention(query=x, value=x, use_causal_mask=True))
        return x + self.feed(x)

def blocks(shape, classes):
    layers = [Positions(), Block(), keras.layers.GlobalAveragePooling1D()]
    return keras.Sequential([keras.Input((6,), dtype="int32"), *layers, keras.layers.Dense(10)])

def squeeze(shape, classes):  # MobileNetV3's hard sigmoid: operations between layers
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Activation("hard_silu")(x))
    return keras.Model(inputs, keras.layers.Dense(classes)(x))

def bilstm(shape, classes):
    layers = [keras.layers.Embedding(20, 4), keras.layers.Bidirectional(keras.layers.LSTM(3))]
    return keras.Sequential([keras.Input((5,), dtype="int32"), *layers, keras.layers.Dense(10)])

out = {}
models = [("dense", "flat", dense, None), ("conv", "image", conv, None)]
models += [("custom", "flat", custom, None), ("stated", "flat", custom, stated)]
models += [("blocks", (6,), blocks, None), ("squeeze", "image", squeeze, None)]
models += [("bilstm", (5,), bilstm, None)]
for name, kind, build, layer_flops in models:
    tokens = isinstance(kind, tuple)
    plugin = ModelPlugin(name, "test", "closed form", "flat" if tokens else kind, build,
                         layer_flops=layer_flops)
    model = build(plugin.input_shape, 10)
    compile_model(model, plugin)
    sample = np.zeros((1, *kind), "int32") if tokens else np.zeros((1, *plugin.input_shape))
    out[name] = asdict(count_model(model, plugin, sample, 32, "float32", jax.eval_shape))
    calls = trace_calls(model, plugin, sample, 32, jax.eval_shape)[0]
    out[name]["calls"] = [asdict(c) for c in calls]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def counted_in_keras() -> dict:
    """The models built, compiled and counted (and their calls traced) by the worker's code
    under JAX."""
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


def _calls(counted: dict) -> list[tuple]:
    keys = ("kind", "batched", "operation", "inputs", "output")
    return [tuple(c[k] for k in keys) for c in counted["calls"]]


def test_custom_layers_count_through_their_sublayers(counted_in_keras):
    """Token and position embeddings, causal attention, a norm and a feed-forward Sequential,
    inside two custom layers: every sublayer is found with its shapes, attention whole."""
    count = counted_in_keras["blocks"]
    assert count["uncounted"] == []
    assert _calls(count) == [
        ("Embedding", True, False, [[6]], [6, 8]),
        ("Embedding", False, False, [[6]], [6, 8]),  # arange(6): once a step, not per sample
        ("MultiHeadAttention", True, False, [[6, 8], [6, 8]], [6, 8]),  # given by keyword
        ("LayerNormalization", True, False, [[6, 8]], [6, 8]),
        ("Dense", True, False, [[6, 8]], [6, 16]),
        ("Dense", True, False, [[6, 16]], [6, 8]),
        ("GlobalAveragePooling1D", True, False, [[6, 8]], [8]),
        ("Dense", True, False, [[8]], [10]),
    ]
    attention = count["calls"][2]
    assert (attention["heads"], attention["masked"], attention["bias"]) == ([2, 4, 4], True, 1)


def test_operations_between_layers_and_recurrent_layers_are_counted(counted_in_keras):
    squeeze, bilstm = counted_in_keras["squeeze"], counted_in_keras["bilstm"]
    assert squeeze["uncounted"] == bilstm["uncounted"] == []
    assert [(k, op) for k, _, op, *_ in _calls(squeeze)] == [
        ("Conv2D", False), ("Add", True), ("ReLU", False), ("Multiply", True),
        ("Activation", False), ("GlobalAveragePooling2D", False), ("Dense", False),
    ]  # fmt: skip
    assert squeeze["calls"][2]["activation"] == "relu6"
    assert [c["kind"] for c in bilstm["calls"]] == ["Embedding", "LSTM", "LSTM", "Dense"]
    lstm = bilstm["calls"][1]  # the cell is not walked: the layer is priced whole
    assert (lstm["kernel"], lstm["gate_activation"], lstm["inputs"]) == (
        [4, 12],
        "sigmoid",
        [[5, 4]],
    )


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

"""A plugin's own ``load(seed)``: its splits are checked against the declared inputs and task
(one line naming the plugin and the field), cut to the profile's sizes, and a cell trains on
them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from harness.errors import PluginError
from harness.executors.local import LocalExecutor
from harness.plugin import ModelPlugin, classification, floats, language_model, token_ids
from harness.plugin_data import load
from harness.records.schema import Cell, Status
from harness.run import driver
from harness.run.plan import plan_run
from harness.run.settings import RunSettings

PLUGIN_FILE = """
import numpy as np

from harness.plugin import ModelPlugin, classification, token_ids


def build(inputs, task):
    import keras

    return keras.Sequential([
        keras.Input(shape=inputs.shape, dtype=inputs.dtype),
        keras.layers.Embedding(inputs.vocab_size, 8),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(task.classes, activation="softmax"),
    ])


def load(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 50, (400, 12)).astype("int32")
    y = (x[:, 0] >= 25).astype("int64")  # the first token's half of the vocabulary
    return x[:300], y[:300], x[300:], y[300:]


LOADED = ModelPlugin(
    name="loaded_tokens", family="mine", description="its own token data",
    build=build, inputs=token_ids(12, 50), task=classification(2), load=load,
)
"""


def _plugin(loader, inputs=None, task=None) -> ModelPlugin:
    return ModelPlugin(
        name="mine",
        family="mine",
        description="a loader under test",
        build=lambda inputs, task: None,
        inputs=inputs or floats(4, 2),
        task=task or classification(3),
        load=loader,
    )


def _splits(x_train, y_train, x_test=None, y_test=None):
    return lambda seed: (x_train, y_train, x_train if x_test is None else x_test,
                         y_train if y_test is None else y_test)  # fmt: skip


def test_good_splits_are_cut_to_the_profile_sizes():
    x, y = np.zeros((10, 4, 2), "float32"), np.arange(10) % 3
    data = load(_plugin(_splits(x, y)), 6, None, seed=0)
    assert data.x_train.shape == (6, 4, 2)
    assert data.y_train.shape == (6,)
    assert data.x_test.shape == (10, 4, 2)
    assert data.name == "plugin_loader"
    assert "mine.load(seed=0)" in data.source


@pytest.mark.parametrize(
    ("x", "y", "field"),
    [
        (np.zeros((10, 4, 3), "float32"), np.zeros(10, "int64"), "x_train of shape (n, 4, 2)"),
        (np.zeros((10, 4, 2), "float64"), np.zeros(10, "int64"), "float32. Received: "),
        (np.zeros((10, 4, 2), "float32"), np.full(10, 3), "labels outside range(3)"),
        (np.zeros((10, 4, 2), "float32"), np.zeros(10, "float32"), "one integer label"),
        (np.zeros((10, 4, 2), "float32"), np.zeros(9, "int64"), "different lengths"),
        ([[0.0]], np.zeros(1, "int64"), "not a numpy array"),
    ],
)
def test_a_split_that_does_not_match_names_the_plugin_and_the_field(x, y, field):
    with pytest.raises(PluginError, match="Plugin 'mine': load\\(\\) returned") as raised:
        load(_plugin(_splits(x, y)), None, None, seed=0)
    assert field in str(raised.value)


def test_token_ids_dicts_and_language_model_targets_are_checked():
    tokens = token_ids(5, 7)
    lm = _plugin(_splits(np.full((4, 5), 9, "int32"), np.zeros((4, 5), "int32")),
                 tokens, language_model())  # fmt: skip
    with pytest.raises(PluginError, match="ids outside range\\(7\\)"):
        load(lm, None, None, seed=0)
    named = {"a": floats(3), "b": tokens}
    wrong_keys = _plugin(_splits({"a": np.zeros((2, 3), "float32")}, np.zeros(2, "int64")), named)
    with pytest.raises(PluginError, match="not a dict of \\['a', 'b'\\]"):
        load(wrong_keys, None, None, seed=0)
    with pytest.raises(PluginError, match="must return \\(x_train, y_train, x_test, y_test\\)"):
        load(_plugin(lambda seed: (1, 2)), None, None, seed=0)


def test_a_load_without_a_declaration_is_malformed():
    with pytest.raises(PluginError, match="load must be callable as load\\(seed\\)"):
        ModelPlugin(name="x", family="f", description="d", input_kind="flat",
                    build=lambda s, n: None, load=lambda seed: None)  # fmt: skip


def test_a_cell_trains_on_its_plugins_own_data(tmp_path):
    (tmp_path / "loaded.py").write_text(PLUGIN_FILE)
    settings = RunSettings(
        dataset="synthetic", profile="smoke", device="cpu", plugin_paths=(str(tmp_path),)
    )
    plan = replace(plan_run(settings), cells=[Cell("loaded_tokens", "jax", "cpu")])
    (cell,) = driver.execute(plan, driver.load_data(plan), LocalExecutor()).cells
    assert cell.status is Status.OK, f"{cell.error}\n{cell.log_tail}"
    assert cell.dataset == "plugin_loader"
    assert cell.metrics["chance_accuracy"] < 0.7
    assert cell.params.total == 50 * 8 + 8 * 2 + 2

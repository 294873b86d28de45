"""A plugin's declared inputs and task: validation in the parent, and the synthetic data the
worker makes from them (numpy only; no framework is imported here)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from harness import cli, registry, synthetic
from harness.errors import PluginError
from harness.plugin import (
    InputArray,
    ModelPlugin,
    Task,
    TrainingDefaults,
    binary,
    classification,
    floats,
    language_model,
    regression,
    token_ids,
)


def _plugin(**declared) -> ModelPlugin:
    return ModelPlugin(name="mine", family="t", description="d", build=print, **declared)


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ({"inputs": floats(0, 3), "task": regression()}, "inputs.shape must be"),
        ({"inputs": token_ids(8, 1), "task": binary()}, "inputs.vocab_size must be an int >= 2"),
        ({"inputs": InputArray((3,), "float32", 9), "task": binary()}, "for integer token ids"),
        ({"inputs": {"a": InputArray((2,), "uint8")}, "task": binary()}, r"inputs\['a'\].dtype"),
        ({"inputs": "pixels", "task": binary()}, "inputs must be an InputArray"),
        ({"inputs": floats(4)}, "task must be a Task"),
        ({"inputs": floats(4), "task": classification(1)}, "task.classes must be an int >= 2"),
        ({"inputs": floats(4), "task": Task("ranking")}, "task.kind must be one of"),
        ({"inputs": floats(4), "task": Task("regression")}, "task.target_shape must be"),
        ({"inputs": floats(4), "task": language_model()}, "needs one input of token ids"),
        ({"inputs": floats(4), "task": regression(quality="r2")}, "task.quality must be 'loss'"),
        ({"inputs": floats(4), "task": binary(), "input_kind": "flat"}, "exclude each other"),
        (
            {"inputs": floats(4), "task": regression(), "training": TrainingDefaults()},
            "training.loss must fit a regression task",
        ),
        (
            {
                "inputs": floats(4),
                "task": classification(3),
                "training": TrainingDefaults("sgd", "mse"),
            },
            "training.loss must fit a classification task",
        ),
    ],
)
def test_a_spec_that_cannot_be_built_names_the_plugin_and_the_field(declared, expected):
    with pytest.raises(
        PluginError, match=rf"^Plugin 'mine' is malformed: .*{expected}.*Received: "
    ):
        _plugin(**declared)


def test_a_task_brings_its_own_training_defaults():
    assert _plugin(inputs=floats(4), task=regression(2)).training.loss == "mean_squared_error"
    assert _plugin(inputs=floats(4), task=binary()).training.loss == "binary_crossentropy"
    text = _plugin(inputs=token_ids(16, 100), task=language_model())
    assert text.training.loss == "sparse_categorical_crossentropy"
    assert (text.quality_key, _plugin(inputs=floats(4), task=regression()).quality_key) == (
        "accuracy",
        "loss",
    )
    old = ModelPlugin("old_style", "t", "d", "flat", print)  # positional, as before
    assert old.training == TrainingDefaults()
    assert old.task is None
    assert old.input_shape == (784,)


def test_kbench_run_refuses_a_malformed_spec_in_one_line_before_any_worker(tmp_path, capsys):
    path = tmp_path / "bad_spec.py"
    path.write_text(
        "from harness.plugin import ModelPlugin, classification, token_ids\n"
        "BAD = ModelPlugin(name='bad_text', family='t', description='d', build=print,\n"
        "                  inputs=token_ids(32, vocab_size=0), task=classification(2))\n"
    )
    assert cli.main(["run", "--plugin-path", str(path), "-p", "bad_text"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err
    assert "'bad_text'" in err
    assert "inputs.vocab_size" in err
    assert "keras" not in sys.modules


def test_a_family_name_selects_its_plugins():
    found = registry.discover()
    zoo = [p.name for p in registry.select(found, ["zoo"])]
    assert zoo[:2] == ["conv1d_regression", "bilstm_text"]
    assert {"mobilenet", "transformer_text", "gpt_tiny"} <= set(zoo)
    chosen = [p.name for p in registry.select(found, ["cnn", "zoo", "cnn_bn", "bilstm_text"])]
    assert chosen == ["cnn", *zoo, "cnn_bn"]  # in order, each once
    assert not any(p.family == "zoo" for p in registry.select(found, []))
    with pytest.raises(PluginError, match=r"or a family: dense.*zoo.*Received: 'zooo'"):
        registry.select(found, ["zooo"])


@pytest.mark.parametrize(
    ("inputs", "task"),
    [
        (floats(64, 3), regression(1)),
        (floats(12), classification(3)),
        (floats(8, 8, 3), regression(2, 2)),
        (token_ids(32, 500), binary()),
        ({"a": floats(8, 8, 3), "b": token_ids(5, 30)}, classification(4)),
        (token_ids(16, 50), language_model()),
    ],
    ids=["series", "vector", "image", "tokens", "two_inputs", "language_model"],
)
def test_synthetic_data_follows_the_spec_and_the_seed(inputs, task):
    data = synthetic.generate(inputs, task, 300, 100, seed=3)
    again = synthetic.generate(inputs, task, 300, 100, seed=3)
    other = synthetic.generate(inputs, task, 300, 100, seed=4)
    arrays = inputs if isinstance(inputs, dict) else {"x": inputs}
    xs = data.x_train if isinstance(inputs, dict) else {"x": data.x_train}
    for name, array in arrays.items():
        assert xs[name].shape == (300, *array.shape)
        assert xs[name].dtype == np.dtype(array.dtype)
        if array.is_tokens:
            assert 0 <= xs[name].min()
            assert xs[name].max() < array.vocab_size
    assert len(data.y_test) == 100
    assert np.array_equal(data.y_train, again.y_train)
    assert not np.array_equal(data.y_train, other.y_train)
    if task.kind == "classification":
        assert data.y_train.dtype == np.int64
        assert set(np.unique(data.y_train)) == set(range(task.classes))
    if task.kind == "regression":
        assert data.y_train.shape == (300, *task.target_shape)
        assert 0.3 < data.y_train.std() < 2
    if task.kind == "language_model":
        assert np.array_equal(data.x_train[:, 1:], data.y_train[:, :-1])  # the inputs shifted


def test_synthetic_targets_are_a_function_of_the_inputs():
    """The same inputs give the same targets, and a linear model of the features fits a
    regression's targets exactly: the data are learnable."""
    data = synthetic.generate(floats(20), regression(1), 500, 0, seed=0)
    _solution, residual, *_ = np.linalg.lstsq(data.x_train, data.y_train, rcond=None)
    assert float(residual[0]) < 1e-6 * len(data.y_train)
    language = synthetic.generate(token_ids(32, 40), language_model(), 200, 50, seed=0)
    pairs = np.zeros((40, 40), dtype=int)
    np.add.at(pairs, (language.x_train.ravel(), language.y_train.ravel()), 1)
    assert pairs.max(axis=1).sum() / pairs.sum() > 0.75  # the next token mostly follows
    assert synthetic.chance_accuracy(language_model(), language.y_test) < 0.2


def test_large_inputs_are_cut_to_fit_in_memory():
    n_train, n_test = synthetic.fit_in_memory({"x": floats(224, 224, 3)}, 8192, 2048)
    assert n_train + n_test <= synthetic.MAX_BYTES // (224 * 224 * 3 * 4)
    assert n_train == pytest.approx(4 * n_test, rel=0.01)
    assert synthetic.fit_in_memory({"x": floats(8)}, 100, 10) == (100, 10)


def test_an_image_carries_its_signal_in_every_pixel_of_a_stripe():
    """Pixels of one stripe share a level (correlation STRUCTURE^2), pixels of different
    stripes do not; every pixel has unit variance; a series is made the same way."""
    x = synthetic.generate(floats(8, 8, 3), classification(4), 4000, 0, seed=1).x_train
    assert 0.9 < x.std() < 1.1
    same = np.corrcoef(x[:, 0, 0, 0], x[:, 1, 5, 0])[0, 1]  # rows 0 and 1: stripe 0
    other = np.corrcoef(x[:, 0, 0, 0], x[:, 6, 0, 0])[0, 1]  # row 6: stripe 3
    channels = np.corrcoef(x[:, 0, 0, 0], x[:, 0, 0, 1])[0, 1]
    assert same == pytest.approx(synthetic.STRUCTURE**2, abs=0.05)
    assert abs(other) < 0.05
    assert abs(channels) < 0.05
    series = synthetic.generate(floats(64, 3), regression(1), 4000, 0, seed=1).x_train
    assert np.corrcoef(series[:, 0, 0], series[:, 15, 0])[0, 1] > 0.5  # one span of 16

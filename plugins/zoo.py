"""The zoo: models that are not Fashion-MNIST classifiers, on synthetic data made from their
declared inputs and task (``-p zoo``; not in the default run).

* ``conv1d_regression``: a Conv1D over a time series (64 steps, 3 channels), one float target;
  its quality figure is the test mean absolute error.
* ``bilstm_text``: an IMDB-shaped text classifier, token ids through an Embedding and a
  bidirectional LSTM to one sigmoid (a binary task).
"""

from __future__ import annotations

from typing import Any

from harness.plugin import InputArray, ModelPlugin, Task, binary, floats, regression, token_ids

SERIES_STEPS, SERIES_CHANNELS = 64, 3
TEXT_LENGTH, VOCAB_SIZE = 32, 500


def build_conv1d_regression(inputs: InputArray, task: Task) -> Any:
    """Conv1D 16, 32 (kernel 5, relu), average pooling to 4 stretches, Dense 32, linear out."""
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=inputs.shape),
            layers.Conv1D(16, 5, padding="same", activation="relu"),
            layers.Conv1D(32, 5, padding="same", activation="relu"),
            layers.AveragePooling1D(pool_size=inputs.shape[0] // 4),
            layers.Flatten(),
            layers.Dense(32, activation="relu"),
            layers.Dense(task.target_shape[-1]),
        ]
    )


def build_bilstm_text(inputs: InputArray, task: Task) -> Any:
    """Embedding 16, bidirectional LSTM 16, one sigmoid."""
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=inputs.shape, dtype=inputs.dtype),
            layers.Embedding(inputs.vocab_size, 16),
            layers.Bidirectional(layers.LSTM(16)),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


CONV1D_REGRESSION = ModelPlugin(
    name="conv1d_regression",
    family="zoo",
    description="Conv1D 16/32 over a 64x3 time series, pooled, Dense 32, one float target",
    build=build_conv1d_regression,
    inputs=floats(SERIES_STEPS, SERIES_CHANNELS),
    task=regression(1, quality="mae"),
    in_default_run=False,
)

BILSTM_TEXT = ModelPlugin(
    name="bilstm_text",
    family="zoo",
    description="Embedding 16 over 32 token ids (vocabulary 500), bidirectional LSTM 16, sigmoid",
    build=build_bilstm_text,
    inputs=token_ids(TEXT_LENGTH, VOCAB_SIZE),
    task=binary(),
    in_default_run=False,
)

"""The dense MLP (``dense_mlp``) and its dropout-regularized variant (flat 784-pixel input)."""

from __future__ import annotations

from typing import Any

from harness.plugin import ModelPlugin

HIDDEN = ((512, "sigmoid"), (128, "tanh"), (32, "relu"))


def _dense_stack(input_shape: tuple[int, ...], num_classes: int, dropout: float) -> Any:
    import keras

    layers: list[Any] = [keras.Input(shape=input_shape)]
    for units, activation in HIDDEN:
        layers.append(keras.layers.Dense(units, activation=activation))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(num_classes, activation="softmax"))
    return keras.Sequential(layers)


def build_dense_mlp(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Dense(512, sigmoid) -> Dense(128, tanh) -> Dense(32, relu) -> Dense(10, softmax)."""
    return _dense_stack(input_shape, num_classes, dropout=0.0)


def build_dense_dropout(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """The dense MLP with Dropout(0.2) after each hidden layer."""
    return _dense_stack(input_shape, num_classes, dropout=0.2)


DENSE_MLP = ModelPlugin(
    name="dense_mlp",
    native=True,
    family="dense",
    description="Dense 512 sigmoid / 128 tanh / 32 relu / 10 softmax",
    input_kind="flat",
    build=build_dense_mlp,
)

DENSE_DROPOUT = ModelPlugin(
    name="dense_dropout",
    family="dense",
    description="dense_mlp with Dropout(0.2) after each hidden Dense",
    input_kind="flat",
    build=build_dense_dropout,
)

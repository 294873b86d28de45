"""The dense MLP written with Keras's other two APIs, and a two-headed Functional model."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from harness.plugin import ModelPlugin, TrainingDefaults
from plugins.dense import HIDDEN


def _functional_trunk(keras: Any, inputs: Any) -> Any:
    """The MLP's hidden layers applied to a symbolic input."""
    x = inputs
    for units, activation in HIDDEN:
        x = keras.layers.Dense(units, activation=activation)(x)
    return x


def build_dense_functional(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """The dense MLP with the Functional API."""
    import keras

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = _functional_trunk(keras, inputs)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="dense_functional")


@functools.cache
def _dense_mlp_class() -> type:
    """The subclassed model, defined (and registered for ``.keras`` loading) once per process."""
    import keras

    @keras.saving.register_keras_serializable(package="kbench")
    class DenseMLP(keras.Model):
        def __init__(self, num_classes: int = 10, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.num_classes = num_classes
            self.hidden = [keras.layers.Dense(u, activation=a) for u, a in HIDDEN]
            self.classifier = keras.layers.Dense(num_classes, activation="softmax")

        def call(self, x: Any) -> Any:
            for layer in self.hidden:
                x = layer(x)
            return self.classifier(x)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "num_classes": self.num_classes}

    return DenseMLP


def build_dense_subclassed(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """The dense MLP as a subclassed ``keras.Model``."""
    import keras

    model = _dense_mlp_class()(num_classes, name="dense_subclassed")
    model(keras.ops.zeros((1, *input_shape)))  # a subclassed model creates weights on first call
    return model


def build_dense_two_heads(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """The MLP's trunk with two outputs: the class, and the coarse group (label >= 5)."""
    import keras

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = _functional_trunk(keras, inputs)
    label = keras.layers.Dense(num_classes, activation="softmax", name="label")(x)
    group = keras.layers.Dense(1, activation="sigmoid", name="group")(x)
    return keras.Model(inputs, {"label": label, "group": group}, name="dense_two_heads")


def two_head_targets(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """Targets for both heads: the label, and whether it is in the upper half (5-9)."""
    group = (y >= 5).astype("float32").reshape(-1, 1)
    return x, {"label": y, "group": group}


DENSE_FUNCTIONAL = ModelPlugin(
    name="dense_functional",
    family="api",
    description="dense_mlp written with the Functional API",
    input_kind="flat",
    in_default_run=False,
    build=build_dense_functional,
    same_network_as="dense_mlp",
)

DENSE_SUBCLASSED = ModelPlugin(
    name="dense_subclassed",
    family="api",
    description="dense_mlp written as a subclassed keras.Model",
    input_kind="flat",
    in_default_run=False,
    build=build_dense_subclassed,
    same_network_as="dense_mlp",
)

DENSE_TWO_HEADS = ModelPlugin(
    name="dense_two_heads",
    family="api",
    description="Functional MLP trunk with two outputs: class (softmax) and group 0-4/5-9",
    input_kind="flat",
    in_default_run=False,
    build=build_dense_two_heads,
    training=TrainingDefaults(
        loss={"label": "sparse_categorical_crossentropy", "group": "binary_crossentropy"},
        metrics={"label": ["accuracy"], "group": ["accuracy"]},
    ),
    prepare=two_head_targets,
    accuracy_metric="label_accuracy",
)

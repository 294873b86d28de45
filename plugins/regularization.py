"""The regularization family, all on ``dense_mlp``'s architecture.

Weight penalties (L1, L2, L1L2), an activity penalty, BatchNormalization and early
stopping. Penalties add no parameters; BatchNormalization adds 4 per unit (2 trainable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.plugin import ModelPlugin, TrainingDefaults
from plugins.dense import HIDDEN, build_dense_mlp

L1, L2 = 1e-5, 1e-4


def _penalized(**dense_kwargs: Callable[[Any], Any]) -> Callable[..., Any]:
    """A builder of the dense MLP whose hidden layers get the given regularizers."""

    def build(input_shape: tuple[int, ...], num_classes: int) -> Any:
        import keras

        kwargs = {name: make(keras.regularizers) for name, make in dense_kwargs.items()}
        stack: list[Any] = [keras.Input(shape=input_shape)]
        for units, activation in HIDDEN:
            stack.append(keras.layers.Dense(units, activation=activation, **kwargs))
        stack.append(keras.layers.Dense(num_classes, activation="softmax"))
        return keras.Sequential(stack)

    return build


def build_dense_batchnorm(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """The dense MLP with BatchNormalization after each hidden Dense."""
    import keras

    stack: list[Any] = [keras.Input(shape=input_shape)]
    for units, activation in HIDDEN:
        stack += [keras.layers.Dense(units, activation=activation)]
        stack += [keras.layers.BatchNormalization()]
    stack.append(keras.layers.Dense(num_classes, activation="softmax"))
    return keras.Sequential(stack)


def _early_stopping() -> list[Any]:
    import keras

    return [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    ]


DENSE_L1 = ModelPlugin(
    name="dense_l1",
    family="regularization",
    description=f"The MLP with an L1({L1:g}) kernel penalty on each hidden Dense",
    input_kind="flat",
    in_default_run=False,
    build=_penalized(kernel_regularizer=lambda r: r.L1(L1)),
)

DENSE_L2 = ModelPlugin(
    name="dense_l2",
    family="regularization",
    description=f"The MLP with an L2({L2:g}) kernel penalty (weight decay) on each hidden Dense",
    input_kind="flat",
    in_default_run=False,
    build=_penalized(kernel_regularizer=lambda r: r.L2(L2)),
)

DENSE_L1L2 = ModelPlugin(
    name="dense_l1l2",
    family="regularization",
    description=f"The MLP with an elastic-net L1L2({L1:g}, {L2:g}) kernel penalty",
    input_kind="flat",
    in_default_run=False,
    build=_penalized(kernel_regularizer=lambda r: r.L1L2(l1=L1, l2=L2)),
)

DENSE_ACTIVITY = ModelPlugin(
    name="dense_activity",
    family="regularization",
    description=f"The MLP with an L1({L1:g}) activity penalty on each hidden layer's output",
    input_kind="flat",
    in_default_run=False,
    build=_penalized(activity_regularizer=lambda r: r.L1(L1)),
)

DENSE_BATCHNORM = ModelPlugin(
    name="dense_batchnorm",
    family="regularization",
    description="The MLP with BatchNormalization after each hidden Dense",
    input_kind="flat",
    in_default_run=False,
    build=build_dense_batchnorm,
)

DENSE_EARLY_STOPPING = ModelPlugin(
    name="dense_early_stopping",
    family="regularization",
    description="The MLP trained with EarlyStopping(val_loss, patience=2, restore_best_weights)",
    input_kind="flat",
    in_default_run=False,
    build=build_dense_mlp,
    training=TrainingDefaults(callbacks=_early_stopping),
)

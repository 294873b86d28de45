"""The two convolutional networks, ``cnn`` and ``cnn_bn`` (28x28x1 image input)."""

from __future__ import annotations

from typing import Any

from harness.plugin import ModelPlugin


def build_cnn(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Conv 32,32 -> MaxPool -> Conv 64,64 (3x3, valid) -> GAP -> Dense 256 -> softmax."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Conv2D(64, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(256, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )


# The moving statistics' momentum of cnn_bn's BatchNormalization layers: PyTorch's default
# (``momentum=0.1`` there weighs the new batch as 0.9 here does). Keras's 0.99 keeps 13% of the
# initial (0, 1) statistics after the 200 steps of the default quick profile on mnist_5k, and
# nine layers of that mismatch leave test accuracy at chance (0.104) while training accuracy
# is 0.80; with 0.9 the same training gives 0.917 (jax, seed 0). Training itself (batch
# statistics) and step time do not depend on it.
BN_MOMENTUM = 0.9


def build_cnn_bn(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Three BN conv blocks (32/64/128, same padding) and a BN dense head 256/128/64."""
    import keras
    from keras import layers

    stack: list[Any] = [keras.Input(shape=input_shape)]
    for block, filters in enumerate((32, 64, 128)):
        for _ in range(2):
            stack += [layers.Conv2D(filters, 3, padding="same", activation="relu")]
            stack += [layers.BatchNormalization(momentum=BN_MOMENTUM)]
        if block < 2:
            stack += [layers.MaxPooling2D(), layers.Dropout(0.25)]
    stack += [layers.GlobalAveragePooling2D(), layers.Dropout(0.25)]
    for units in (256, 128, 64):
        stack += [layers.Dense(units, activation="relu")]
        stack += [layers.BatchNormalization(momentum=BN_MOMENTUM), layers.Dropout(0.25)]
    stack += [layers.Dense(num_classes, activation="softmax")]
    return keras.Sequential(stack)


CNN = ModelPlugin(
    name="cnn",
    native=True,
    family="cnn",
    description="Conv 32,32 / pool / Conv 64,64, GAP, Dense 256",
    input_kind="image",
    build=build_cnn,
)

CNN_BN = ModelPlugin(
    name="cnn_bn",
    family="cnn",
    description="Conv blocks 32/64/128 with BatchNorm and Dropout, BN dense head 256/128/64",
    input_kind="image",
    build=build_cnn_bn,
    # Its float32 training amplifies rounding: on one backend, nudging the initial weights
    # by one ulp moves its own 5-step loss curve by up to 1.6e-2 (cnn: 4e-7), above the
    # default 1e-2. Measured across backends: up to 6.0e-2 (`kbench parity -p all`).
    # The first loss is still checked at 1e-4.
    parity_training_tolerance=0.1,
)

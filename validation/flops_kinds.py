"""Layer kinds the FLOP counter prices that no zoo plugin uses, as small plugins for the
counter's cross-check against XLA (``python -m validation.flops_xla --plugin-path
validation/flops_kinds.py --plugins flops_kinds``; not registered, never in a run).

* ``gru_stack``: token ids through an Embedding, a bidirectional GRU (returning sequences)
  and a SimpleRNN to one sigmoid.
* ``separable_convs``: Rescaling, a separable, a grouped and a depthwise convolution,
  hard_swish, global average pooling, a softmax over 10 classes.
* ``mobilenet_v3_small``: ``keras.applications.MobileNetV3Small`` (``weights=None``, no
  rescaling layer) on 32x32x3 images: hard_swish, squeeze-and-excite blocks, 5x5 depthwise
  convolutions, and operations between layers (``x + 3.0``, ``x * (1 / 6)``).
"""

from __future__ import annotations

from typing import Any

from harness.plugin import InputArray, ModelPlugin, Task, binary, classification, floats, token_ids


def build_gru_stack(inputs: InputArray, task: Task) -> Any:
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=inputs.shape, dtype=inputs.dtype),
            layers.Embedding(inputs.vocab_size, 16),
            layers.Bidirectional(layers.GRU(16, return_sequences=True)),
            layers.SimpleRNN(8),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


def build_separable_convs(inputs: InputArray, task: Task) -> Any:
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=inputs.shape),
            layers.Rescaling(1 / 255.0),
            layers.SeparableConv2D(8, 3, activation="relu"),
            layers.Conv2D(8, 3, groups=2, padding="same"),
            layers.DepthwiseConv2D(3, depth_multiplier=2),
            layers.Activation("hard_swish"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(task.classes, activation="softmax"),
        ]
    )


def build_mobilenet_v3_small(inputs: InputArray, task: Task) -> Any:
    import keras

    return keras.applications.MobileNetV3Small(
        input_shape=inputs.shape, weights=None, classes=task.classes, include_preprocessing=False
    )


GRU_STACK = ModelPlugin(
    name="gru_stack",
    family="flops_kinds",
    description="Embedding 16, bidirectional GRU 16 (sequences), SimpleRNN 8, sigmoid",
    build=build_gru_stack,
    inputs=token_ids(32, 500),
    task=binary(),
    in_default_run=False,
)

SEPARABLE_CONVS = ModelPlugin(
    name="separable_convs",
    family="flops_kinds",
    description="Separable, grouped and depthwise 3x3 convolutions on 16x16x4, hard_swish",
    build=build_separable_convs,
    inputs=floats(16, 16, 4),
    task=classification(10),
    in_default_run=False,
)

MOBILENET_V3_SMALL = ModelPlugin(
    name="mobilenet_v3_small",
    family="flops_kinds",
    description="keras.applications MobileNetV3Small, weights=None, 32x32x3, 10 classes",
    build=build_mobilenet_v3_small,
    inputs=floats(32, 32, 3),
    task=classification(10),
    in_default_run=False,
)

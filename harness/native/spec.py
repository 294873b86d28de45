"""A Keras ``Sequential`` read as a list of layer specifications, for the native references
to rebuild the same network in each framework's own idiom (worker side).

Only the layers the references know are read (Dense, Conv1D, Conv2D, max and average
pooling, global average pooling, Flatten, Dropout at rate 0); any other layer makes
:func:`layer_specs` raise :class:`NativeUnsupported`, and the cell says so. The last Dense's
softmax is left to the loss (cross-entropy on logits, each framework's idiom).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")


class NativeUnsupported(Exception):
    """The model has a layer (or a setting) the native references do not rebuild."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its kind, its activation, and what its kind needs (pool or kernel size,
    strides, padding); ``weights`` are the Keras layer's arrays (kernel, bias)."""

    kind: str  # dense, conv1d, conv2d, maxpool1d/2d, avgpool1d/2d, gap1d/2d, flatten
    activation: str = "linear"
    size: int = 0  # kernel or pool size
    strides: int = 1
    padding: str = "valid"
    weights: tuple[np.ndarray, ...] = ()


def applied_activation(specs: list[LayerSpec], index: int) -> str | None:
    """The activation the reference applies after layer ``index``: None for a linear one
    and for the last layer's softmax (left to the loss, on logits); a softmax anywhere else
    is not rebuilt."""
    activation = specs[index].activation
    if activation == "linear" or (activation == "softmax" and index == len(specs) - 1):
        return None
    if activation == "softmax":
        raise NativeUnsupported(f"a softmax before the last layer (layer {index})")
    return activation


def layer_specs(model: Any) -> list[LayerSpec]:
    """The model's layers as specifications, with their current weights."""
    specs = [_spec(layer) for layer in model.layers]
    return [s for s in specs if s is not None]


def _spec(layer: Any) -> LayerSpec | None:
    name, config = type(layer).__name__, layer.get_config()
    weights = tuple(np.asarray(w) for w in layer.get_weights())
    if name == "Dropout" and not config.get("rate"):
        return None
    if name == "InputLayer":
        return None
    activation = config.get("activation", "linear")
    if isinstance(activation, dict) or activation not in ACTIVATIONS:
        raise NativeUnsupported(f"activation {activation!r} of layer {layer.name}")
    if name == "Dense":
        return LayerSpec("dense", activation, weights=_with_bias(layer, weights))
    if name in ("Conv1D", "Conv2D"):
        _plain_conv(layer, config)
        size, strides = config["kernel_size"][0], config["strides"][0]
        kind = name.lower()
        return LayerSpec(
            kind, activation, size, strides, config["padding"], _with_bias(layer, weights)
        )
    pools = {
        "MaxPooling1D": "maxpool1d",
        "MaxPooling2D": "maxpool2d",
        "AveragePooling1D": "avgpool1d",
        "AveragePooling2D": "avgpool2d",
    }
    if name in pools:
        size, strides = config["pool_size"][0], (config["strides"] or config["pool_size"])[0]
        if config["padding"] != "valid":
            raise NativeUnsupported(f"padding {config['padding']!r} of layer {layer.name}")
        return LayerSpec(pools[name], size=size, strides=strides)
    if name in ("GlobalAveragePooling1D", "GlobalAveragePooling2D"):
        return LayerSpec("gap" + name[-2:].lower())
    if name == "Flatten":
        return LayerSpec("flatten")
    raise NativeUnsupported(f"layer {layer.name} ({name})")


def _with_bias(layer: Any, weights: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    if len(weights) != 2:
        raise NativeUnsupported(f"layer {layer.name} without a bias")
    return weights


def _plain_conv(layer: Any, config: dict[str, Any]) -> None:
    square = len(set(config["kernel_size"])) == 1 and len(set(config["strides"])) == 1
    plain = set(config.get("dilation_rate", (1,))) == {1} and config.get("groups", 1) == 1
    if not (square and plain) or config["padding"] not in ("valid", "same"):
        raise NativeUnsupported(f"convolution settings of layer {layer.name}")
    if config.get("data_format", "channels_last") != "channels_last":
        raise NativeUnsupported(f"data_format of layer {layer.name}")

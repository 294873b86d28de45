"""``kbench new-plugin NAME``: write a one-file plugin skeleton that runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import UsageError

TEMPLATE = '''"""{name}: a model plugin for keras-backend-bench.

Run it:  kbench run --plugin-path {file} -p {name}
"""

from __future__ import annotations

from harness.plugin import ModelPlugin, TrainingDefaults


def build(input_shape, num_classes):
    import keras  # inside build: plugins are discovered in a process that never imports Keras

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(num_classes, activation="softmax"),
        ]
    )


PLUGIN = ModelPlugin(
    name="{name}",
    family="custom",
    description="Dense 64 relu, Dropout 0.1, softmax (edit me)",
    input_kind="flat",  # "flat": (784,) pixels; "image": (28, 28, 1)
    build=build,
    training=TrainingDefaults(optimizer="adam", batch_size=32, epochs=10),
)
'''


def write_skeleton(name: str, folder: Path) -> Path:
    """Write ``folder/NAME.py``; refuse a bad name or an existing file."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise UsageError(f"Plugin names are lower_snake_case. Received: name={name!r}")
    path = Path(folder) / f"{name}.py"
    if path.exists():
        raise UsageError(f"Refusing to overwrite an existing file. Received: path='{path}'")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE.format(name=name, file=path))
    return path

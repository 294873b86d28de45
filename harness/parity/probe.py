"""The data every backend's parity worker sees for one plugin: a probe batch to predict and
fixed training batches, made once in the parent and written to the plugin's ``probe.npz``.

A plugin on a registered dataset gets the dataset's first test samples and its training
samples (repeated up to the steps' need); a plugin with declared inputs and a task gets
:func:`harness.synthetic.generate` from its spec and the seed: valid token ids, its task's
targets. Inputs given as a dict are stored one array per name, under ``x_probe.NAME`` and
``x_train.NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from harness import synthetic
from harness.datasets import Dataset
from harness.plugin import ModelPlugin
from harness.worker.model import cycle_samples

PROBE_SIZE = 64  # samples predicted by the forward and portability checks
BATCH_SIZE = 32  # samples per training step
FILE = "probe.npz"  # in each plugin's folder of the shared folder
SEP = "."  # between an array's role and an input's name in the npz keys


@dataclass(frozen=True, eq=False)
class Probe:
    """Inputs (an array, or a dict by name) and targets: the probe batch, then training."""

    x_probe: Any = field(repr=False)
    y_probe: np.ndarray = field(repr=False)
    x_train: Any = field(repr=False)
    y_train: np.ndarray = field(repr=False)

    def save(self, folder: Path) -> None:
        """Write ``folder/probe.npz``."""
        arrays: dict[str, np.ndarray] = {}
        for f in fields(self):
            arrays.update(_flatten(f.name, getattr(self, f.name)))
        np.savez(folder / FILE, **arrays)

    @classmethod
    def load(cls, folder: Path) -> Probe:
        """Read ``folder/probe.npz``."""
        with np.load(folder / FILE) as saved:
            arrays = {key: saved[key] for key in saved.files}
        return cls(**{f.name: _unflatten(f.name, arrays) for f in fields(cls)})


def make_probe(plugin: ModelPlugin, data: Dataset, steps: int, seed: int) -> Probe:
    """The plugin's probe batch and ``steps`` training batches of ``BATCH_SIZE``."""
    n_train = steps * BATCH_SIZE
    if plugin.task is None:
        x_train = np.resize(data.x_train, (n_train, *data.x_train.shape[1:]))
        y_train = np.resize(data.y_train, n_train)
        return Probe(data.x_test[:PROBE_SIZE], data.y_test[:PROBE_SIZE], x_train, y_train)
    made = synthetic.generate(plugin.inputs, plugin.task, n_train, PROBE_SIZE, seed)
    return Probe(made.x_test, made.y_test, *cycle_samples(made.x_train, made.y_train, n_train))


def _flatten(role: str, tree: Any) -> dict[str, np.ndarray]:
    if isinstance(tree, dict):
        return {f"{role}{SEP}{name}": np.asarray(array) for name, array in tree.items()}
    return {role: np.asarray(tree)}


def _unflatten(role: str, arrays: dict[str, np.ndarray]) -> Any:
    if role in arrays:
        return arrays[role]
    prefix = f"{role}{SEP}"
    return {key.removeprefix(prefix): a for key, a in arrays.items() if key.startswith(prefix)}

"""One cell set up in this process as a ``gate`` worker sets it up (the experiments' child side).

The experiments that time steps in processes of their own (``speed_probe``,
``kernel_choices``, ``interleave``) build the cell here, so that each times what a
``kbench ab`` worker times: the ``gate`` profile, ``mnist_5k`` cut to the profile's limit,
the backend's default threads on the CPU, the plugin's model seeded and compiled by
``Session``. Keras is imported by :func:`gate_cell`, after the parent has set
``KERAS_BACKEND`` (:func:`child_env`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends import MALLOC_ENV

PROFILE = "gate"
ROOT = Path(__file__).resolve().parents[2]  # where ``python -m validation.X`` finds the package


def child_env(backend: str) -> dict[str, str]:
    """The environment of an experiment's child: this one, the harness's fixed malloc
    thresholds, ``KERAS_BACKEND`` and no GPU."""
    return {**os.environ, **MALLOC_ENV, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": ""}


@dataclass
class GateCell:
    """The cell's ``Session`` and its training data."""

    session: Any  # harness.worker.Session
    x: Any
    y: Any
    num_classes: int

    def time_steps(self) -> dict[str, Any]:
        """``Session.time_steps`` as a timing-only gate worker calls it."""
        return self.session.time_steps(self.x, self.y, self.num_classes, predict=False)


def gate_cell(plugin_name: str, backend: str) -> GateCell:
    """Import Keras and set up ``plugin_name`` under ``backend`` as a gate worker does."""
    import keras

    from harness import datasets
    from harness.backends import worker_backend
    from harness.registry import discover
    from harness.run import RunSettings, get_profile
    from harness.worker import Session, inputs_targets

    profile = get_profile(PROFILE)
    settings = RunSettings(profile=PROFILE, timing=profile.timing, epochs=1)
    worker_backend(backend).configure("cpu", None)
    data = datasets.load_dataset("mnist_5k")
    plugin = discover(())[plugin_name].plugin
    limit = profile.train_limit
    x, y = inputs_targets(plugin, data.x_train[:limit], data.y_train[:limit])
    return GateCell(Session(keras, plugin, settings, backend), x, y, data.num_classes)

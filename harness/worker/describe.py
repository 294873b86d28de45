"""Build every plugin under one backend and report its parameter counts, layers and the
FLOPs of one training step at its default batch size (a plugin that needs a module this
Python cannot import: why, unbuilt).

Runs as a child (``python -m harness.worker.describe [PLUGIN_PATH ...]``, backend chosen through
``KERAS_BACKEND``) because the parent never imports Keras; prints one JSON object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from harness.backends import parent as devices
from harness.backends.worker import worker_backend
from harness.plugin import ModelPlugin
from harness.registry import discover
from harness.worker.model import build_model, compile_model, describe_model, sample_inputs
from harness.worker.trace import count_model


def describe_all(plugin_paths: Sequence[str]) -> dict[str, Any]:
    """Every plugin's description, or its error, under the imported backend."""
    import keras

    report: dict[str, Any] = {"backend": keras.backend.backend(), "plugins": {}}
    for name, registered in discover(plugin_paths).items():
        plugin = registered.plugin
        missing = plugin.unmet_requirement()
        if missing is not None:
            report["plugins"][name] = {"unavailable": missing}
            continue
        try:
            model = build_model(plugin, 10)
            report["plugins"][name] = describe_model(model) | {"flops": _flops(model, plugin)}
        except Exception as error:
            report["plugins"][name] = {"error": f"{type(error).__name__}: {error}"}
    return report


def _flops(model: Any, plugin: ModelPlugin) -> dict[str, Any]:
    """The plugin's training step as the worker counts it (compiled as a run compiles it),
    or the error that stopped the count."""
    import keras

    try:
        compile_model(model, plugin)
        sample = sample_inputs(plugin)
        batch, dtype = plugin.training.batch_size, keras.config.dtype_policy().compute_dtype
        shapes_of = worker_backend(keras.backend.backend()).shapes_of
        return asdict(count_model(model, plugin, sample, batch, dtype, shapes_of))
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


def describe_in_worker(plugin_paths: Sequence[str], backend: str | None = None) -> dict[str, Any]:
    """Run :func:`describe_all` in a child process (the first installed backend by default)."""
    backend = backend or next((b for b in devices.BACKENDS if devices.backend_installed(b)), None)
    if backend is None:
        return {"backend": None, "plugins": {}}
    env = {**os.environ, **devices.worker_env(backend, "cpu", None)}
    command = [sys.executable, "-m", "harness.worker.describe", *plugin_paths]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"backend": backend, "plugins": {}, "error": tail[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(describe_all(sys.argv[1:])))

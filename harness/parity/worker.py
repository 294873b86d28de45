"""Child for ``kbench parity``: one plugin under one backend (``KERAS_BACKEND``).

``python -m harness.parity.worker SPEC.json RESULT.json``. Two phases share a folder:

* ``measure``: build (seeded) and describe the model; the first backend saves its initial
  weights as arrays, every backend loads them, disables dropout, predicts the plugin's probe
  batch (``harness.parity.probe``), saves the model as ``.keras`` and trains a few fixed
  batches (``train_on_batch``);
  then trains again from the same weights nudged by one ulp (a fixed random sign per
  element): how far that moves its own curve is the model's float32 noise floor.
* ``load``: load every backend's ``.keras`` file (its own too) and predict the same probe batch.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from harness.parity.probe import Probe
from harness.records.files import write_json_atomic
from harness.registry import discover
from harness.run.child import die_with_parent
from harness.worker.model import build_model, compile_model, describe_model, inputs_targets, take

WEIGHTS = "weights.npz"


def main(argv: list[str]) -> int:
    die_with_parent()
    spec = json.loads(Path(argv[0]).read_text())
    try:
        result = run(spec)
    except Exception as error:
        traceback.print_exc()
        result = {"error": f"{type(error).__name__}: {error}"}
    write_json_atomic(Path(argv[1]), result)
    return 0


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Every plugin of the spec in this one process; a plugin's error stays its own."""
    found = discover(spec["plugin_paths"])
    results = {}
    for name in spec["plugins"]:
        try:
            results[name] = run_plugin(found[name].plugin, spec)
        except Exception as error:
            traceback.print_exc()
            results[name] = {"error": f"{type(error).__name__}: {error}"}
    return results


def run_plugin(plugin: Any, spec: dict[str, Any]) -> dict[str, Any]:
    import keras

    keras.utils.set_random_seed(spec["seed"])
    backend = keras.backend.backend()
    shared = Path(spec["shared_dir"]) / plugin.name
    probe = Probe.load(shared)
    x_probe, _ = inputs_targets(plugin, probe.x_probe, probe.y_probe)
    model = build_model(plugin, 10)  # also registers custom classes for loading
    if spec["phase"] == "load":
        return {"loaded": _load_saved(keras, shared, backend, x_probe)}
    description = describe_model(model)
    try:
        return {**description, **_measure(keras, plugin, model, shared, backend, probe, spec)}
    except Exception as error:  # the description still serves the build check
        traceback.print_exc()
        return {**description, "error": f"{type(error).__name__}: {error}"}


def _measure(keras, plugin, model, shared, backend, probe, spec) -> dict[str, Any]:
    """Reference weights in, predictions and a .keras file out, then a few training steps."""
    x_probe, _ = inputs_targets(plugin, probe.x_probe, probe.y_probe)
    reference = shared / WEIGHTS
    if not reference.exists():
        np.savez(reference, *[np.asarray(w) for w in model.get_weights()])
    with np.load(reference) as saved:
        initial = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    model.set_weights(initial)
    _disable_dropout(keras, model)
    np.save(shared / f"pred_{backend}.npy", _flat_predictions(model, x_probe))
    model.save(shared / f"model_{backend}.keras")
    x_train, y_train = inputs_targets(plugin, probe.x_train, probe.y_train)
    curves = {}
    for key, weights in (("losses", initial), ("losses_nudged", _nudged(initial))):
        model.set_weights(weights)
        compile_model(model, plugin)  # a fresh optimizer for each curve
        curves[key] = _train_losses(model, x_train, y_train, spec)
    return curves


def _nudged(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Every float weight moved by one ulp, up or down at random (fixed seed)."""
    rng = np.random.default_rng(0)
    out = []
    for w in weights:
        if w.dtype.kind == "f":
            toward = np.where(rng.random(w.shape) < 0.5, -np.inf, np.inf).astype(w.dtype)
            w = np.nextafter(w, toward)
        out.append(w)
    return out


def _disable_dropout(keras: Any, model: Any) -> None:
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0


def _flat_predictions(model: Any, x: Any) -> np.ndarray:
    """Every output of ``predict`` flattened into one vector (multi-output models too)."""
    import keras

    outputs = keras.tree.flatten(model.predict(x, verbose=0))
    return np.concatenate([np.asarray(o, dtype="float64").ravel() for o in outputs])


def _train_losses(model: Any, x: Any, y: Any, spec: dict[str, Any]) -> list[float]:
    """Losses of ``steps`` training steps on fixed consecutive batches."""
    batch = spec["batch_size"]
    losses = []
    for step in range(spec["steps"]):
        idx = np.arange(step * batch, (step + 1) * batch)
        logs = model.train_on_batch(take(x, idx), take(y, idx), return_dict=True)
        losses.append(float(logs["loss"]))
    return losses


def _load_saved(keras: Any, shared: Path, backend: str, x_probe: Any) -> dict[str, Any]:
    """Max abs difference between each backend's saved model (its own too: the round trip)
    loaded here and the predictions that backend made before saving."""
    loaded = {}
    for path in sorted(shared.glob("model_*.keras")):
        source = path.stem.removeprefix("model_")
        try:
            model = keras.saving.load_model(path, compile=False)
            mine = _flat_predictions(model, x_probe)
            theirs = np.load(shared / f"pred_{source}.npy")
            loaded[source] = {"max_abs_diff": float(np.max(np.abs(mine - theirs)))}
        except Exception as error:
            loaded[source] = {"error": f"{type(error).__name__}: {error}"}
    return loaded


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

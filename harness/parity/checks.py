"""``kbench parity``: do all backends build, predict, load and train the same model?

Two workers per backend (``harness.parity.worker``: measure, then load), one at a time,
over a shared folder, each handling every plugin; the first available backend is the
reference. Checks, each per backend pair:

* ``build``: parameter counts and the layer list (class, output shape) are identical;
* ``forward``: the reference's initial weights, loaded everywhere, give predictions whose
  max abs difference is below ``forward_tol`` (probabilities, float32: 1e-4);
* ``portability``: a ``.keras`` file saved on one backend loads on each backend (itself
  too: the round trip) and predicts the same (max abs difference below ``forward_tol``);
* ``training``: from identical weights, fixed batches, dropout off, ``steps`` training
  steps give losses whose max relative difference is below ``training_tol`` (or the
  plugin's own ``parity_training_tolerance``), and whose first loss, before any update,
  agrees within ``first_loss`` relative whatever the plugin states. Each backend also
  reports its own float32 noise floor: how far a one-ulp nudge of the initial weights
  moves its own curve.

With one backend only (a single-backend install, as in ``nox -s compat``) there is no backend
pair:
it checks that the model builds, that its ``.keras`` file round-trips, and that training
gives finite losses whose one-ulp floor is below the training tolerance.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.backends import parent as devices
from harness.datasets import Dataset
from harness.parity.verdicts import CheckResult, Judge, PluginOutputs, Tolerances
from harness.plugin import ModelPlugin
from harness.run.child import run_child

CHECKS = ("build", "forward", "portability", "training")


@dataclass(frozen=True)
class ParityReport:
    """Every check of every plugin, with the settings used."""

    backends: list[str]
    steps: int
    tolerances: Tolerances
    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.status != "fail" for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "backends": self.backends,
            "steps": self.steps,
            "tolerances": asdict(self.tolerances),
            "passed": self.passed,
            "results": [asdict(r) for r in self.results],
        }


NOT_YET_DECLARED = "parity of a plugin with declared inputs and a task is not checked yet"


def run_parity(
    plugins: Sequence[ModelPlugin],
    backends: Sequence[str],
    data: Dataset,
    plugin_paths: Sequence[str] = (),
    tolerances: Tolerances | None = None,
    steps: int = 5,
    timeout_s: float = 1800.0,
) -> ParityReport:
    """Run every check for every plugin across ``backends`` (two workers per backend)."""
    report = ParityReport(list(backends), steps, tolerances or Tolerances())
    declared = [p for p in plugins if p.task is not None]
    plugins = [p for p in plugins if p.task is None]
    for plugin in declared:  # the probe is the dataset's images; declared inputs need their own
        report.results.extend(
            CheckResult(plugin.name, check, backend, "unavailable", detail=NOT_YET_DECLARED)
            for check in CHECKS
            for backend in backends
        )
    if not plugins:
        return report
    available = [b for b in backends if devices.backend_installed(b)]
    outputs = _run_workers(
        [p.name for p in plugins], available, data, plugin_paths, steps, timeout_s
    )
    missing = [b for b in backends if b not in available]
    for plugin in plugins:
        judge = Judge(plugin.name, report.tolerances, plugin.parity_training_tolerance)
        report.results.extend(judge.check_all(available, outputs.of(plugin.name)))
        report.results.extend(judge.unavailable(c, b) for c in CHECKS for b in missing)
    return report


@dataclass(frozen=True)
class WorkerOutputs:
    """What the measure and load workers of every backend left."""

    measured: dict[str, dict]
    loaded: dict[str, dict]
    predictions: dict[tuple[str, str], np.ndarray | None]

    def of(self, name: str) -> PluginOutputs:
        """One plugin's share, per backend."""
        return PluginOutputs(
            measured={b: _for_plugin(r, name) for b, r in self.measured.items()},
            loaded={b: _for_plugin(r, name) for b, r in self.loaded.items()},
            predictions={b: self.predictions[(name, b)] for b in self.measured},
        )


def _run_workers(
    names: list[str],
    backends: list[str],
    data: Dataset,
    plugin_paths: Sequence[str],
    steps: int,
    timeout_s: float,
) -> WorkerOutputs:
    """Both phases on every backend, over one shared folder (measure everywhere, then load)."""
    with tempfile.TemporaryDirectory(prefix="kbench-parity-") as tmp:
        shared = Path(tmp)
        _write_probe(shared, data, steps)
        for name in names:
            (shared / name).mkdir()
        spec = {
            "plugins": names,
            "plugin_paths": list(plugin_paths),
            "shared_dir": str(shared),
            "seed": 0,
            "steps": steps,
            "batch_size": 32,
        }
        measured = {b: _child(spec, "measure", b, shared, timeout_s) for b in backends}
        loaded = {b: _child(spec, "load", b, shared, timeout_s) for b in backends}
        predictions = {
            (n, b): _load_array(shared / n / f"pred_{b}.npy") for n in names for b in backends
        }
    return WorkerOutputs(measured, loaded, predictions)


def _for_plugin(result: dict, name: str) -> dict:
    """One plugin's part of a worker's result (the worker's own error when it crashed)."""
    if "error" in result and name not in result:
        return {"error": result["error"]}
    return result.get(name, {"error": "no result from the worker"})


def _write_probe(shared: Path, data: Dataset, steps: int) -> None:
    n_train = steps * 32
    np.savez(
        shared / "probe.npz",
        x_probe=data.x_test[:64],
        y_probe=data.y_test[:64],
        x_train=np.resize(data.x_train, (n_train, *data.x_train.shape[1:])),
        y_train=np.resize(data.y_train, n_train),
    )


def _child(spec: dict, phase: str, backend: str, shared: Path, timeout_s: float) -> dict:
    logs = shared / f"{phase}-{backend}"
    logs.mkdir()
    env = devices.worker_env(backend, "cpu", None)
    outcome = run_child("harness.parity.worker", {**spec, "phase": phase}, env, timeout_s, logs)
    if outcome.result is None:
        why = "timed out" if not outcome.finished else f"exited with {outcome.returncode}"
        return {"error": f"worker {why}: {outcome.log_tail.splitlines()[-1:]}"}
    return outcome.result


def _load_array(path: Path) -> np.ndarray | None:
    return np.load(path) if path.exists() else None

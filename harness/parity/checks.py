"""``kbench parity``: do all backends build, predict, load and train the same model?

Two workers per backend (``harness.parity.worker``: measure, then load), one at a time,
over a shared folder, each handling every plugin; the first available backend is the
reference. Each plugin's probe batch and training batches are made here, once
(``harness.parity.probe``: the dataset's samples, or synthetic data from the plugin's declared
inputs and task). Checks, each per backend pair:

* ``build``: parameter counts and the layer list (class, output shape) are identical;
* ``forward``: the reference's initial weights, loaded everywhere, give predictions whose
  max abs difference is below ``forward_tol`` (outputs, float32: 1e-4);
* ``portability``: a ``.keras`` file saved on one backend loads on each backend (itself
  too: the round trip) and predicts the same (max abs difference below ``forward_tol``);
* ``training``: from identical weights, fixed batches, dropout off, ``steps`` training
  steps give losses whose max relative difference is below ``training_tol`` (or the
  plugin's own ``parity_training_tolerance``), and whose first loss, before any update,
  agrees within ``first_loss`` relative whatever the plugin states. Each backend also
  reports its own float32 noise floor: how far a one-ulp nudge of the initial weights
  moves its own curve.

A plugin that ``requires`` a module this Python cannot import is ``unavailable``, with the
reason, and no worker builds it.

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
from harness.parity.probe import BATCH_SIZE, make_probe
from harness.parity.verdicts import CheckResult, Judge, PluginOutputs, Tolerances
from harness.plugin import ModelPlugin
from harness.run.child import run_child

CHECKS = ("build", "forward", "portability", "training")
SEED = 0  # the workers' Keras seed and the declared plugins' synthetic data


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
    unmet = {p.name: why for p in plugins if (why := p.unmet_requirement()) is not None}
    runnable = [p for p in plugins if p.name not in unmet]
    available = [b for b in backends if devices.backend_installed(b)]
    outputs = _run_workers(runnable, available, data, plugin_paths, steps, timeout_s)
    missing = [b for b in backends if b not in available]
    for plugin in plugins:
        judge = Judge(plugin.name, report.tolerances, plugin.parity_training_tolerance)
        if plugin.name in unmet:  # a module it needs is missing: no worker builds it
            report.results.extend(
                judge.unavailable(c, b, unmet[plugin.name]) for c in CHECKS for b in backends
            )
            continue
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
    plugins: Sequence[ModelPlugin],
    backends: list[str],
    data: Dataset,
    plugin_paths: Sequence[str],
    steps: int,
    timeout_s: float,
) -> WorkerOutputs:
    """Both phases on every backend, over one shared folder (measure everywhere, then load)."""
    if not plugins:
        return WorkerOutputs({}, {}, {})
    with tempfile.TemporaryDirectory(prefix="kbench-parity-") as tmp:
        shared, names = Path(tmp), [p.name for p in plugins]
        for plugin in plugins:
            (shared / plugin.name).mkdir()
            make_probe(plugin, data, steps, SEED).save(shared / plugin.name)
        spec = {
            "plugins": names,
            "plugin_paths": list(plugin_paths),
            "shared_dir": str(shared),
            "seed": SEED,
            "steps": steps,
            "batch_size": BATCH_SIZE,
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

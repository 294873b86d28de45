"""``kbench parity``: do all backends build, predict, load and train the same model?

Two workers per backend (``harness.parity_worker``: measure, then load), one at a time,
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

With one backend only (a single-backend install, as in ``nox -s compat``) there is no pair:
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
from harness.plugin import ModelPlugin
from harness.run.runner import run_child

CHECKS = ("build", "forward", "portability", "training")


@dataclass(frozen=True)
class Tolerances:
    """Pass thresholds (float32)."""

    forward: float = 1e-4
    training: float = 1e-2
    first_loss: float = 1e-4


@dataclass(frozen=True)
class CheckResult:
    """One check between two backends (``pair`` is ``a~b``, or ``a->b`` for portability)."""

    plugin: str
    check: str
    pair: str
    status: str  # pass | fail | unavailable
    measured: float | None = None
    tolerance: float | None = None
    detail: str = ""


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
    available = [b for b in backends if devices.backend_installed(b)]
    names = [p.name for p in plugins]
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
        measured = {b: _child(spec, "measure", b, shared, timeout_s) for b in available}
        loaded = {b: _child(spec, "load", b, shared, timeout_s) for b in available}
        predictions = {
            (n, b): _load_array(shared / n / f"pred_{b}.npy") for n in names for b in available
        }
    missing = [b for b in backends if b not in available]
    for plugin in plugins:
        name = plugin.name
        checker = _Checker(name, report.tolerances, plugin.parity_training_tolerance)
        per = {b: _for_plugin(measured[b], name) for b in available}
        loads = {b: _for_plugin(loaded[b], name) for b in available}
        preds = {b: predictions[(name, b)] for b in available}
        report.results.extend(checker.compare(available, per, loads, preds))
        report.results.extend(checker.unavailable(c, b) for c in CHECKS for b in missing)
    return report


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


def _max_relative(reference: Sequence[float], other: Sequence[float]) -> float:
    """The largest ``|a - b| / |a|`` over two equally long loss curves."""
    a, b = np.asarray(reference), np.asarray(other)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-12)))


def _own_floor(measured: dict) -> float | None:
    """How far a one-ulp nudge of the initial weights moved this backend's own curve."""
    losses, nudged = measured.get("losses"), measured.get("losses_nudged")
    if not losses or not nudged or len(losses) != len(nudged):
        return None
    return _max_relative(losses, nudged)


def _load_array(path: Path) -> np.ndarray | None:
    return np.load(path) if path.exists() else None


@dataclass(frozen=True)
class _Checker:
    plugin: str
    tolerances: Tolerances
    training_tolerance: float | None = None  # the plugin's own, when it states one

    def compare(self, backends, measured, loaded, predictions) -> list[CheckResult]:
        if not backends:
            return []
        reference, results = backends[0], []
        if len(backends) == 1:  # nothing to compare with: what one backend can check alone
            results.append(self._builds(reference, measured[reference]))
            results.append(self._trains(reference, measured[reference]))
        for other in backends[1:]:
            pair = f"{reference}~{other}"
            ref, mine = measured[reference], measured[other]
            results.append(self._build(pair, ref, mine))
            results.append(self._forward(pair, predictions[reference], predictions[other], mine))
            results.append(self._training(pair, ref, mine))
        for target in backends:
            for source in backends:
                results.append(self._portability(source, target, loaded[target]))
        return results

    def _builds(self, backend: str, mine: dict) -> CheckResult:
        """One backend alone: the model builds and describes itself."""
        if "params" not in mine:
            return self._result("build", backend, False, detail=mine.get("error", "no model"))
        detail = f"{mine['params']['total']:,} params; no other backend to compare"
        return self._result("build", backend, True, detail=detail)

    def _trains(self, backend: str, mine: dict) -> CheckResult:
        """One backend alone: finite losses, and its own one-ulp floor as the measure."""
        tol = self.training_tolerance or self.tolerances.training
        losses, floor = mine.get("losses"), _own_floor(mine)
        if floor is None or not np.all(np.isfinite(losses)):
            detail = mine.get("error") or f"no finite losses: {losses}"
            return self._result("training", backend, False, tolerance=tol, detail=detail)
        detail = "own 1-ulp floor (max relative loss diff); no other backend to compare"
        return self._result("training", backend, floor < tol, floor, tol, detail)

    def _result(self, check, pair, ok, measured=None, tolerance=None, detail="") -> CheckResult:
        status = "pass" if ok else "fail"
        return CheckResult(self.plugin, check, pair, status, measured, tolerance, detail)

    def _build(self, pair: str, ref: dict, mine: dict) -> CheckResult:
        if "params" not in ref or "params" not in mine:
            error = ref.get("error") or mine.get("error") or "no model description"
            return self._result("build", pair, False, detail=error)
        problems = []
        ref_layers, my_layers = ref["layers"], mine["layers"]
        if ref_layers != my_layers:
            a, b = pair.split("~")
            problems.append(f"layers differ: {a} has {len(ref_layers)}, {b} has {len(my_layers)}")
            pairs = enumerate(zip(ref_layers, my_layers, strict=False))
            first = next((i for i, (x, y) in pairs if x != y), None)
            if first is not None:
                problems.append(f"layer {first}: {ref_layers[first]} vs {my_layers[first]}")
        if ref["params"] != mine["params"]:
            problems.append(f"params {ref['params']} vs {mine['params']}")
        if problems:
            return self._result("build", pair, False, detail="; ".join(problems))
        return self._result("build", pair, True, detail=f"{ref['params']['total']:,} params")

    def _forward(self, pair, ref_pred, my_pred, mine) -> CheckResult:
        tol = self.tolerances.forward
        if ref_pred is None or my_pred is None or ref_pred.shape != my_pred.shape:
            detail = mine.get("error") or "no comparable predictions (build differs)"
            return self._result("forward", pair, False, tolerance=tol, detail=detail)
        diff = float(np.max(np.abs(ref_pred - my_pred)))
        return self._result("forward", pair, diff < tol, diff, tol, "max abs diff")

    def _training(self, pair: str, ref: dict, mine: dict) -> CheckResult:
        tol = self.training_tolerance or self.tolerances.training
        a, b = ref.get("losses"), mine.get("losses")
        if not a or not b or len(a) != len(b):
            detail = ref.get("error") or mine.get("error") or "no comparable losses"
            return self._result("training", pair, False, tolerance=tol, detail=detail)
        rel = _max_relative(a, b)
        first = _max_relative(a[:1], b[:1])
        floors = [f for f in (_own_floor(ref), _own_floor(mine)) if f is not None]
        floor = f"{max(floors):.1e}" if floors else "n/a"
        stated = " (the plugin's stated tolerance)" if self.training_tolerance else ""
        detail = (
            f"max relative loss diff{stated}; first loss {first:.1e} "
            f"(< {self.tolerances.first_loss:g}); own 1-ulp floor {floor}"
        )
        ok = rel < tol and first < self.tolerances.first_loss
        if first >= self.tolerances.first_loss:
            detail = f"the first loss, before any update, differs: {detail}"
        return self._result("training", pair, ok, rel, tol, detail)

    def _portability(self, source: str, target: str, loaded: dict) -> CheckResult:
        tol, pair = self.tolerances.forward, f"{source}->{target}"
        fallback = {"error": loaded.get("error") or f"no .keras file saved by {source}"}
        entry = loaded.get("loaded", {}).get(source) or fallback
        if "error" in entry:
            return self._result("portability", pair, False, tolerance=tol, detail=entry["error"])
        diff = entry["max_abs_diff"]
        return self._result("portability", pair, diff < tol, diff, tol, "max abs diff")

    def unavailable(self, check: str, backend: str) -> CheckResult:
        detail = f"{backend} is not installed"
        return CheckResult(self.plugin, check, backend, "unavailable", detail=detail)

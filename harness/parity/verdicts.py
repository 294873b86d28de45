"""Parity verdicts: one plugin's worker outputs on every backend -> pass/fail per check.

Pure: numbers and dicts in, :class:`CheckResult` records out (no processes, no Keras).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.records.schema import CheckResult


@dataclass(frozen=True)
class Tolerances:
    """Pass thresholds (float32)."""

    forward: float = 1e-4
    training: float = 1e-2
    first_loss: float = 1e-4


@dataclass(frozen=True)
class PluginOutputs:
    """One plugin's outputs per backend: the measure phase, the load phase, predictions."""

    measured: dict[str, dict]
    loaded: dict[str, dict]
    predictions: dict[str, np.ndarray | None]


def max_relative(reference: Sequence[float], other: Sequence[float]) -> float:
    """The largest ``|a - b| / |a|`` over two equally long loss curves."""
    a, b = np.asarray(reference), np.asarray(other)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-12)))


def own_floor(measured: dict) -> float | None:
    """How far a one-ulp nudge of the initial weights moved this backend's own curve."""
    losses, nudged = measured.get("losses"), measured.get("losses_nudged")
    if not losses or not nudged or len(losses) != len(nudged):
        return None
    return max_relative(losses, nudged)


@dataclass(frozen=True)
class Judge:
    """Decides every check of one plugin (the first backend is the reference)."""

    plugin: str
    tolerances: Tolerances
    training_tolerance: float | None = None  # the plugin's own, when it states one

    @property
    def training_tol(self) -> float:
        return self.training_tolerance or self.tolerances.training

    def check_all(self, backends: list[str], out: PluginOutputs) -> list[CheckResult]:
        """Build, forward and training against the reference; portability between all."""
        if not backends:
            return []
        reference, results = backends[0], []
        if len(backends) == 1:  # nothing to compare with: what one backend can check alone
            results += [self.builds(reference, out.measured[reference])]
            results += [self.trains(reference, out.measured[reference])]
        for other in backends[1:]:
            results += self.against_reference(reference, other, out)
        for target in backends:
            results += [self.portability(s, target, out.loaded[target]) for s in backends]
        return results

    def against_reference(self, ref: str, other: str, out: PluginOutputs) -> list[CheckResult]:
        """Build, forward and training for one backend pair, ``pair`` ``ref~other``."""
        pair, mine = f"{ref}~{other}", out.measured[other]
        return [
            self.build(pair, out.measured[ref], mine),
            self.forward(pair, out.predictions[ref], out.predictions[other], mine),
            self.training(pair, out.measured[ref], mine),
        ]

    def result(self, check, pair, ok, measured=None, tolerance=None, detail="") -> CheckResult:
        status = "pass" if ok else "fail"
        return CheckResult(self.plugin, check, pair, status, measured, tolerance, detail)

    def unavailable(self, check: str, backend: str, why: str | None = None) -> CheckResult:
        detail = why or f"{backend} is not installed"
        return CheckResult(self.plugin, check, backend, "unavailable", detail=detail)

    def builds(self, backend: str, mine: dict) -> CheckResult:
        """One backend alone: the model builds and describes itself."""
        if "params" not in mine:
            return self.result("build", backend, False, detail=mine.get("error", "no model"))
        detail = f"{mine['params']['total']:,} params; no other backend to compare"
        return self.result("build", backend, True, detail=detail)

    def trains(self, backend: str, mine: dict) -> CheckResult:
        """One backend alone: finite losses, and its own one-ulp floor as the measure."""
        tol, losses, floor = self.training_tol, mine.get("losses"), own_floor(mine)
        if floor is None or not np.all(np.isfinite(losses)):
            detail = mine.get("error") or f"no finite losses: {losses}"
            return self.result("training", backend, False, tolerance=tol, detail=detail)
        detail = "own 1-ulp floor (max relative loss diff); no other backend to compare"
        return self.result("training", backend, floor < tol, floor, tol, detail)

    def build(self, pair: str, ref: dict, mine: dict) -> CheckResult:
        """Identical layer lists and parameter counts."""
        if "params" not in ref or "params" not in mine:
            error = ref.get("error") or mine.get("error") or "no model description"
            return self.result("build", pair, False, detail=error)
        problems = _layer_problems(pair, ref["layers"], mine["layers"])
        if ref["params"] != mine["params"]:
            problems.append(f"params {ref['params']} vs {mine['params']}")
        if problems:
            return self.result("build", pair, False, detail="; ".join(problems))
        return self.result("build", pair, True, detail=f"{ref['params']['total']:,} params")

    def forward(self, pair, ref_pred, my_pred, mine) -> CheckResult:
        """The reference's weights give the same probabilities here."""
        tol = self.tolerances.forward
        if ref_pred is None or my_pred is None or ref_pred.shape != my_pred.shape:
            detail = mine.get("error") or "no comparable predictions (build differs)"
            return self.result("forward", pair, False, tolerance=tol, detail=detail)
        diff = float(np.max(np.abs(ref_pred - my_pred)))
        return self.result("forward", pair, diff < tol, diff, tol, _forward_detail(ref_pred, tol))

    def training(self, pair: str, ref: dict, mine: dict) -> CheckResult:
        """Training curves within the tolerance, and the first loss within ``first_loss``."""
        tol, a, b = self.training_tol, ref.get("losses"), mine.get("losses")
        if not a or not b or len(a) != len(b):
            detail = ref.get("error") or mine.get("error") or "no comparable losses"
            return self.result("training", pair, False, tolerance=tol, detail=detail)
        rel, first = max_relative(a, b), max_relative(a[:1], b[:1])
        detail = self._training_detail(ref, mine, first)
        ok = rel < tol and first < self.tolerances.first_loss
        if first >= self.tolerances.first_loss:
            detail = f"the first loss, before any update, differs: {detail}"
        return self.result("training", pair, ok, rel, tol, detail)

    def _training_detail(self, ref: dict, mine: dict, first: float) -> str:
        floors = [f for f in (own_floor(ref), own_floor(mine)) if f is not None]
        floor = f"{max(floors):.1e}" if floors else "n/a"
        stated = " (the plugin's stated tolerance)" if self.training_tolerance else ""
        return (
            f"max relative loss diff{stated}; first loss {first:.1e} "
            f"(< {self.tolerances.first_loss:g}); own 1-ulp floor {floor}"
        )

    def portability(self, source: str, target: str, loaded: dict) -> CheckResult:
        """``source``'s ``.keras`` file, loaded on ``target``, predicts the same."""
        tol, pair = self.tolerances.forward, f"{source}->{target}"
        fallback = {"error": loaded.get("error") or f"no .keras file saved by {source}"}
        entry = loaded.get("loaded", {}).get(source) or fallback
        if "error" in entry:
            return self.result("portability", pair, False, tolerance=tol, detail=entry["error"])
        diff = entry["max_abs_diff"]
        return self.result("portability", pair, diff < tol, diff, tol, "max abs diff")


def _forward_detail(ref_pred: np.ndarray, tol: float) -> str:
    """``max abs diff``, and a warning when the outputs hardly vary over the probe batch (a
    model whose activations vanish at initialization): then agreeing says little."""
    spread = float(np.ptp(ref_pred)) if ref_pred.size else 0.0
    if spread >= tol:
        return "max abs diff"
    return (
        f"max abs diff; the outputs hardly vary over the probe (spread {spread:.1e}), so this "
        "says little: the training check's first loss compares the training-mode forward pass"
    )


def _layer_problems(pair: str, ref_layers: list, my_layers: list) -> list[str]:
    if ref_layers == my_layers:
        return []
    a, b = pair.split("~")
    problems = [f"layers differ: {a} has {len(ref_layers)}, {b} has {len(my_layers)}"]
    side_by_side = enumerate(zip(ref_layers, my_layers, strict=False))
    first = next((i for i, (x, y) in side_by_side if x != y), None)
    if first is not None:
        problems.append(f"layer {first}: {ref_layers[first]} vs {my_layers[first]}")
    return problems

"""Result records: a Status per cell, the cell's record and the run's, with a schema version;
a compared cell's verdict; a parity check's outcome."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from harness.records.efficiency import FlopCount, MeasuredPeak
from harness.records.steptime import StepTimeSummary

SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)  # version 1: one process per cell, read as a summary of one
COMPARISON_KIND = "kbench-comparison"
# The run settings that change what a cell measures (recorded under ``config``; shards of one
# matrix must agree on them). The run's other recorded settings only bound it.
MEASURED_SETTINGS = (
    "profile",
    "epochs",
    "batch_size",
    "jit_compile",
    "dtype_policy",
    "threads",
    "malloc",
    "seed",
    "predict_repeats",
    "timing",
)
MALLOC_UNRECORDED = "system"  # what a record from before ``--malloc`` ran with: glibc's own
VERDICTS = (
    "faster",
    "same",
    "slower",
    "regression",
    "inconclusive",
    "new",
    "missing",
    "incomparable",
)  # a compared cell's possible verdicts


# Quality figures where more is better (an ``*accuracy`` too); any other (a loss, an error)
# is better lower.
HIGHER_IS_BETTER = frozenset({"auc", "precision", "recall", "f1_score", "r2_score"})


def higher_is_better(quality: str) -> bool:
    """Whether a larger value of the quality figure ``quality`` is the better one."""
    return quality.endswith("accuracy") or quality in HIGHER_IS_BETTER


class Status(str, enum.Enum):
    """Every cell ends in exactly one of these; none raises into the run."""

    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"  # the run was stopped (Ctrl-C, SIGTERM) before it finished


@dataclass(frozen=True)
class Cell:
    """One unit of work: a plugin under one backend on one device; in a batch-size sweep
    (``--batch-size 1,32,256``), also at one of its batch sizes (None: not a sweep); with
    ``native``, the plugin's network written natively in the backend's framework, in that
    variant (``kbench run --native``), instead of its Keras model."""

    plugin: str
    backend: str
    device: str
    batch_size: int | None = None
    native: str | None = None

    @property
    def key(self) -> str:
        return cell_key(self.plugin, self.backend, self.device, self.batch_size, self.native)

    @property
    def keras_key(self) -> str:
        """The key of the Keras cell this cell stands beside (itself for a Keras cell)."""
        return cell_key(self.plugin, self.backend, self.device, self.batch_size)


def cell_key(
    plugin: str, backend: str, device: str, batch_size: Any = None, native: str | None = None
) -> str:
    """``plugin/backend/device``, ``/b<size>`` for a cell of a batch-size sweep, and
    ``/native-<variant>`` for a native reference's cell."""
    key = f"{plugin}/{backend}/{device}"
    key = key if batch_size is None else f"{key}/b{int(batch_size)}"
    return key if native is None else f"{key}/native-{native}"


@dataclass(frozen=True)
class Params:
    """Parameter counts as Keras reports them."""

    total: int
    trainable: int
    non_trainable: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class CellResult:
    """What one worker measured (or why it could not)."""

    plugin: str
    backend: str
    device: str
    dataset: str
    status: Status
    error: str | None = None
    params: Params | None = None
    step_time_ms: StepTimeSummary | None = None
    samples_per_s: float | None = None
    # the median of predict_step_ms; in a file from before it, the median of whole predict
    # calls' mean time per batch
    predict_ms_per_batch: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int | None = None
    early_stopping: dict[str, Any] | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    fairness: dict[str, Any] = field(default_factory=dict)
    memory_mb: dict[str, float | None] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    log_tail: str | None = None
    duration_s: float | None = None
    repro: str | None = None  # the command line that reruns just this cell (cells not ok)
    machine: dict[str, Any] | None = None  # where it ran, in a merged file (else: environment)
    flops: FlopCount | None = None  # counted FLOPs per training step (docs/efficiency.md)
    peak: MeasuredPeak | None = None  # matmul peak and bandwidth measured by the worker
    # a plugin with a task: its quality figure, {"name", "value", "higher_is_better"}; absent
    # for a registered dataset's plugin, whose figure is metrics["test_accuracy"]
    quality: dict[str, Any] | None = None
    # steady-state ms per predict batch, timed as the training step (window pairs of predict)
    predict_step_ms: StepTimeSummary | None = None
    batch_size: int | None = None  # the cell's batch size in a batch-size sweep (else absent)
    # a native reference's cell: {"variant", "framework", "same_model": {...}} (else absent)
    native: dict[str, Any] | None = None

    @property
    def cell(self) -> Cell:
        variant = self.native.get("variant") if self.native else None
        return Cell(self.plugin, self.backend, self.device, self.batch_size, variant)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def achieved_gflops(self) -> float | None:
        """Counted FLOPs per step over the median step time, GFLOP/s (None when either
        is missing)."""
        if self.flops is None or self.step_time_ms is None or self.step_time_ms.median <= 0:
            return None
        return self.flops.total / (self.step_time_ms.median / 1000.0) / 1e9

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        for name in _ABSENT_WHEN_NONE:  # records without them stay as they were
            if data[name] is None:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellResult:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = Status(values["status"])
        if values.get("params") is not None:
            values["params"] = Params(**values["params"])
        for name in ("step_time_ms", "predict_step_ms"):
            if values.get(name) is not None:
                values[name] = StepTimeSummary.from_dict(values[name])
        if values.get("flops") is not None:
            values["flops"] = FlopCount.from_dict(values["flops"])
        if values.get("peak") is not None:
            values["peak"] = MeasuredPeak.from_dict(values["peak"])
        return cls(**values)

    @classmethod
    def not_run(cls, cell: Cell, dataset: str, status: Status, reason: str) -> CellResult:
        """A cell that never produced measurements (unavailable, timeout, crash)."""
        return cls(
            cell.plugin,
            cell.backend,
            cell.device,
            dataset,
            status,
            error=reason,
            batch_size=cell.batch_size,
            native={"variant": cell.native} if cell.native else None,
        )


# CellResult fields left out of its dict when unset: a task's quality figure and a sweep's
# batch size (a run without them writes its cells as before either existed)
_ABSENT_WHEN_NONE = ("quality", "batch_size", "native")


@dataclass(frozen=True)
class RunResult:
    """One benchmark run: where, with what settings, and every cell's result."""

    created: str
    environment: dict[str, Any]
    config: dict[str, Any]
    cells: list[CellResult]
    schema_version: int = SCHEMA_VERSION
    interrupted: str | None = None  # the signal that stopped the run before it finished

    @property
    def all_ok(self) -> bool:
        """True when no cell failed, timed out or was unavailable (skips are declared)."""
        return all(c.status in (Status.OK, Status.SKIPPED) for c in self.cells)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "created": self.created,
            "environment": self.environment,
            "config": self.config,
            "cells": [c.to_dict() for c in self.cells],
            **({"interrupted": self.interrupted} if self.interrupted else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        return cls(
            created=data["created"],
            environment=data["environment"],
            config=data["config"],
            cells=[CellResult.from_dict(c) for c in data["cells"]],
            schema_version=SCHEMA_VERSION,
            interrupted=data.get("interrupted"),
        )


@dataclass(frozen=True)
class CellComparison:
    """One cell's verdict and the figures behind it."""

    key: str
    plugin: str
    backend: str
    device: str
    verdict: str
    reason: str = ""
    a_median_ms: float | None = None
    b_median_ms: float | None = None
    ratio: float | None = None
    ratio_ci_low: float | None = None
    ratio_ci_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    p_faster: float | None = None
    p_faster_adjusted: float | None = None
    n_a: int = 0
    n_b: int = 0
    a_samples: list[float] = field(default_factory=list)
    b_samples: list[float] = field(default_factory=list)
    a_accuracy: float | None = None
    b_accuracy: float | None = None
    detectable_slowdown: float | None = None  # harness.gate.compare.with_detectable_slowdowns

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellComparison:
        return cls(**data)


@dataclass(frozen=True)
class CheckResult:
    """One check between two backends (``pair``, the backend pair: ``a~b``, or ``a->b`` for
    portability)."""

    plugin: str
    check: str
    pair: str
    status: str  # pass | fail | unavailable
    measured: float | None = None
    tolerance: float | None = None
    detail: str = ""

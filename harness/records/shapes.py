"""The shapes of the files commands read, for :mod:`harness.records.check`: the records
themselves where a file holds them, and the plain JSON blocks around them (every field
optional: a file of an older schema lacks newer ones)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.records.schema import CellComparison, CellResult, CheckResult


@dataclass(frozen=True)
class DatasetShape:
    requested: str | None = None
    used: str | None = None
    source: str | None = None
    n_train: int | None = None
    n_test: int | None = None


@dataclass(frozen=True)
class ConfigShape:
    profile: str | None = None
    epochs: int | None = None
    batch_size: int | list[int] | None = None  # several: a batch-size sweep
    jit_compile: str | None = None
    dtype_policy: str | None = None
    threads: int | None = None
    malloc: str | None = None
    seed: int | None = None
    timeout_s: float | None = None
    predict_repeats: int | None = None
    timing: dict[str, float] | None = None
    max_memory_gb: float | None = None
    plugins: list[str] | None = None
    backends: list[str] | None = None
    devices: list[str] | None = None
    dataset: DatasetShape | None = None
    plugin_paths: list[str] | None = None
    plugin_sources: dict[str, str | None] | None = None
    repeats: int | None = None
    shard: str | None = None
    merged_from: list[str] | None = None


@dataclass(frozen=True)
class EnvironmentShape:
    harness: str | None = None
    python: str | None = None
    packages: dict[str, str | None] | None = None
    os: str | None = None
    hostname: str | None = None
    cpu: str | None = None
    cores: int | None = None
    affinity: list[int] | None = None
    load_average: list[float] | None = None
    gpus: list[str] | None = None
    git_commit: str | None = None


@dataclass(frozen=True)
class BaselineShape:
    name: str | None = None
    saved: str | None = None
    source: str | None = None
    fingerprints: dict[str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class RunShape:
    """A results file (and a baseline, which adds ``baseline``)."""

    schema_version: int | None = None
    created: str | None = None
    environment: EnvironmentShape | None = None
    config: ConfigShape | None = None
    cells: list[CellResult] | None = None
    interrupted: str | None = None
    baseline: BaselineShape | None = None


@dataclass(frozen=True)
class RuleShape:
    alpha: float | None = None
    threshold: float | None = None
    accuracy_tolerance: float | None = None
    test: str | None = None
    correction: str | None = None
    looks: int | None = None
    spending: str | None = None


@dataclass(frozen=True)
class SideShape:
    label: str | None = None
    environment: EnvironmentShape | None = None
    config: ConfigShape | None = None


@dataclass(frozen=True)
class ComparisonShape:
    """``kbench compare --json`` and ``kbench ab --out`` (which adds both sides' runs)."""

    kind: str | None = None
    schema_version: int | None = None
    created: str | None = None
    rule: RuleShape | None = None
    a: SideShape | None = None
    b: SideShape | None = None
    cells: list[CellComparison] | None = None
    summary: dict[str, Any] | None = None
    ab: dict[str, Any] | None = None
    runs: dict[str, RunShape] | None = None


@dataclass(frozen=True)
class ParityShape:
    backends: list[str] | None = None
    steps: int | None = None
    tolerances: dict[str, float] | None = None
    passed: bool | None = None
    results: list[CheckResult] | None = None

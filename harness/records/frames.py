"""Results and comparison files as pandas DataFrames, for notebooks and the report::

from harness.records import load
df = load("results/runs/20261129-064217-quick.json")
df.pivot_table(index="plugin", columns="backend", values="step_ms_median")
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.records.files import read_comparison, read_run_data
from harness.records.schema import MALLOC_UNRECORDED, RunResult, cell_key, higher_is_better

HISTORY_METRICS = ("loss", "val_loss", "accuracy", "val_accuracy")

# Flat column -> path into a cell dict. Missing keys become NaN/None, so v1 and v2 both load.
_CELL_COLUMNS: dict[str, tuple[str, ...]] = {
    "plugin": ("plugin",),
    "backend": ("backend",),
    "device": ("device",),
    "dataset": ("dataset",),
    "status": ("status",),
    "error": ("error",),
    "params_total": ("params", "total"),
    "params_trainable": ("params", "trainable"),
    "params_non_trainable": ("params", "non_trainable"),
    "step_ms_median": ("step_time_ms", "median"),
    "step_ms_ci_low": ("step_time_ms", "ci_low"),
    "step_ms_ci_high": ("step_time_ms", "ci_high"),
    "step_ms_cv": ("step_time_ms", "cv"),
    "step_ms_cv_of": ("step_time_ms", "spread_of"),
    "n_processes": ("step_time_ms", "n_processes"),
    "step_ms_with_teardown": ("step_time_ms", "with_teardown_ms"),
    "teardown_ms_per_step": ("step_time_ms", "teardown_ms_per_step"),
    "samples_per_s": ("samples_per_s",),
    "predict_ms_per_batch": ("predict_ms_per_batch",),
    "predict_ms_median": ("predict_step_ms", "median"),
    "predict_ms_ci_low": ("predict_step_ms", "ci_low"),
    "predict_ms_ci_high": ("predict_step_ms", "ci_high"),
    "predict_ms_cv": ("predict_step_ms", "cv"),
    "predict_ms_with_teardown": ("predict_step_ms", "with_teardown_ms"),
    "predict_teardown_ms_per_batch": ("predict_step_ms", "teardown_ms_per_step"),
    "test_accuracy": ("metrics", "test_accuracy"),
    "test_loss": ("metrics", "test_loss"),
    "chance_accuracy": ("metrics", "chance_accuracy"),
    "quality_name": ("quality", "name"),
    "quality": ("quality", "value"),
    "epochs_run": ("epochs_run",),
    "import_s": ("timings_s", "import"),
    "build_s": ("timings_s", "build"),
    "first_step_s": ("timings_s", "first_step"),
    "train_s": ("timings_s", "train"),
    "evaluate_s": ("timings_s", "evaluate"),
    "peak_rss_mb": ("memory_mb", "peak_rss"),
    "device_peak_mb": ("memory_mb", "device_peak"),
    "jit_compile_used": ("fairness", "jit_compile_used"),
    "batch_size": ("fairness", "batch_size"),
    "sweep_batch": ("batch_size",),  # the cell's batch size in a batch-size sweep, else NA
    "keras_version": ("versions", "keras"),
    "duration_s": ("duration_s",),
    "flops_per_step": ("flops", "total"),
    "flops_forward": ("flops", "forward"),
    "flops_backward": ("flops", "backward"),
    "flops_loss": ("flops", "loss"),
    "flops_optimizer": ("flops", "optimizer"),
    "bytes_per_step": ("flops", "bytes_moved"),
    "bandwidth_gbs": ("peak", "memory", "rate"),
    "native": ("native", "variant"),  # a native reference's cell (kbench run --native)
    "native_framework": ("native", "framework"),
}
_INT_COLUMNS = (
    "sweep_batch",
    "params_total",
    "params_trainable",
    "params_non_trainable",
    "n_processes",
    "epochs_run",
    "batch_size",
)
_TEXT_COLUMNS = (
    "plugin",
    "backend",
    "device",
    "dataset",
    "status",
    "error",
    "keras_version",
    "step_ms_cv_of",
    "quality_name",
    "native",
    "native_framework",
)


def load(path: Path | str) -> pd.DataFrame:
    """One row per cell of a results file, with flat columns (``step_ms_median``, ...)."""
    return cells_frame(read_run_data(path))


def load_comparison(path: Path | str) -> pd.DataFrame:
    """One row per cell of a comparison file (verdict, ratio and its CI, p-values)."""
    return comparison_frame(read_comparison(path))


def cells_frame(run: RunResult | dict[str, Any]) -> pd.DataFrame:
    """The cells of a run (a record or its dict) as a DataFrame (see ``load``)."""
    run = _as_dict(run)
    cells = run["cells"]
    rows = [{name: _dig(cell, keys) for name, keys in _CELL_COLUMNS.items()} for cell in cells]
    frame = pd.DataFrame(rows, columns=list(_CELL_COLUMNS))
    for name in frame.columns:
        if name in _INT_COLUMNS:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
        elif name not in _TEXT_COLUMNS and name != "jit_compile_used":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    keys = [
        cell_key(c["plugin"], c["backend"], c["device"], c.get("batch_size"), _variant(c))
        for c in cells
    ]
    frame.insert(3, "key", keys)
    frame["keras_key"] = [
        cell_key(c["plugin"], c["backend"], c["device"], c.get("batch_size")) for c in cells
    ]
    frame = with_native_ratio(frame)
    frame["predict_samples_per_s"] = frame["batch_size"] / (frame["predict_ms_median"] / 1000.0)
    frame["malloc"] = (run.get("config") or {}).get("malloc", MALLOC_UNRECORDED)
    return with_efficiency(with_quality(frame), cells)


def _variant(cell: dict[str, Any]) -> str | None:
    native = cell.get("native")
    return native.get("variant") if isinstance(native, dict) else None


def with_native_ratio(frame: pd.DataFrame) -> pd.DataFrame:
    """Each native reference's row with its Keras cell's median (``keras_ms``) and
    ``keras_over_native``, Keras's median step time over the native one (above 1: Keras
    is slower); NaN on Keras rows and where either is missing. A native row takes its
    Keras cell's counted FLOPs, so its GFLOP/s and share of peak are on the same count."""
    keras_rows = frame[frame["native"].isna()]
    keras_ms = dict(zip(keras_rows["key"], keras_rows["step_ms_median"], strict=True))
    native = frame["native"].notna()
    frame["keras_ms"] = [
        keras_ms.get(k, math.nan) if is_native else math.nan
        for k, is_native in zip(frame["keras_key"], native, strict=True)
    ]
    frame["keras_over_native"] = frame["keras_ms"] / frame["step_ms_median"]
    counted = keras_rows.set_index("key")
    for column in _FLOP_COLUMNS:  # the same network: the Keras cell's counted FLOPs
        known = counted[column].to_dict()
        mapped = frame["keras_key"].map(known)
        frame.loc[native, column] = frame.loc[native, column].fillna(mapped[native])
    return frame


_FLOP_COLUMNS = (
    "flops_per_step",
    "flops_forward",
    "flops_backward",
    "flops_loss",
    "flops_optimizer",
    "bytes_per_step",
)


def keras_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """The Keras cells of a cells frame (without native references' rows)."""
    return frame[frame["native"].isna()] if "native" in frame else frame


def with_quality(frame: pd.DataFrame) -> pd.DataFrame:
    """The quality figure of every trained cell: a task's own (``quality_name``,
    ``quality``), else its test accuracy (every record from before tasks)."""
    accuracy = frame["quality_name"].isna() & frame["test_accuracy"].notna()
    frame.loc[accuracy, "quality_name"] = "accuracy"
    frame.loc[accuracy, "quality"] = frame.loc[accuracy, "test_accuracy"]
    frame["quality_higher_is_better"] = [
        higher_is_better(n) if isinstance(n, str) else None for n in frame["quality_name"]
    ]
    return frame


def with_efficiency(frame: pd.DataFrame, cells: list[dict[str, Any]]) -> pd.DataFrame:
    """The efficiency columns (docs/efficiency.md): ``gflops`` achieved (counted FLOPs per
    step / median step time), the cell's own best measured matmul ``peak_gflops``, the
    ``device_peak_gflops`` and ``device_bandwidth_gbs`` (the best any cell of the run
    measured on the same device of the same machine), ``share_of_peak`` (``gflops`` /
    ``device_peak_gflops``) and ``flop_per_byte`` (counted FLOPs / estimated bytes moved)."""
    frame["gflops"] = frame["flops_per_step"] / (frame["step_ms_median"] / 1000.0) / 1e9
    frame.loc[~(frame["step_ms_median"] > 0), "gflops"] = math.nan
    frame["peak_gflops"] = [_best_matmul(cell) for cell in cells]
    where = [_machine(cell) for cell in cells]
    frame["device_peak_gflops"] = frame.groupby(where)["peak_gflops"].transform("max")
    frame["device_bandwidth_gbs"] = frame.groupby(where)["bandwidth_gbs"].transform("max")
    frame["share_of_peak"] = frame["gflops"] / frame["device_peak_gflops"]
    frame["flop_per_byte"] = frame["flops_per_step"] / frame["bytes_per_step"]
    return frame


def _best_matmul(cell: dict[str, Any]) -> float:
    rates = [_number(r.get("rate")) for r in _dig(cell, ("peak", "matmul")) or []]
    return max(rates, default=math.nan)


def _machine(cell: dict[str, Any]) -> str:
    """The device a cell ran on: its device kind, and its host in a merged file."""
    return f"{cell.get('device')}@{_dig(cell, ('machine', 'hostname')) or ''}"


def history_frame(run: RunResult | dict[str, Any]) -> pd.DataFrame:
    """Per-epoch training history, long form: plugin, backend, device, metric, epoch, value,
    and a batch-size sweep's batch size (``sweep_batch``, NA outside a sweep)."""
    run = _as_dict(run)
    rows = []
    for cell in run["cells"]:
        for metric, values in (cell.get("history") or {}).items():
            for epoch, value in enumerate(values or [], start=1):
                rows.append(
                    {
                        "plugin": cell["plugin"],
                        "backend": cell["backend"],
                        "device": cell["device"],
                        "metric": metric,
                        "epoch": epoch,
                        "value": _number(value),
                        "sweep_batch": cell.get("batch_size"),
                    }
                )
    columns = ["plugin", "backend", "device", "metric", "epoch", "value", "sweep_batch"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["sweep_batch"] = pd.to_numeric(frame["sweep_batch"], errors="coerce").astype("Int64")
    return frame


def comparison_frame(comparison: dict[str, Any]) -> pd.DataFrame:
    """The cells of a comparison dict as a DataFrame; null numbers become NaN.

    The documented columns come first; any other scalar field a producer adds (e.g.
    ``a_accuracy``) follows; per-sample lists stay in the file.
    """
    columns = ["key", "plugin", "backend", "device", "verdict", "reason"]
    numbers = ["a_median_ms", "b_median_ms", "ratio", "ratio_ci_low", "ratio_ci_high"]
    numbers += ["p_value", "p_adjusted", "n_a", "n_b", "detectable_slowdown"]
    scalars = [
        {k: v for k, v in cell.items() if not isinstance(v, (list, dict))}
        for cell in comparison["cells"]
    ]
    extra = [
        k for k in dict.fromkeys(k for row in scalars for k in row) if k not in columns + numbers
    ]
    frame = pd.DataFrame(scalars, columns=columns + numbers + extra)
    for name in numbers:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    frame["reason"] = frame["reason"].fillna("")
    return frame


def _as_dict(run: RunResult | dict[str, Any]) -> dict[str, Any]:
    return run.to_dict() if isinstance(run, RunResult) else run


def _dig(data: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan

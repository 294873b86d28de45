"""How close to the machine the cells ran: the efficiency table and the measured peaks.

Built from the cells DataFrame (``harness.records.frames.cells_frame``: ``gflops``,
``share_of_peak``, ``flop_per_byte`` ...) and, for the peaks' shapes and dtypes, the run's
cells as dicts. What the figures mean: docs/efficiency.md.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.records.efficiency import PARTS
from harness.report.tables import Cell, Column, Table, columns_of, formatted, gflops_text

_EFFICIENCY = ("MFLOP/step", "fwd/bwd/loss/opt", "GFLOP/s (% peak)", "FLOP/byte", "own peak")
_SHORT_DTYPES = {"float32": "f32", "float16": "f16", "bfloat16": "bf16", "float64": "f64"}


def efficiency_table(cells: pd.DataFrame) -> Table | None:
    """Per counted cell: FLOPs per step and their split, achieved GFLOP/s and its share of
    the device's peak, arithmetic intensity, and the peak the cell's own backend measured
    (None when no cell was counted)."""
    counted = cells[cells["flops_per_step"].notna()]
    if counted.empty:
        return None
    columns = (Column("cell", strong=True), *columns_of(_EFFICIENCY, numeric=True))
    rows = tuple(_efficiency_row(cell) for _, cell in counted.iterrows())
    caption = (
        "FLOPs counted from the built model, a multiply-add = 2 (forward, backward, loss and "
        "metrics, optimizer update, as % of the step); GFLOP/s: FLOPs / median step time, "
        "in brackets its share of the best matmul rate any backend measured on this device "
        "in the run; FLOP/byte: FLOPs over the bytes an unfused step would move; own peak: "
        "the best matmul rate this cell's backend measured (GFLOP/s)"
    )
    return Table("How close to the machine (see docs/efficiency.md)", columns, rows, caption)


def _efficiency_row(cell: pd.Series) -> tuple[Cell, ...]:
    total = cell["flops_per_step"]
    split = "/".join(f"{cell[f'flops_{part}'] / total:.0%}".rstrip("%") for part in PARTS)
    return (
        Cell(cell["key"]),
        Cell(f"{total / 1e6:,.1f}"),
        Cell(f"{split} %"),
        Cell(gflops_text(cell["gflops"], cell["share_of_peak"])),
        Cell(formatted(cell["flop_per_byte"], ".1f")),
        Cell(formatted(cell["peak_gflops"], ".0f")),
    )


def peak_table(run: dict[str, Any]) -> Table | None:
    """Per cell that measured it: the matmul rates (square and model shape, per dtype) and
    the stream bandwidth, with the time spent (None when no cell measured a peak)."""
    measured = [c for c in run.get("cells") or [] if c.get("peak")]
    if not measured:
        return None
    columns = (
        Column("cell", strong=True),
        *columns_of(("square GFLOP/s", "model-shape GFLOP/s", "memory GB/s", "s"), numeric=True),
    )
    rows = tuple(_peak_row(cell) for cell in measured)
    caption = (
        "Measured by each cell's worker right after its timing, through keras.ops on the "
        "cell's backend and device: best time per call of back-to-back calls; an achievable "
        "peak at these shapes, not the datasheet's. Square: n x n x n; model shape: the "
        "model's largest matmul (m x k x n, a convolution as im2col)"
    )
    return Table("Matmul peak and memory bandwidth measured in this run", columns, rows, caption)


def _peak_row(cell: dict[str, Any]) -> tuple[Cell, ...]:
    peak = cell["peak"]
    rates = peak.get("matmul") or []
    memory = peak.get("memory") or {}
    key = "/".join(str(cell.get(k)) for k in ("plugin", "backend", "device"))
    return (
        Cell(key),
        _rates_cell([r for r in rates if r.get("label") == "square"]),
        _rates_cell([r for r in rates if r.get("label") == "model"]),
        Cell(formatted(memory.get("rate"), ".1f")),
        Cell(formatted(peak.get("seconds"), ".2f")),
    )


def _rates_cell(rates: list[dict[str, Any]]) -> Cell:
    """One line per dtype: ``285 (1024x1024x1024 f32)``."""
    return Cell.stack(
        Cell(
            f"{formatted(r.get('rate'), '.0f', '?')} ({'x'.join(map(str, r.get('shape') or []))} "
            f"{_SHORT_DTYPES.get(r.get('dtype'), r.get('dtype'))})"
        )
        for r in rates
    )

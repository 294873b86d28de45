"""What Keras costs: each Keras cell beside its native references (``kbench run --native``),
as a table and as a chart of Keras / native step-time ratios.

Built from the cells DataFrame (``harness.records.frames.cells_frame``: ``native``,
``keras_ms``, ``keras_over_native``). What the ratio includes and leaves out: docs/native.md.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.report.tables import Cell, Column, Table, formatted, group_label


def native_table(cells: pd.DataFrame) -> Table | None:
    """Per Keras cell with native references: its median ms/step, and per variant the native
    median and Keras / native (None when the run timed no native reference)."""
    if "native" not in cells or cells["native"].isna().all():
        return None
    native = cells[cells["native"].notna()]
    variants = list(dict.fromkeys(native["native"]))
    columns = [Column("plugin", strong=True), Column("backend"), Column("Keras ms", numeric=True)]
    columns += [Column(f"{v} ms (Keras/native)", numeric=True) for v in variants]
    rows = []
    for _, mine in native.groupby("keras_key", sort=False):
        first = mine.iloc[0]
        by_variant = {row["native"]: row for _, row in mine.iterrows()}
        rows.append(
            (
                Cell(str(first["plugin"])),
                Cell(group_label(first["backend"], first["device"])),
                Cell(formatted(first["keras_ms"], ".3f", "-")),
                *(_variant_cell(by_variant.get(v)) for v in variants),
            )
        )
    caption = (
        "median steady-state ms per training step of the Keras model and of the same network "
        "written natively in the backend's framework (same data, batch size, threads and "
        "window pairs); in brackets Keras / native, above 1: Keras is slower; a failed "
        "reference (e.g. one that is not the same model) is shown as failed (docs/native.md)"
    )
    return Table(
        "What Keras costs: Keras against native code", tuple(columns), tuple(rows), caption
    )


def _variant_cell(row: Any) -> Cell:
    if row is None:
        return Cell("")
    if row["status"] != "ok":
        return Cell(str(row["status"]), "bad")
    ratio = row["keras_over_native"]
    text = (
        f"{row['step_ms_median']:.3f} (x{ratio:.2f})"
        if pd.notna(ratio)
        else f"{row['step_ms_median']:.3f}"
    )
    return Cell(text, "slower" if pd.notna(ratio) and ratio > 1.1 else "")


def native_chart(cells: pd.DataFrame) -> Any:
    """A horizontal bar per native reference: Keras / native (None when there is none)."""
    if "native" not in cells:
        return None
    native = cells[cells["native"].notna() & cells["keras_over_native"].notna()]
    if native.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    labels = [f"{r.plugin} {r.backend} {r.native}" for r in native.itertuples()]
    ratios = list(native["keras_over_native"])
    figure, axes = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.2))
    axes.barh(labels, ratios, color=["#c0504d" if r > 1 else "#4f81bd" for r in ratios])
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.invert_yaxis()
    axes.set_xlabel("Keras / native median step time (above 1: Keras slower)")
    figure.tight_layout()
    return figure

"""The roofline chart: achieved GFLOP/s against arithmetic intensity, under the measured roofs.

Pure: the cells DataFrame in (``harness.records.frames.cells_frame``), a Figure out. Per
device, the roof is min(measured matmul peak, measured bandwidth x intensity); a cell far
below its roof is neither compute- nor memory-bound but waits on something else (dispatch,
synchronisation, small kernels). docs/efficiency.md says where the picture misleads.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.report.charts import DEVICE_MARKERS, DPI, backend_colours, group_label
from harness.report.tables import groups

_ROOF_STYLES = ("-", "--", ":", "-.")


def plotted(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells the chart shows: an achieved rate and an intensity, both positive."""
    keep = (cells["gflops"] > 0) & (cells["flop_per_byte"] > 0)
    return cells[keep].reset_index(drop=True)


def roofline_chart(cells: pd.DataFrame) -> Figure:
    """Every counted, timed cell as a point (colour: backend, marker: device, label: plugin)
    and each device's roof, on log-log axes."""
    rows = plotted(cells)
    figure = Figure(figsize=(10, 5.6), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    low, high = _intensity_range(rows)
    handles = _roofs(ax, rows, low, high)
    colours = backend_colours(groups(rows))
    for _, cell in rows.iterrows():
        colour = colours[(cell["backend"], cell["device"])]
        marker = DEVICE_MARKERS.get(cell["device"], "^")
        ax.plot(cell["flop_per_byte"], cell["gflops"], marker=marker, color=colour, ms=7)
        ax.annotate(
            cell["plugin"],
            (cell["flop_per_byte"], cell["gflops"]),
            xytext=(5, 3),
            textcoords="offset points",
            fontsize=8,
        )
    handles += [
        Line2D([], [], color=c, marker=DEVICE_MARKERS.get(g[1], "^"), ls="", label=group_label(*g))
        for g, c in colours.items()
    ]
    _axes(ax, low, high)
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4))
    figure.suptitle("Roofline: achieved GFLOP/s against arithmetic intensity", fontweight="bold")
    return figure


def _intensity_range(rows: pd.DataFrame) -> tuple[float, float]:
    values = [float(v) for v in rows["flop_per_byte"]] or [1.0]
    ridges = [
        float(p / b)
        for p, b in zip(rows["device_peak_gflops"], rows["device_bandwidth_gbs"], strict=True)
        if p > 0 and b > 0
    ]
    return min(values + ridges) / 4, max(values + ridges) * 4


def _roofs(ax, rows: pd.DataFrame, low: float, high: float) -> list[Line2D]:
    """Each device's roof: the bandwidth slope up to the ridge, then the matmul peak."""
    handles = []
    roofs = rows.groupby("device")[["device_peak_gflops", "device_bandwidth_gbs"]].max()
    x = np.geomspace(low, high, 200)
    for index, (device, (peak, bandwidth)) in enumerate(roofs.iterrows()):
        if not peak > 0:
            continue
        style = _ROOF_STYLES[index % len(_ROOF_STYLES)]
        roof = np.minimum(peak, bandwidth * x) if bandwidth > 0 else np.full_like(x, peak)
        ax.plot(x, roof, color="black", linestyle=style, linewidth=1.2)
        memory = f", {bandwidth:.0f} GB/s" if bandwidth > 0 else ""
        label = f"{device} roof: {peak:.0f} GFLOP/s{memory}"
        handles.append(Line2D([], [], color="black", linestyle=style, label=label))
    return handles


def _axes(ax, low: float, high: float) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_xlabel("arithmetic intensity (counted FLOPs / estimated bytes moved per step)")
    ax.set_ylabel("achieved GFLOP/s (counted FLOPs / median step time)")
    ax.grid(which="both", alpha=0.25)
    bottom, top = ax.get_ylim()
    if math.isfinite(bottom) and math.isfinite(top):
        ax.set_ylim(bottom / 2, top * 2)

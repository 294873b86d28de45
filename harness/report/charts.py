"""Matplotlib figures of a run and of a comparison (pure: DataFrames in, Figures out).

Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no display, no global state)
and saved through the Agg renderer as PNG and through the SVG renderer with text as paths.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

DPI = 120
LOG_SCALE_SPREAD = 20.0  # slowest / fastest median above which the step-time axis is log
_BACKEND_COLOURS = {"jax": "#1f77b4", "tensorflow": "#ff7f0e", "torch": "#d62728"}
_OTHER_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
DEVICE_MARKERS = {"cpu": "o", "gpu": "s"}
VERDICT_COLOURS = {
    "regression": "#d62728",
    "slower": "#ff7f0e",
    "same": "#7f7f7f",
    "faster": "#2ca02c",
    "inconclusive": "#bcbd22",
    "new": "#1f77b4",
    "missing": "#9467bd",
    "incomparable": "#8c564b",
}


def group_label(backend: str, device: str) -> str:
    """How a backend x device group is named in legends and ticks."""
    return f"{backend} / {device}"


def backend_colours(groups: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """A stable colour per backend (the GPU variant a shade darker), others from a cycle."""
    spare = iter(_OTHER_COLOURS * 4)
    colours = {}
    for backend, device in groups:
        base = _BACKEND_COLOURS.get(backend) or next(spare)
        colours[(backend, device)] = base if device == "cpu" else _darker(base)
    return colours


def _darker(colour: str) -> tuple[float, float, float]:
    return tuple(0.6 * c for c in mpl.colors.to_rgb(colour))  # type: ignore[return-value]


def _groups(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(frame["backend"], frame["device"], strict=True)))


def training_curves(history: pd.DataFrame, plugin: str, name: str | None = None) -> Figure:
    """Two panels for one plugin: loss and accuracy per epoch, training and validation.

    ``history`` is ``results.history_frame``; one colour per backend x device, solid lines
    and filled markers for training, dashed and hollow for validation, so a backend that
    diverges stands out (and a one-epoch run still tells the two apart).
    """
    rows = history[history["plugin"] == plugin]
    figure = Figure(figsize=(10, 4.2), dpi=DPI, layout="constrained")
    loss_ax, acc_ax = figure.subplots(1, 2)
    groups = _groups(rows)
    colours = backend_colours(groups)
    accuracy = _accuracy_metric(list(dict.fromkeys(rows["metric"])))
    last_epoch = int(rows["epoch"].max()) if not rows.empty else 1
    for ax, metric, ylabel in ((loss_ax, "loss", "loss"), (acc_ax, accuracy, "accuracy")):
        _plot_metric(ax, rows, metric, colours)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        _epoch_axis(ax, last_epoch)
        ax.grid(alpha=0.3)
    loss_ax.set_title("loss and val_loss")
    acc_ax.set_title(f"{accuracy} and val_{accuracy}")
    if rows.empty:
        for ax in (loss_ax, acc_ax):
            _no_data(ax, "no training history")
    handles = _curve_handles(colours)
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6))
    title = f"{name or plugin}: training curves per backend / device"
    figure.suptitle(title, fontweight="bold")
    return figure


def _plot_metric(ax, rows: pd.DataFrame, metric: str, colours: dict) -> None:
    """``metric`` (solid, filled) and ``val_<metric>`` (dashed, hollow) per backend x device."""
    for (backend, device), colour in colours.items():
        mine = rows[(rows["backend"] == backend) & (rows["device"] == device)]
        for name, style, face in ((metric, "-", None), (f"val_{metric}", "--", "white")):
            points = mine[mine["metric"] == name].sort_values("epoch")
            ax.plot(
                points["epoch"],
                points["value"],
                linestyle=style,
                marker=DEVICE_MARKERS.get(device, "^"),
                markersize=5,
                markerfacecolor=face,
                color=colour,
            )


def _curve_handles(
    colours: dict, styles: tuple[str, str] = ("training", "validation")
) -> list[Line2D]:
    """Legend entries: a colour and marker per backend x device, then the two line styles
    (solid and filled, dashed and hollow) named ``styles``."""
    handles = [
        Line2D([], [], color=c, marker=DEVICE_MARKERS.get(g[1], "^"), label=group_label(*g))
        for g, c in colours.items()
    ]
    validation = {"linestyle": "--", "marker": "o", "markerfacecolor": "white"}
    return [
        *handles,
        Line2D([], [], color="black", linestyle="-", marker="o", label=styles[0]),
        Line2D([], [], color="black", label=styles[1], **validation),
    ]


def _epoch_axis(ax, last_epoch: int) -> None:
    """Whole epochs only, with room around a single epoch."""
    if last_epoch <= 20:
        ax.set_xticks(range(1, last_epoch + 1))
    else:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlim(0.5 if last_epoch == 1 else 0.8, last_epoch + (0.5 if last_epoch == 1 else 0.2))


def _accuracy_metric(metrics: list[str]) -> str:
    """``accuracy``, or the first ``*accuracy`` of a multi-output model (in history order)."""
    if "accuracy" in metrics:
        return "accuracy"
    named = [m for m in metrics if m.endswith("accuracy") and not m.startswith("val_")]
    return named[0] if named else "accuracy"


def step_time_chart(cells: pd.DataFrame, plugin: str) -> Figure:
    """Median ms/step per backend x device with its 95% CI, and the start-up times beside it.

    ``cells`` is ``results.cells_frame``. Error bars appear where the file has a CI (schema 2,
    more than one worker process); a cell that did not run shows its status instead of a bar.
    """
    rows = cells[cells["plugin"] == plugin].reset_index(drop=True)
    figure = Figure(figsize=(10, 4.2), dpi=DPI, layout="constrained")
    step_ax, start_ax = figure.subplots(1, 2, width_ratios=(3, 2))
    colours = backend_colours(_groups(rows))
    backend_devices = list(zip(rows["backend"], rows["device"], strict=True))
    sizes = ["" if pd.isna(n) else f"\nb{n}" for n in rows["sweep_batch"]]
    labels = [f"{b}\n{d}{n}" for (b, d), n in zip(backend_devices, sizes, strict=True)]
    bar_colours = [colours[key] for key in backend_devices]
    _step_panel(step_ax, rows, bar_colours)
    _set_ticks(step_ax, list(range(len(rows))), labels)
    _startup_panel(start_ax, rows, bar_colours, labels)
    for ax in (step_ax, start_ax):
        ax.grid(axis="y", alpha=0.3)
        if rows.empty:
            _no_data(ax, "no cells")
    figure.suptitle(f"{plugin}: step time per backend / device", fontweight="bold")
    return figure


def _step_panel(ax, rows: pd.DataFrame, bar_colours: list) -> None:
    """Bars of the median ms/step, CI error bars, values on top, the scale and title."""
    positions = list(range(len(rows)))
    medians = rows["step_ms_median"].astype(float)
    low, high = _ci_errors(rows)
    ax.bar(positions, medians.fillna(0), color=bar_colours, width=0.6)
    with_ci = [i for i in positions if not math.isnan(low[i])]
    ax.errorbar(
        [positions[i] for i in with_ci],
        [medians[i] for i in with_ci],
        yerr=[[low[i] for i in with_ci], [high[i] for i in with_ci]],
        fmt="none",
        ecolor="black",
        capsize=5,
    )
    _label_bars(ax, medians, high, rows["status"])
    _step_scale(ax, medians, _top(medians, rows["step_ms_ci_high"]))
    ax.set_title(
        "steady-state step time, 95% CI of the median"
        if with_ci
        else "steady-state step time (no CI: one worker process)"
    )


def _label_bars(ax, medians: pd.Series, high: list[float], statuses: pd.Series) -> None:
    """Each bar's median above its error bar; the status at the foot where there is no bar."""
    for x, (median, error, status) in enumerate(zip(medians, high, statuses, strict=True)):
        if math.isnan(median):  # no bar: say why, at the foot of the axis
            foot = ax.get_xaxis_transform()
            ax.text(x, 0.03, str(status), ha="center", color="#d62728", transform=foot)
            continue
        top_of_bar = max(median + (0.0 if math.isnan(error) else error), 0.0)
        ax.annotate(
            f"{median:.2f}",
            (x, top_of_bar),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
        )


def _step_scale(ax, medians: pd.Series, top: float) -> None:
    """A log axis when the medians spread over more than ``LOG_SCALE_SPREAD``, else linear."""
    if _spread(medians) > LOG_SCALE_SPREAD:
        ax.set_yscale("log")
        ax.set_ylim(_bottom(medians) / 2, top * 3)
        ax.set_ylabel("median step time (ms/step, log scale)")
    else:
        ax.set_ylim(min(0.0, *medians.fillna(0)) * 1.15, top * 1.15)
        ax.set_ylabel("median step time (ms/step)")


def _startup_panel(ax, rows: pd.DataFrame, bar_colours: list, labels: list[str]) -> None:
    """Build + compile (pale) and first-step (full colour) seconds side by side per cell."""
    positions, width = list(range(len(rows))), 0.38
    build = rows["build_s"].astype(float).fillna(0)
    first = rows["first_step_s"].astype(float).fillna(0)
    ax.bar([p - width / 2 for p in positions], build, width, color=bar_colours, alpha=0.45)
    ax.bar([p + width / 2 for p in positions], first, width, color=bar_colours)
    ax.set_ylabel("time (s)")
    ax.set_title("start-up: build + compile, first step")
    ax.set_ylim(0, max([*build, *first, 1e-3]) * 1.45)
    _set_ticks(ax, positions, labels)
    ax.legend(
        handles=[
            Patch(facecolor="grey", alpha=0.45, label="build + compile (s)"),
            Patch(facecolor="grey", label="first step, incl. tracing (s)"),
        ],
        loc="upper right",
        fontsize=8,
    )


def _ci_errors(rows: pd.DataFrame) -> tuple[list[float], list[float]]:
    """Distances from the median to the CI bounds; NaN where there is no CI."""
    low, high = [], []
    for median, lo, hi in zip(
        rows["step_ms_median"], rows["step_ms_ci_low"], rows["step_ms_ci_high"], strict=True
    ):
        ok = not any(pd.isna(v) for v in (median, lo, hi))
        low.append(max(median - lo, 0.0) if ok else math.nan)
        high.append(max(hi - median, 0.0) if ok else math.nan)
    return low, high


def _spread(medians: pd.Series) -> float:
    values = medians.dropna()
    return float(values.max() / values.min()) if len(values) > 1 and values.min() > 0 else 1.0


def _bottom(medians: pd.Series) -> float:
    values = medians.dropna()
    return float(values[values > 0].min()) if (values > 0).any() else 1e-3


def _top(*columns: pd.Series) -> float:
    values = [float(v) for column in columns for v in column if not pd.isna(v)]
    return max([*values, 1e-3])


def _set_ticks(ax, positions: list[int], labels: list[str]) -> None:
    ax.set_xticks(positions, labels)
    ax.set_xlim(-0.6, max(len(positions), 1) - 0.4)


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def scaled(cells: pd.DataFrame, plugin: str) -> pd.DataFrame:
    """The cells of ``plugin``'s batch-size sweep timed ok, with ``fit`` and ``predict``: ms
    per sample (the median over the batch size)."""
    rows = cells[(cells["plugin"] == plugin) & cells["sweep_batch"].notna()]
    rows = rows[(rows["status"] == "ok") & (rows["step_ms_median"] > 0)].copy()
    rows["fit"] = rows["step_ms_median"] / rows["sweep_batch"].astype(float)
    rows["predict"] = rows["predict_ms_median"] / rows["sweep_batch"].astype(float)
    return rows


def scaling_chart(cells: pd.DataFrame, plugin: str) -> Figure:
    """ms per sample against the batch size of a batch-size sweep, log-log: a line per
    backend x device, fit solid with filled markers, predict dashed with hollow ones. Where a
    line falls as 1 / batch, each step's fixed cost (dispatch, synchronisation) dominates;
    where it flattens, the arithmetic does."""
    rows = scaled(cells, plugin)
    figure = Figure(figsize=(8, 4.6), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    colours = backend_colours(_groups(rows))
    for (backend, device), colour in colours.items():
        mine = rows[(rows["backend"] == backend) & (rows["device"] == device)]
        mine = mine.sort_values("sweep_batch")
        for name, style, face in (("fit", "-", None), ("predict", "--", "white")):
            ax.plot(
                mine["sweep_batch"].astype(float),
                mine[name],
                linestyle=style,
                marker=DEVICE_MARKERS.get(device, "^"),
                markerfacecolor=face,
                color=colour,
            )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    sizes = sorted({int(n) for n in rows["sweep_batch"]})
    ax.set_xticks(sizes, [str(n) for n in sizes], minor=False)
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    ax.set_xlabel("batch size")
    ax.set_ylabel("median ms per sample (log scale)")
    ax.grid(alpha=0.3, which="both")
    if rows.empty:
        _no_data(ax, "no timed cells in a batch-size sweep")
    handles = _curve_handles(colours, ("fit (training step)", "predict"))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6))
    figure.suptitle(f"{plugin}: time per sample against batch size", fontweight="bold")
    return figure


def comparison_chart(cells: pd.DataFrame, threshold: float, a_label: str, b_label: str) -> Figure:
    """Step-time ratio B/A per cell with its CI, the regression threshold, coloured by verdict.

    ``cells`` is ``results.comparison_frame``; cells without a ratio (new, missing,
    incomparable) are listed at ratio 1 by their verdict, without a point.
    """
    rows = cells.iloc[::-1].reset_index(drop=True)  # first cell on top
    figure = Figure(figsize=(10, 1.6 + 0.38 * max(len(rows), 1)), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    ax.axvline(1.0, color="black", linewidth=1)
    ax.axvline(1.0 + threshold, color="#d62728", linestyle="--", linewidth=1)
    ax.axvline(1.0 - threshold, color="#2ca02c", linestyle=":", linewidth=1)
    _plot_ratios(ax, rows)
    ax.set_yticks(range(len(rows)), rows["key"])
    ax.set_ylim(-0.7, max(len(rows), 1) - 0.3)
    ax.set_xlabel("median step time ratio B / A (> 1: B is slower), 95% CI")
    ax.grid(axis="x", alpha=0.3)
    handles = _verdict_handles(set(rows["verdict"]), threshold)
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6))
    ax.set_title(f"A: {a_label}\nB: {b_label}", fontsize=9, loc="left")
    figure.suptitle("Step-time comparison per cell", fontweight="bold")
    return figure


def _plot_ratios(ax, rows: pd.DataFrame) -> None:
    """A point with its CI per cell with a ratio; the verdict's name at 1 for the others."""
    for y, row in rows.iterrows():
        colour = VERDICT_COLOURS.get(row["verdict"], "black")
        if pd.isna(row["ratio"]):
            ax.text(1.0, y, f" {row['verdict']}", va="center", color=colour, fontsize=9)
            continue
        low = row["ratio"] - row["ratio_ci_low"] if not pd.isna(row["ratio_ci_low"]) else 0.0
        high = row["ratio_ci_high"] - row["ratio"] if not pd.isna(row["ratio_ci_high"]) else 0.0
        ax.errorbar(
            row["ratio"], y, xerr=[[max(low, 0)], [max(high, 0)]], fmt="o", color=colour, capsize=4
        )


def _verdict_handles(verdicts: set[str], threshold: float) -> list[Line2D]:
    """Legend entries: the verdicts present, in ``VERDICT_COLOURS`` order, and the thresholds."""
    present = [v for v in VERDICT_COLOURS if v in verdicts]
    handles = [
        Line2D([], [], color=VERDICT_COLOURS[v], marker="o", linestyle="", label=v) for v in present
    ]
    return [
        *handles,
        Line2D([], [], color="#d62728", linestyle="--", label=f"threshold +{threshold:.0%}"),
        Line2D([], [], color="#2ca02c", linestyle=":", label=f"-{threshold:.0%}"),
    ]


def save(figure: Figure, stem: Path) -> tuple[Path, Path]:
    """Write ``stem.png`` (Agg) and ``stem.svg`` (text as paths, no dates, stable ids)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    with mpl.rc_context({"svg.hashsalt": "kbench", "svg.fonttype": "path"}):
        figure.savefig(png, format="png", metadata={"Software": None})
        figure.savefig(svg, format="svg", metadata={"Date": None})
    return png, svg

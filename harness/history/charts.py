"""One chart per series: each run's (or version's) median step time with its 95% band, every
process as a dot, the segments' levels and the change points marked."""

from __future__ import annotations

import itertools

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.history.series import Series
from harness.history.steps import FASTER, SLOWER, Step, group_interval, segment_level, shown

_STEP_COLOURS = {SLOWER: "#d62728", FASTER: "#2ca02c"}
_CANDIDATE_COLOUR = "#999999"
MAX_TICK_LABELS = 12


def series_chart(series: Series, steps: list[Step]) -> Figure:
    """The series over its order, change points as vertical lines (red: slower, green:
    faster, grey: a candidate the test does not support)."""
    figure = Figure(figsize=(9, 3.6), dpi=120, layout="constrained")
    ax = figure.add_subplot()
    positions = list(range(len(series.groups)))
    medians = [g.median for g in series.groups]
    intervals = [group_interval(g) for g in series.groups]
    low = [i[0] if i else m for i, m in zip(intervals, medians, strict=True)]
    high = [i[1] if i else m for i, m in zip(intervals, medians, strict=True)]
    ax.fill_between(positions, low, high, color="#1f77b4", alpha=0.18, linewidth=0)
    for position, group in zip(positions, series.groups, strict=True):
        ax.scatter(
            [position] * len(group.samples),
            group.samples,
            s=9,
            color="#1f77b4",
            alpha=0.45,
            linewidths=0,
        )
    ax.plot(positions, medians, marker="o", markersize=4, color="#1f77b4", linewidth=1.2)
    mine = sorted((s for s in shown(steps) if s.series is series), key=lambda s: s.at)
    _segment_levels(ax, series, mine)
    for step in mine:
        colour = _STEP_COLOURS.get(step.verdict, _CANDIDATE_COLOUR)
        ax.axvline(step.at - 0.5, color=colour, linestyle="--", linewidth=1.4)
        ax.annotate(
            f"x{step.ratio:.2f}",
            (step.at - 0.5, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            color=colour,
            fontsize=8,
        )
    _ticks(ax, series)
    ax.set_ylabel("ms / step")
    ax.set_title(f"{series.cell} — {series.machine}", fontsize=10, loc="left")
    ax.grid(axis="y", alpha=0.3)
    ax.set_ylim(bottom=0)
    ax.legend(handles=_legend(), fontsize=7, loc="lower left", ncols=4)
    return figure


def _segment_levels(ax, series: Series, steps: list[Step]) -> None:
    """The median of each segment between change points, as a horizontal line."""
    edges = [0, *(s.at for s in steps), len(series.groups)]
    for start, end in itertools.pairwise(edges):
        level = segment_level(series.groups[start:end])
        ax.hlines(level, start - 0.4, end - 0.6, color="#444444", linewidth=1.0, alpha=0.8)


def _ticks(ax, series: Series) -> None:
    count = len(series.groups)
    every = max(1, -(-count // MAX_TICK_LABELS))
    shown = list(range(0, count, every))
    ax.set_xticks(shown, [series.groups[i].tick for i in shown])
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    ax.set_xlim(-0.6, count - 0.4)


def _legend() -> list[Line2D]:
    return [
        Line2D([], [], color="#1f77b4", marker="o", markersize=4, label="median (95% band)"),
        Line2D([], [], color="#444444", label="segment level"),
        Line2D([], [], color=_STEP_COLOURS[SLOWER], linestyle="--", label="step: slower"),
        Line2D([], [], color=_STEP_COLOURS[FASTER], linestyle="--", label="step: faster"),
        Line2D([], [], color=_CANDIDATE_COLOUR, linestyle="--", label="not supported"),
    ]

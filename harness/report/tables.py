"""One table model for every rendering, and one builder per table.

A ``Table`` is titled, captioned columns of ``Cell``s: text plus one style name from
``STYLES``. ``console`` renders a table with rich; ``html`` and ``markdown`` render the same
table for the report. The builders of a run's results tables (from its cells DataFrame,
``harness.records.frames.cells_frame``) are here; the catalogue's, the baselines' and a run's
environment in ``harness.report.listings``, those of parity and comparison verdicts in
``harness.report.verdicts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.records.frames import keras_cells

WIDE_CV = 0.25  # CV above which a step time is marked ``~``: too spread out to trust
STYLES = ("best", "ok", "bad", "error", "warn", "wide", "dim", "slower", "new", "unmatched")
AT_CHANCE = "?"  # marks an accuracy within CHANCE_MARGIN of the majority-class share
CHANCE_MARGIN = 0.05
STATUS_STYLE = {
    "failed": "bad",
    "timeout": "error",
    "unavailable": "warn",
    "skipped": "dim",
    "interrupted": "warn",
}
_SHORT = {"tensorflow": "tf"}


@dataclass(frozen=True)
class Cell:
    """Text with one style name from ``STYLES`` ("" for plain); ``stack`` builds a cell of
    several lines, each with its own style."""

    text: str = ""
    style: str = ""
    lines: tuple[Cell, ...] = ()

    @classmethod
    def stack(cls, lines: Iterable[Cell]) -> Cell:
        """One cell showing ``lines`` one under the other."""
        lines = tuple(lines)
        return cls("\n".join(line.text for line in lines), "", lines)

    def parts(self) -> tuple[Cell, ...]:
        """The cell's lines (itself when it has one)."""
        return self.lines or (self,)


@dataclass(frozen=True)
class Column:
    """A column: ``numeric`` aligns right; ``group`` is a heading shared by neighbouring
    columns (``tf/cpu`` over ``ms`` and ``acc``); ``wrap`` lets long text fold; ``strong``
    marks the column that names the row."""

    header: str
    numeric: bool = False
    group: str = ""
    wrap: bool = False
    strong: bool = False

    @property
    def label(self) -> str:
        """The header in one line, group first."""
        return f"{self.group} {self.header}".strip()


@dataclass(frozen=True)
class Table:
    """Title, columns, rows of cells and a caption; ``breaks``: rows that end a section."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""
    breaks: frozenset[int] = frozenset()

    def texts(self) -> tuple[tuple[str, ...], ...]:
        """The rows as plain text."""
        return tuple(tuple(cell.text for cell in row) for row in self.rows)

    def spans(self) -> tuple[tuple[str, int], ...]:
        """Neighbouring columns sharing a group: (group, how many), "" for ungrouped ones."""
        spans: list[tuple[str, int]] = []
        for column in self.columns:
            if spans and column.group and spans[-1][0] == column.group:
                spans[-1] = (column.group, spans[-1][1] + 1)
            else:
                spans.append((column.group, 1))
        return tuple(spans)


def columns_of(headers: Iterable[str], numeric: bool = False) -> tuple[Column, ...]:
    """Plain columns with these headers."""
    return tuple(Column(header, numeric=numeric) for header in headers)


def formatted(value: Any, spec: str = "", missing: str = "") -> str:
    """``value`` formatted, ``missing`` when it is missing (None, NaN, NA)."""
    return missing if value is None or pd.isna(value) else format(value, spec)


# --- a run: results, statistics, problems, environment ---------------------------------------


def group_label(backend: str, device: str) -> str:
    """How a backend x device column group is headed: ``tf/cpu``."""
    return f"{_SHORT.get(backend, backend)}/{device}"


def groups(cells: pd.DataFrame) -> list[tuple[str, str]]:
    """The (backend, device) column groups, in run order."""
    return list(dict.fromkeys(zip(cells["backend"], cells["device"], strict=True)))


def results_table(cells: pd.DataFrame) -> Table:
    """A row per plugin (per plugin and batch size in a batch-size sweep): its parameter
    count; per backend x device the median ms per training step, the median ms per predict
    batch (when timed), the test accuracy, and the achieved GFLOP/s with its share of the
    device's measured peak when the cells were counted. ``*`` marks the row's fastest cell,
    ``~`` a CV above ``WIDE_CV``; a row whose backends count different parameters lists
    every count. Native references' cells are left to :mod:`harness.report.native`."""
    cells = keras_cells(cells)
    efficiency, named, predict = has_efficiency(cells), named_quality(cells), has_predict(cells)
    headers = [h for h, shown in _HEADERS if shown(efficiency, predict)]
    headers = ["quality" if h == "acc" and named else h for h in headers]
    swept = cells["sweep_batch"].notna().any()
    columns = [Column("plugin", strong=True)]
    columns += [Column("batch", numeric=True)] if swept else []
    columns += [Column("params", numeric=True)]
    for backend, device in groups(cells):
        label = group_label(backend, device)
        columns += [Column(h, numeric=True, group=label) for h in headers]
    rows = tuple(_results_row(cells, mine, headers, swept) for mine in _row_cells(cells))
    meaning = f"quality: test accuracy, or the test figure named ({', '.join(named)})"
    meaning = meaning if named else "acc: test accuracy"
    caption = (
        f"ms: median steady-state time per step; * fastest of the row; ~ spread too wide to "
        f"trust (CV above {WIDE_CV:.0%}); {meaning}; tf = tensorflow"
    )
    if predict:
        caption += "; predict: median steady-state time per predict batch, timed as ms"
    if efficiency:
        caption += (
            "; GFLOP/s: counted FLOPs per step / median step time (share of the best matmul "
            "rate measured on this device in the run; see docs/efficiency.md)"
        )
    if any(cell.text.endswith(AT_CHANCE) for row in rows for cell in row):
        caption += (
            f"; {AT_CHANCE} accuracy no better than always answering the most common class: "
            "not yet meaningful (too little training for this model; try --profile full)"
        )
    caption += f"; {_malloc_note(cells)}"
    teardown = teardown_note(cells)
    if teardown:
        caption += f"; {teardown}"
    timed = "fit ms/step, predict ms/batch" if predict else "step time (ms/step)"
    title = f"Median {timed} and test {'quality' if named else 'accuracy'}"
    return Table(title, tuple(columns), rows, caption)


# A backend x device's columns in the results table, and when each is shown
# (given whether cells were counted and whether predict was timed).
_HEADERS = (
    ("ms", lambda efficiency, predict: True),
    ("predict", lambda efficiency, predict: predict),
    ("acc", lambda efficiency, predict: True),
    ("GFLOP/s", lambda efficiency, predict: efficiency),
)


def has_predict(cells: pd.DataFrame) -> bool:
    """Whether any cell has a steady-state predict time (``predict_step_ms``)."""
    return "predict_ms_median" in cells and bool(cells["predict_ms_median"].notna().any())


def _row_cells(cells: pd.DataFrame) -> list[pd.DataFrame]:
    """The cells of each row of the results table: a plugin's, or in a batch-size sweep a
    plugin's at one batch size, in run order."""
    sizes = cells["sweep_batch"].astype(object).where(cells["sweep_batch"].notna(), None)
    rows = dict.fromkeys(zip(cells["plugin"], sizes, strict=True))
    return [
        cells[(cells["plugin"] == plugin) & (sizes == size if size else sizes.isna())]
        for plugin, size in rows
    ]


TEARDOWN_SHARE = 0.05  # a teardown growing by more than this share of a step is named


def teardown_note(cells: pd.DataFrame) -> str:
    """The cells whose teardown (after ``on_train_end``, or ``on_predict_end`` for predict;
    left out of the medians) adds, on average, more than ``TEARDOWN_SHARE`` of a step per
    step run: a user's script pays it."""
    notes = []
    for call, unit, shown, teardown, median in _TEARDOWNS:
        if teardown not in cells:
            continue
        grows = cells[cells[teardown] > TEARDOWN_SHARE * cells[median]]
        named = ", ".join(
            f"{key} +{down:.2g} ms (+{down / step:.0%})"
            for key, down, step in zip(grows["key"], grows[teardown], grows[median], strict=True)
        )
        if named:
            notes.append(
                f"the {call}'s teardown after its last {unit}, left out of {shown}, adds on "
                f"average {named} per {unit}"
            )
    return "; ".join(notes) + " (with_teardown_ms in the JSON)" if notes else ""


# (call, unit, column shown, its teardown column, the median it adds to)
_TEARDOWNS = (
    ("fit", "step", "ms", "teardown_ms_per_step", "step_ms_median"),
    ("predict", "batch", "predict", "predict_teardown_ms_per_batch", "predict_ms_median"),
)


def named_quality(cells: pd.DataFrame) -> list[str]:
    """The quality figures other than an accuracy that cells report (a regression's loss)."""
    names = cells["quality_name"] if "quality_name" in cells else []
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and not n.endswith("accuracy")]


def has_efficiency(cells: pd.DataFrame) -> bool:
    """Whether any cell has an achieved GFLOP/s (a counted, timed cell)."""
    return "gflops" in cells and bool(cells["gflops"].notna().any())


def gflops_text(gflops: Any, share: Any) -> str:
    """``12.3 (4%)``: achieved GFLOP/s and its share of the peak ("" when not counted)."""
    if gflops is None or pd.isna(gflops):
        return ""
    rate = (
        f"{gflops:.0f}" if gflops >= 100 else f"{gflops:.1f}" if gflops >= 10 else f"{gflops:.3g}"
    )
    if share is None or pd.isna(share):
        return rate
    return f"{rate} ({share:.1%})" if share < 0.01 else f"{rate} ({share:.0%})"


def _malloc_note(cells: pd.DataFrame) -> str:
    """The glibc malloc setting behind the figures (it moves torch's by about a quarter)."""
    settings = set(cells["malloc"]) if "malloc" in cells else set()
    if settings == {"fixed"}:
        return "malloc thresholds fixed by the harness (--malloc fixed)"
    if settings == {"system"}:
        return "glibc's own malloc thresholds (--malloc system)"
    return "malloc setting unknown"


def _results_row(
    cells: pd.DataFrame, mine: pd.DataFrame, headers: list[str], swept: bool
) -> tuple[Cell, ...]:
    fastest = {name: _fastest(mine, column) for name, column in _TIMES.items()}
    batch = mine["sweep_batch"].iloc[0]
    row = [Cell(mine["plugin"].iloc[0])]
    row += [Cell(formatted(batch))] if swept else []
    row += [_params_cell(mine)]
    for backend, device in groups(cells):
        found = mine[(mine["backend"] == backend) & (mine["device"] == device)]
        shown = _group_cells(found.iloc[0], fastest) if len(found) else {}
        row += [shown.get(header, Cell()) for header in headers]
    return tuple(row)


_TIMES = {"ms": ("step_ms_median", "step_ms_cv"), "predict": ("predict_ms_median", "predict_ms_cv")}


def _fastest(row: pd.DataFrame, column: tuple[str, str] = _TIMES["ms"]) -> str | None:
    """The key of the row's fastest timed cell (by ``column``, a median and its CV); None
    unless two or more were timed."""
    median = row[column[0]]
    timed = row[(row["status"] == "ok") & (median > 0)]  # NaN and noise < 0 out
    return timed.loc[timed[column[0]].idxmin(), "key"] if len(timed) > 1 else None


def _params_cell(row: pd.DataFrame) -> Cell:
    """The row's parameter count, or every backend's count, flagged, when they differ."""
    columns = zip(row["backend"], row["device"], row["params_total"], strict=True)
    counts = {f"{b}/{d}": int(n) for b, d, n in columns if pd.notna(n)}
    if len(set(counts.values())) <= 1:
        return Cell(f"{next(iter(counts.values())):,}" if counts else "")
    return Cell("differ: " + " ".join(f"{k}={v:,}" for k, v in counts.items()), "bad")


def _group_cells(cell: pd.Series, fastest: dict[str, str | None]) -> dict[str, Cell]:
    """The ms/step, predict ms/batch, accuracy and GFLOP/s cells of one backend x device by
    header, or the cell's status (the caller keeps those it shows)."""
    status = str(cell["status"])
    if status != "ok" or pd.isna(cell["step_ms_median"]):
        return {"ms": Cell(status, STATUS_STYLE.get(status, ""))}
    times = {name: _time_cell(cell, column, fastest[name]) for name, column in _TIMES.items()}
    rate = gflops_text(cell.get("gflops"), cell.get("share_of_peak"))
    quality = _accuracy_cell(cell)
    return {**times, "acc": quality, "quality": quality, "GFLOP/s": Cell(rate)}


def _time_cell(cell: pd.Series, column: tuple[str, str], fastest: str | None) -> Cell:
    """A median in ms, ``*`` when it is the row's fastest, ``~`` when its CV is too wide."""
    median, cv = cell.get(column[0]), cell.get(column[1])
    if median is None or pd.isna(median):
        return Cell()
    mark, style = ("*", "best") if cell["key"] == fastest else ("", "")
    if cv is not None and cv > WIDE_CV:
        mark, style = f"~{mark}", "wide"
    return Cell(f"{mark}{median:.2f}", style)


def _accuracy_cell(cell: pd.Series) -> Cell:
    """The test accuracy, marked when it is no better than guessing the commonest class; a
    figure other than an accuracy with its name (``mae 0.153``)."""
    name = cell.get("quality_name")
    if isinstance(name, str) and not name.endswith("accuracy"):
        return Cell(f"{name} {formatted(cell.get('quality'), '.3g')}")
    accuracy, chance = cell["test_accuracy"], cell.get("chance_accuracy")
    text = formatted(accuracy, ".3f")
    if pd.notna(accuracy) and chance is not None and pd.notna(chance):
        if accuracy <= chance + CHANCE_MARGIN:
            return Cell(f"{text}{AT_CHANCE}", "warn")
    return Cell(text)


def statistics_table(cells: pd.DataFrame) -> Table:
    """Per timed cell: median, its 95% CI across processes, CV, processes and samples/s."""
    columns = (Column("cell", strong=True), *columns_of(_STATISTICS, numeric=True))
    timed = cells[(cells["status"] == "ok") & cells["step_ms_median"].notna()]
    rows = tuple(_statistics_row(cell) for _, cell in timed.iterrows())
    caption = (
        f"~ spread too wide to trust (CV above {WIDE_CV:.0%}); CI: 95% bootstrap interval of "
        "the median; CV across processes (w: across one process's windows)"
    )
    title = "Step time across worker processes (one process = one sample)"
    return Table(title, columns, rows, caption)


_STATISTICS = ("ms/step", "95% CI", "CV", "n", "samples/s")


def _statistics_row(cell: pd.Series) -> tuple[Cell, ...]:
    wide = cell["step_ms_cv"] > WIDE_CV
    low, high = cell["step_ms_ci_low"], cell["step_ms_ci_high"]
    interval = f"{low:.3f}-{high:.3f}" if pd.notna(low) and pd.notna(high) else "-"
    cv = formatted(cell["step_ms_cv"], ".1%")
    windows = "" if cell["step_ms_cv_of"] == "processes" else " w"
    rate = cell["samples_per_s"]
    return (
        Cell(cell["key"]),
        Cell(f"{'~' if wide else ''}{cell['step_ms_median']:.3f}", "wide" if wide else ""),
        Cell(interval),
        Cell(cv + windows if cv else ""),
        Cell(formatted(cell["n_processes"])),
        Cell(f"{rate:,.0f}" if pd.notna(rate) and rate else ""),
    )


def problems_table(cells: pd.DataFrame) -> Table | None:
    """The cells that did not run to the end, with their reasons (None when all are ok)."""
    bad = cells[cells["status"] != "ok"]
    if bad.empty:
        return None
    rows = tuple(
        (Cell(key), Cell(str(status), STATUS_STYLE.get(str(status), "")), Cell(str(error or "")))
        for key, status, error in zip(bad["key"], bad["status"], bad["error"], strict=True)
    )
    columns = (Column("cell", strong=True), Column("status"), Column("reason", wrap=True))
    return Table("Cells that did not run to the end", columns, rows)

"""One table model for every rendering, and one builder per table.

A ``Table`` is titled, captioned columns of ``Cell``s: text plus one style name from
``STYLES``. ``console`` renders a table with rich; ``html`` and ``markdown`` render the same
table for the report. The builders of a run's tables (from its cells DataFrame,
``harness.records.frames.cells_frame``, or its dict), the catalogue's and the baselines' are
here; those of parity and comparison verdicts in ``harness.report.verdicts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.records.schema import MALLOC_UNRECORDED

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
    """A row per plugin: its parameter count; per backend x device the median ms/step and
    the test accuracy, and the achieved GFLOP/s with its share of the device's measured
    peak when the cells were counted. ``*`` marks the row's fastest cell, ``~`` a CV above
    ``WIDE_CV``; a row whose backends count different parameters lists every count."""
    efficiency, named = has_efficiency(cells), named_quality(cells)
    headers = ("ms", "quality" if named else "acc", "GFLOP/s")[: 3 if efficiency else 2]
    columns = [Column("plugin", strong=True), Column("params", numeric=True)]
    for backend, device in groups(cells):
        label = group_label(backend, device)
        columns += [Column(h, numeric=True, group=label) for h in headers]
    rows = tuple(
        _results_row(cells, plugin, len(headers)) for plugin in dict.fromkeys(cells["plugin"])
    )
    meaning = f"quality: test accuracy, or the test figure named ({', '.join(named)})"
    meaning = meaning if named else "acc: test accuracy"
    caption = (
        f"ms: median steady-state time per step; * fastest of the row; ~ spread too wide to "
        f"trust (CV above {WIDE_CV:.0%}); {meaning}; tf = tensorflow"
    )
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
    title = f"Median step time (ms/step) and test {'quality' if named else 'accuracy'}"
    return Table(title, tuple(columns), rows, caption)


TEARDOWN_SHARE = 0.05  # a teardown growing by more than this share of a step is named


def teardown_note(cells: pd.DataFrame) -> str:
    """The cells whose fit teardown (after ``on_train_end``, left out of ms) adds, on
    average, more than ``TEARDOWN_SHARE`` of a step per step run: a user's script pays it."""
    if "teardown_ms_per_step" not in cells:
        return ""
    grows = cells[cells["teardown_ms_per_step"] > TEARDOWN_SHARE * cells["step_ms_median"]]
    if grows.empty:
        return ""
    named = ", ".join(
        f"{row.key} +{row.teardown_ms_per_step:.2g} ms "
        f"(+{row.teardown_ms_per_step / row.step_ms_median:.0%})"
        for row in grows.itertuples()
    )
    return (
        f"the fit's teardown after its last step, left out of ms, adds on average {named} "
        "per step (with_teardown_ms in the JSON)"
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


def _results_row(cells: pd.DataFrame, plugin: str, width: int) -> tuple[Cell, ...]:
    mine = cells[cells["plugin"] == plugin]
    fastest = _fastest(mine)
    row = [Cell(plugin), _params_cell(mine)]
    for backend, device in groups(cells):
        found = mine[(mine["backend"] == backend) & (mine["device"] == device)]
        shown = _group_cells(found.iloc[0], fastest) if len(found) else []
        row += (shown + [Cell()] * width)[:width]
    return tuple(row)


def _fastest(row: pd.DataFrame) -> str | None:
    """The key of the row's fastest timed cell; None unless two or more were timed."""
    timed = row[(row["status"] == "ok") & (row["step_ms_median"] > 0)]  # NaN and noise < 0 out
    return timed.loc[timed["step_ms_median"].idxmin(), "key"] if len(timed) > 1 else None


def _params_cell(row: pd.DataFrame) -> Cell:
    """The row's parameter count, or every backend's count, flagged, when they differ."""
    columns = zip(row["backend"], row["device"], row["params_total"], strict=True)
    counts = {f"{b}/{d}": int(n) for b, d, n in columns if pd.notna(n)}
    if len(set(counts.values())) <= 1:
        return Cell(f"{next(iter(counts.values())):,}" if counts else "")
    return Cell("differ: " + " ".join(f"{k}={v:,}" for k, v in counts.items()), "bad")


def _group_cells(cell: pd.Series, fastest: str | None) -> list[Cell]:
    """The ms/step, accuracy and GFLOP/s cells of one backend x device, or the cell's
    status (the caller keeps as many as it shows)."""
    status = str(cell["status"])
    if status != "ok" or pd.isna(cell["step_ms_median"]):
        return [Cell(status, STATUS_STYLE.get(status, "")), Cell()]
    mark, style = ("*", "best") if cell["key"] == fastest else ("", "")
    if cell["step_ms_cv"] > WIDE_CV:
        mark, style = f"~{mark}", "wide"
    rate = gflops_text(cell.get("gflops"), cell.get("share_of_peak"))
    return [Cell(f"{mark}{cell['step_ms_median']:.2f}", style), _accuracy_cell(cell), Cell(rate)]


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


def environment_table(run: dict[str, Any], source: str) -> Table:
    """Where and with what the run was made: machine, versions, dataset and settings."""
    env, config = run.get("environment") or {}, run.get("config") or {}
    rows = [
        ("results file", source),
        ("created", str(run.get("created", ""))),
        ("schema version", str(run.get("schema_version", ""))),
        ("cpu", f"{env.get('cpu', '?')} ({env.get('cores', '?')} cores)"),
        ("gpus", ", ".join(map(str, env.get("gpus") or [])) or "none"),
        ("os", str(env.get("os", ""))),
        ("python", str(env.get("python", ""))),
        *((k, str(v)) for k, v in (env.get("packages") or {}).items() if v is not None),
        ("git commit", str(env.get("git_commit") or "")),
        *_settings(config),
    ]
    columns = (Column("setting", strong=True), Column("value", wrap=True))
    return Table("", columns, tuple((Cell(k), Cell(v)) for k, v in rows))


def _settings(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's settings as (name, value) rows."""
    return [
        ("dataset", _dataset_text(config.get("dataset") or {})),
        *(
            (k, str(config[k]))
            for k in ("profile", "epochs", "jit_compile", "dtype_policy")
            if k in config
        ),
        ("batch_size", str(config.get("batch_size") or "plugin default")),
        ("threads", str(config.get("threads") or "framework default")),
        ("malloc", str(config.get("malloc", MALLOC_UNRECORDED))),
        ("seed", str(config.get("seed", ""))),
    ]


def _dataset_text(dataset: dict[str, Any]) -> str:
    if not dataset:
        return ""
    sizes = f"{dataset.get('n_train', '?')} train / {dataset.get('n_test', '?')} test"
    return f"{dataset.get('used', '?')} (requested {dataset.get('requested', '?')}; {sizes})"


# --- the catalogue and the baselines ---------------------------------------------------------


def catalogue_table(
    plugins: list[dict[str, Any]], params_backend: str | None, descriptions: bool = True
) -> Table:
    """The plugin catalogue (``kbench list --json``'s plugins) grouped by family, with
    parameter counts."""
    title = "Plugins" + (f" (parameters as built on {params_backend})" if params_backend else "")
    columns = (
        Column("family"),
        Column("name", strong=True),
        *columns_of(("params", "trainable", "non-train"), numeric=True),
        *((Column("description", wrap=True),) if descriptions else ()),
    )
    rows: list[tuple[Cell, ...]] = []
    breaks = set()
    for family in dict.fromkeys(p["family"] for p in plugins):
        members = [p for p in plugins if p["family"] == family]
        rows += [_catalogue_row(p, i == 0, descriptions) for i, p in enumerate(members)]
        breaks.add(len(rows) - 1)
    return Table(title, columns, tuple(rows), breaks=frozenset(breaks))


def _catalogue_row(plugin: dict[str, Any], first: bool, description: bool) -> tuple[Cell, ...]:
    counts = plugin.get("params") or {}
    numbers = (counts.get(k) for k in ("total", "trainable", "non_trainable"))
    return (
        Cell(plugin["family"] if first else ""),
        Cell(plugin["name"]),
        *(Cell(f"{n:,}" if n is not None else "?") for n in numbers),
        *((Cell(plugin["description"]),) if description else ()),
    )


def baselines_table(baselines: list[Any]) -> Table:
    """The saved baselines (``harness.records.baselines.BaselineInfo``), as listed."""
    columns = (
        Column("name", strong=True),
        Column("saved"),
        *columns_of(("cells", "repeats"), numeric=True),
        *columns_of(("profile", "dataset", "keras")),
        Column("machine", wrap=True),
    )
    fields = ("name", "saved", "cells", "repeats", "profile", "dataset", "keras", "machine")
    rows = tuple(tuple(Cell(str(getattr(b, f))) for f in fields) for b in baselines)
    return Table("Saved baselines", columns, rows)

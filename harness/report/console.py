"""The console's view: the table model rendered with rich, and one-line progress messages.

``render`` turns any ``harness.report.tables.Table`` into a rich table. The functions the CLI
calls take records (a ``RunResult``, ``ParityReport``, ``Comparison``, baselines, the
catalogue), build the one table of ``tables``/``verdicts`` and render it; nothing is printed
here. Text from records never goes through rich markup.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from harness import stats
from harness.records.frames import cells_frame
from harness.records.schema import CellResult, RunResult
from harness.report import listings, native, tables, verdicts
from harness.report.tables import STATUS_STYLE, WIDE_CV, Cell, Table

__all__ = [
    "WIDE_CV",
    "baselines_table",
    "catalogue_table",
    "comparison_table",
    "describe_cell",
    "native_table",
    "parity_table",
    "problems_table",
    "render",
    "results_table",
    "sensitivity_line",
    "statistics_table",
]

RICH_STYLES = {
    "best": "bold green",
    "ok": "green",
    "bad": "bold red",
    "error": "red",
    "warn": "yellow",
    "wide": "yellow",
    "dim": "dim",
    "slower": "dark_orange",
    "new": "cyan",
    "unmatched": "magenta",
}


def render(table: Table) -> RichTable:
    """A rich table of ``table``: styles mapped to rich's, two-line headers over groups."""
    out = RichTable(
        title=escape(table.title) if table.title else None,
        caption=escape(table.caption) if table.caption else None,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column, header in zip(table.columns, _headers(table), strict=True):
        out.add_column(
            header,
            justify="right" if column.numeric else "left",
            no_wrap=not column.wrap,
            overflow="fold" if column.wrap else "ellipsis",
            style="bold" if column.strong else None,
        )
    for index, row in enumerate(table.rows):
        out.add_row(*(_text(cell) for cell in row), end_section=index in table.breaks)
    return out


def _headers(table: Table) -> list[str]:
    """Column headers as markup; with groups, the group's name above its first column."""
    if not any(column.group for column in table.columns):
        return [escape(column.header) for column in table.columns]
    headers: list[str] = []
    for group, span in table.spans():
        members = table.columns[len(headers) : len(headers) + span]
        headers += [
            f"{escape(group) if i == 0 else ''}\n{escape(c.header)}" for i, c in enumerate(members)
        ]
    return headers


def _text(cell: Cell) -> Text:
    """The cell as rich ``Text`` (never parsed as markup), one styled line per part."""
    lines = [Text(part.text, style=RICH_STYLES.get(part.style, "")) for part in cell.parts()]
    return Text("\n").join(lines)


def results_table(run: RunResult) -> RichTable:
    """A row per plugin; per backend x device: median ms/step and test accuracy
    (``tables.results_table``)."""
    return render(tables.results_table(cells_frame(run)))


def native_table(run: RunResult) -> RichTable | None:
    """Each Keras cell beside its native references (None: the run timed none)."""
    table = native.native_table(cells_frame(run))
    return None if table is None else render(table)


def statistics_table(run: RunResult) -> RichTable:
    """Per timed cell: median, 95% CI across processes, CV, processes and samples/s."""
    return render(tables.statistics_table(cells_frame(run)))


def problems_table(run: RunResult) -> RichTable | None:
    """The cells that did not finish, with their reasons (None when all are ok)."""
    table = tables.problems_table(cells_frame(run))
    return None if table is None else render(table)


def parity_table(report: Any) -> RichTable:
    """A ``ParityReport``: a row per plugin, a column per check, its backend pairs in each."""
    return render(verdicts.parity_table(report.to_dict()))


def comparison_table(comparison: Any) -> RichTable:
    """A ``Comparison``: medians, ratio with its 95% CI, p-value and the verdict per cell."""
    return render(verdicts.comparison_table(comparison.to_dict()))


def baselines_table(baselines: list[Any]) -> RichTable:
    """The saved baselines (``BaselineInfo`` records), as listed."""
    return render(listings.baselines_table(baselines))


def catalogue_table(
    plugins: list[dict], params_backend: str | None, descriptions: bool = True
) -> RichTable:
    """The plugin catalogue grouped by family, with parameter counts."""
    return render(listings.catalogue_table(plugins, params_backend, descriptions))


def describe_cell(cell: CellResult) -> str:
    """One line of markup for the progress log."""
    if not cell.ok or cell.step_time_ms is None:
        style = RICH_STYLES.get(STATUS_STYLE.get(cell.status.value, ""), "")
        return (
            f"[{style}]{cell.status.value}[/] {escape(cell.cell.key)}: {escape(cell.error or '')}"
        )
    accuracy = cell.metrics.get("test_accuracy")
    first = cell.timings_s.get("first_step", float("nan"))
    trained = f"test acc {accuracy:.3f}" if accuracy is not None else "timing only"
    if cell.quality and accuracy is None:
        trained = f"test {cell.quality['name']} {cell.quality['value']:.3g}"
    predict = cell.predict_step_ms
    predicted = f"predict {predict.median:.2f} ms/batch, " if predict is not None else ""
    return (
        f"[green]ok[/] {escape(cell.cell.key)}: {cell.step_time_ms.median:.2f} ms/step, "
        f"{predicted}first step {first:.2f} s, {trained} ({cell.duration_s or 0:.0f} s)"
    )


def sensitivity_line(comparison: Any) -> str | None:
    """One line on how large a slowdown this comparison could have caught (None: no
    tested cell)."""
    tested = [c for c in comparison.cells if c.p_adjusted is not None]
    if not tested:
        return None
    never = [c.key for c in tested if c.detectable_slowdown is None]
    sized = sorted(
        (c.detectable_slowdown, c.key) for c in tested if c.detectable_slowdown is not None
    )
    parts = []
    if sized:
        (low, _), (high, widest) = sized[0], sized[-1]
        parts.append(
            f"detectable slowdown ({stats.POWER:.0%} of comparisons this size): "
            f"{low:.0%}-{high:.0%} across {len(sized)} cells, widest {escape(widest)}"
        )
    if never:
        parts.append(f"no slowdown would be flagged in {escape(', '.join(never))}")
    return "; ".join(parts) + " (more --repeats narrow it)"

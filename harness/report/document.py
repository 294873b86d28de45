"""``kbench report``: a folder with the charts, a self-contained ``report.html`` and ``summary.md``.

Reads results, parity and comparison files as JSON (``harness.records.files``); never imports
Keras or the worker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from harness.records.files import read_comparison, read_parity, read_run_data
from harness.records.frames import cells_frame, comparison_frame, history_frame, keras_cells
from harness.report import charts, efficiency, listings, native, roofline, tables, verdicts
from harness.report import html as report_html
from harness.report import markdown as report_markdown
from harness.report.html import Chart, Section

REPORTS_DIR = Path("results") / "reports"


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report shows, read and checked before anything is written."""

    source: Path
    run: dict[str, Any]
    parity: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None

    @classmethod
    def read(
        cls, results: Path, parity: Path | None = None, comparison: Path | None = None
    ) -> ReportInputs:
        return cls(
            Path(results),
            read_run_data(results),
            read_parity(parity) if parity else None,
            read_comparison(comparison) if comparison else None,
        )

    @cached_property
    def cells(self) -> pd.DataFrame:
        return cells_frame(self.run)

    @property
    def plugins(self) -> list[str]:
        return list(dict.fromkeys(c["plugin"] for c in self.run["cells"]))


@dataclass(frozen=True)
class Report:
    """What ``write_report`` wrote."""

    folder: Path
    html: Path
    markdown: Path
    charts: tuple[Chart, ...]
    markdown_text: str


def default_folder(results: Path) -> Path:
    """``results/reports/<results file stem>/``."""
    return REPORTS_DIR / Path(results).stem


def write_report(
    results: Path,
    out: Path | None = None,
    parity: Path | None = None,
    comparison: Path | None = None,
) -> Report:
    """Render every chart and write ``report.html`` and ``summary.md`` into ``out``."""
    inputs = ReportInputs.read(results, parity, comparison)
    folder = Path(out) if out is not None else default_folder(results)
    rendered = render_charts(inputs, folder / "charts")
    html_path = folder / "report.html"
    html_path.write_text(html_document(inputs, rendered), encoding="utf-8")
    markdown = markdown_summary(inputs, html_path)
    markdown_path = folder / "summary.md"
    markdown_path.write_text(markdown, encoding="utf-8")
    return Report(folder, html_path, markdown_path, tuple(rendered), markdown)


def render_charts(inputs: ReportInputs, folder: Path) -> list[Chart]:
    """Per plugin the training curves (when a cell trained) and the step-time chart; the
    comparison chart when a comparison is given."""
    cells, history = keras_cells(inputs.cells), history_frame(inputs.run)
    rendered = []
    for plugin in inputs.plugins:
        stem = folder / slug(plugin)
        rendered += _curves(history[history["plugin"] == plugin], plugin, stem)
        mine = cells[cells["plugin"] == plugin]
        if mine[["step_ms_median", "build_s", "first_step_s"]].notna().any(axis=None):
            figure = charts.step_time_chart(cells, plugin)
            rendered.append(
                _chart(figure, stem.with_name(f"{stem.name}-step-time"), plugin, "step")
            )
        if charts.scaled(cells, plugin)["sweep_batch"].nunique() > 1:
            figure = charts.scaling_chart(cells, plugin)
            rendered.append(
                _chart(figure, stem.with_name(f"{stem.name}-scaling"), plugin, "scaling")
            )
    ratios = native.native_chart(inputs.cells)
    if ratios is not None:
        rendered.append(_chart(ratios, folder / "keras-vs-native", "native", "native"))
    if not roofline.plotted(cells).empty:
        figure = roofline.roofline_chart(cells)
        rendered.append(_chart(figure, folder / "roofline", "efficiency", "roofline"))
    if inputs.comparison is not None:
        comparison = inputs.comparison
        figure = charts.comparison_chart(
            comparison_frame(comparison),
            float((comparison.get("rule") or {}).get("threshold") or 0.05),
            verdicts.side_label(comparison, "a"),
            verdicts.side_label(comparison, "b"),
        )
        rendered.append(_chart(figure, folder / "comparison", "comparison", "comparison"))
    return rendered


def _curves(history: pd.DataFrame, plugin: str, stem: Path) -> list[Chart]:
    """The plugin's training curves: one chart, or one per batch size of a sweep."""
    sizes = list(dict.fromkeys(history["sweep_batch"].dropna()))
    if not sizes:
        figure = charts.training_curves(history, plugin)
        return (
            []
            if history.empty
            else [_chart(figure, stem.with_name(f"{stem.name}-curves"), plugin, "curves")]
        )
    return [
        _chart(
            charts.training_curves(
                history[history["sweep_batch"] == n], plugin, f"{plugin}, batch {n}"
            ),
            stem.with_name(f"{stem.name}-b{n}-curves"),
            plugin,
            "curves",
            f"curves at batch {n}",
        )
        for n in sizes
    ]


_CAPTIONS = {
    "curves": "Per epoch, one colour per backend / device; training solid with filled markers, "
    "validation dashed with hollow markers.",
    "step": "Bars: median steady-state ms/step; error bars: 95% CI of the median across worker "
    "processes (absent where only one process ran). Right: build + compile and first-step time "
    "(s).",
    "scaling": "Median ms per sample against the batch size of a batch-size sweep (log-log), a "
    "line per backend / device: fit (the training step) solid, predict dashed. A line falling "
    "as 1 / batch size is dispatch-bound (each step's fixed cost dominates); where it "
    "flattens, the arithmetic dominates.",
    "native": "Per native reference, the Keras cell's median ms/step over the native one's: "
    "above 1 (red) Keras is slower than the same network written in the framework itself "
    "(docs/native.md).",
    "comparison": "Median step-time ratio B / A per cell with its 95% CI, coloured by verdict; "
    "dashed line: the regression threshold.",
    "roofline": "Each counted, timed cell at its arithmetic intensity and achieved GFLOP/s; "
    "black: each device's roof, the lower of the measured matmul peak and the measured "
    "bandwidth times the intensity. Small batches sit far below the roof: they wait on "
    "dispatch and synchronisation, not on arithmetic or memory (docs/efficiency.md).",
}


def _chart(figure, stem: Path, name: str, kind: str, what: str | None = None) -> Chart:
    png, svg = charts.save(figure, stem)
    return Chart(f"{name}: {what or kind}", png, svg, _CAPTIONS[kind])


def slug(name: str) -> str:
    """``name`` as a file name: runs of other characters become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "plugin"


def _title(inputs: ReportInputs) -> str:
    return f"kbench report: {inputs.source.stem}"


def _subtitle(inputs: ReportInputs) -> str:
    run, cells = inputs.run, inputs.cells
    config = run.get("config") or {}
    dataset = (config.get("dataset") or {}).get("used", "?")
    ok = int((cells["status"] == "ok").sum())
    return (
        f"{run.get('created', '')}; {len(cells)} cells ({ok} ok), "
        f"profile {config.get('profile', '?')}, dataset {dataset}"
    )


def html_document(inputs: ReportInputs, rendered: list[Chart]) -> str:
    """The page: results, per-plugin charts, parity, comparison, environment."""
    h = report_html
    sections = [
        Section("results", "Results", tuple(h.table(t) for t in _run_tables(inputs.cells))),
        Section("charts", "Charts per plugin", tuple(_plugin_parts(inputs, rendered))),
    ]
    if (parts := _efficiency_parts(inputs, rendered)) is not None:
        sections.append(Section("efficiency", "How close to the machine", parts))
    if inputs.parity is not None:
        sections.append(Section("parity", "Cross-backend parity", _parity_parts(inputs.parity)))
    if inputs.comparison is not None:
        parts = _comparison_parts(inputs.comparison, rendered)
        sections.append(Section("comparison", "Comparison", parts))
    environment = listings.environment_table(inputs.run, str(inputs.source))
    sections.append(Section("environment", "Environment", (h.table(environment),)))
    return h.page(_title(inputs), _subtitle(inputs), sections)


def _run_tables(cells: pd.DataFrame) -> list[tables.Table]:
    """The results table; the step-time statistics when a cell ran in several processes (as
    the console shows them); the cells that did not run to the end."""
    shown = [tables.results_table(cells)]
    natives = native.native_table(cells)
    shown += [natives] if natives is not None else []
    if (cells["n_processes"] > 1).any():
        shown.append(tables.statistics_table(cells))
    problems = tables.problems_table(cells)
    return shown if problems is None else [*shown, problems]


def _efficiency_parts(inputs: ReportInputs, rendered: list[Chart]) -> tuple[str, ...] | None:
    """The efficiency table, the roofline and the measured peaks (None: nothing counted)."""
    counted = efficiency.efficiency_table(inputs.cells)
    peaks = efficiency.peak_table(inputs.run)
    if counted is None and peaks is None:
        return None
    figures = [report_html.figure(c) for c in rendered if c.title == "efficiency: roofline"]
    tables_before = [report_html.table(counted)] if counted else []
    tables_after = [report_html.table(peaks)] if peaks else []
    return (*tables_before, *figures, *tables_after)


def _plugin_parts(inputs: ReportInputs, rendered: list[Chart]) -> list[str]:
    parts = []
    for plugin in inputs.plugins:
        mine = [c for c in rendered if c.title.startswith(f"{plugin}: ")]
        parts.append(report_html.heading(plugin))
        parts += [report_html.figure(c) for c in mine]
        if not mine:
            parts.append(report_html.paragraph("No cell of this plugin ran; see the table above."))
    return parts


def _parity_parts(parity: dict[str, Any]) -> tuple[str, ...]:
    passed = "passed" if parity.get("passed", True) else "FAILED"
    note = f"Parity {passed}; a row per plugin, then every check with its detail."
    return (
        report_html.paragraph(note),
        report_html.table(verdicts.parity_table(parity)),
        report_html.table(verdicts.parity_checks_table(parity)),
    )


def _comparison_parts(comparison: dict[str, Any], rendered: list[Chart]) -> tuple[str, ...]:
    rule = comparison.get("rule") or {}
    note = (
        f"A: {verdicts.side_label(comparison, 'a')}. B: {verdicts.side_label(comparison, 'b')}. "
        "Rule: " + ", ".join(f"{k} {v}" for k, v in rule.items())
    )
    figures = [report_html.figure(c) for c in rendered if c.title == "comparison: comparison"]
    table = report_html.table(verdicts.comparison_table(comparison))
    return (report_html.paragraph(note), *figures, table)


def markdown_summary(inputs: ReportInputs, html_path: Path) -> str:
    """The CI job summary: the results table, what failed, parity and comparison verdicts."""
    lines = [f"## {_title(inputs)}", "", _subtitle(inputs)]
    for table in _run_tables(inputs.cells):
        lines += ["", report_markdown.table(table)]
    if inputs.parity is not None:
        lines += ["", *_parity_markdown(inputs.parity)]
    if inputs.comparison is not None:
        lines += ["", *_comparison_markdown(inputs.comparison)]
    lines += ["", f"Full report with charts: `{html_path}`", ""]
    return "\n".join(lines)


def _parity_markdown(parity: dict[str, Any]) -> list[str]:
    results = parity.get("results") or []
    failed = sum(r.get("status") == "fail" for r in results)
    verdict = "all passed" if not failed else f"**{failed} failed**"
    lines = ["### Cross-backend parity", "", f"{len(results)} checks: {verdict}."]
    if failed:
        lines += ["", report_markdown.table(verdicts.parity_checks_table(parity, failed_only=True))]
    return lines


def _comparison_markdown(comparison: dict[str, Any]) -> list[str]:
    counts = comparison_frame(comparison)["verdict"].value_counts()
    regressed = bool((comparison.get("summary") or {}).get("regressed", "regression" in counts))
    head = "**Regression**" if regressed else "No regression"
    tally = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    sides = f"A: {verdicts.side_label(comparison, 'a')}; B: {verdicts.side_label(comparison, 'b')}"
    return [
        "### Comparison",
        "",
        f"{head}: {tally}. {sides}.",
        "",
        report_markdown.table(verdicts.comparison_table(comparison)),
    ]

"""``kbench history --out FOLDER``: a self-contained ``dashboard.html`` (charts embedded, no
scripts, nothing fetched) and ``summary.md`` for a CI job summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.history.charts import series_chart
from harness.history.series import History
from harness.history.steps import SLOWER, Step, StepRule
from harness.history.tables import series_table, steps_table
from harness.report import charts as report_charts
from harness.report import html, markdown
from harness.report.document import slug
from harness.report.html import Chart, Section

CHART_CAPTION = (
    "Per run (or version): the median of its processes' step times (line), its 95% band, and "
    "every process (dots); grey lines: each segment's level between change points; dashed: "
    "change points (red slower, green faster, grey a candidate the test does not support)."
)


@dataclass(frozen=True)
class Dashboard:
    """What ``write_dashboard`` wrote."""

    folder: Path
    html: Path
    markdown: Path
    markdown_text: str


def write_dashboard(history: History, steps: list[Step], rule: StepRule, out: Path) -> Dashboard:
    """Every series' chart, ``dashboard.html`` and ``summary.md`` into ``out``."""
    folder = Path(out)
    rendered = [
        _chart(history, steps, index, folder / "charts") for index in range(len(history.series))
    ]
    page = html_page(history, steps, rule, rendered)
    html_path = folder / "dashboard.html"
    html_path.write_text(page, encoding="utf-8")
    text = markdown_summary(history, steps, rule, html_path)
    markdown_path = folder / "summary.md"
    markdown_path.write_text(text, encoding="utf-8")
    return Dashboard(folder, html_path, markdown_path, text)


def _chart(history: History, steps: list[Step], index: int, folder: Path) -> Chart:
    series = history.series[index]
    stem = folder / f"{index:03d}-{slug(series.cell)}"
    png, svg = report_charts.save(series_chart(series, steps), stem)
    return Chart(series.name, png, svg, CHART_CAPTION)


def html_page(history: History, steps: list[Step], rule: StepRule, rendered: list[Chart]) -> str:
    """The page: the steps found, the series table, a chart per series, skipped files."""
    sections = [
        Section(
            "steps",
            "Change points",
            (html.paragraph(headline(steps)), html.table(steps_table(steps, rule))),
        ),
        Section("series", "Series", (html.table(series_table(history, steps)),)),
        Section("charts", "Charts", tuple(_chart_parts(history, rendered))),
    ]
    if history.skipped:
        lines = tuple(html.paragraph(line) for line in history.skipped)
        sections.append(Section("skipped", "Files left out", lines))
    subtitle = (
        f"{history.runs} results files, {len(history.series)} series, ordered by {history.order_by}"
    )
    return html.page("kbench history", subtitle, sections)


def _chart_parts(history: History, rendered: list[Chart]) -> list[str]:
    parts = []
    for series, chart in zip(history.series, rendered, strict=True):
        parts += [html.heading(f"{series.cell} — {series.machine}")]
        if series.settings_text:
            parts.append(html.paragraph(series.settings_text))
        parts.append(html.figure(chart))
    return parts


def headline(steps: list[Step]) -> str:
    """One sentence: how many steps were found, how many slower, of how many candidates."""
    found = [s for s in steps if s.found]
    slower = sum(s.verdict == SLOWER for s in found)
    if not found:
        return f"No step found ({len(steps)} candidates tested)."
    steps_found = f"{len(found)} step{'s' * (len(found) > 1)} found"
    return (
        f"{steps_found} ({slower} slower, {len(found) - slower} faster) of "
        f"{len(steps)} candidates tested."
    )


def markdown_summary(
    history: History, steps: list[Step], rule: StepRule, html_path: Path | None = None
) -> str:
    """The CI job summary: the headline, the steps found, the series."""
    lines = ["## kbench history", "", headline(steps)]
    found = [s for s in steps if s.found]
    if found:
        lines += ["", markdown.table(steps_table(found, rule))]
    lines += ["", markdown.table(series_table(history, steps))]
    if history.skipped:
        lines += ["", *[f"- {line}" for line in history.skipped]]
    if html_path is not None:
        lines += ["", f"Dashboard with charts: `{html_path}`"]
    lines.append("")
    return "\n".join(lines)

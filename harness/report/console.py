"""Rich renderings of a run: pure functions from records to renderables."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from harness.gate import stats
from harness.records.schema import CellResult, RunResult

WIDE_CV = 0.25
_SHORT = {"tensorflow": "tf"}


def groups(run: RunResult) -> list[tuple[str, str]]:
    """The (backend, device) column groups, in run order."""
    return list(dict.fromkeys((c.backend, c.device) for c in run.cells))


def results_table(run: RunResult) -> Table:
    """A row per plugin; per backend x device: median ms/step (+-CV) and test accuracy.

    Parameter counts get one column: they must be equal on every backend, and a row
    whose backends disagree says so in red with each backend's count.
    """
    table = Table(
        title="Median step time (ms/step) and test accuracy",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption=f"tf = tensorflow; * fastest of the row; ~ spread too wide to trust "
        f"(CV above {WIDE_CV:.0%})",
    )
    table.add_column("plugin", style="bold", no_wrap=True, min_width=9)
    table.add_column("params", justify="right", no_wrap=True, min_width=7)
    for backend, device in groups(run):
        label = f"{_SHORT.get(backend, backend)}/{device}"
        table.add_column(f"{label}\nms", justify="right", no_wrap=True, min_width=7)
        table.add_column("\nacc", justify="right", no_wrap=True, min_width=5)
    by_key = {(c.plugin, c.backend, c.device): c for c in run.cells}
    for plugin in dict.fromkeys(c.plugin for c in run.cells):
        row = [c for (p, _, _), c in by_key.items() if p == plugin]
        fastest = _fastest(row)
        cells: list[Text | str] = [escape(plugin), params_text(row)]
        for backend, device in groups(run):
            cell = by_key.get((plugin, backend, device))
            cells += _group_cells(cell, cell is not None and cell is fastest)
        table.add_row(*cells)
    return table


def _fastest(row: list[CellResult]) -> CellResult | None:
    timed = [c for c in row if c.ok and c.step_time_ms is not None]
    return min(timed, key=lambda c: c.step_time_ms.median) if len(timed) > 1 else None


def params_text(row: list[CellResult]) -> Text:
    """The row's total parameter count, or every backend's count in red when they differ."""
    counts = {f"{c.backend}/{c.device}": c.params.total for c in row if c.params is not None}
    if len(set(counts.values())) <= 1:
        return Text(f"{next(iter(counts.values())):,}" if counts else "")
    return Text(" ".join(f"{k}={v:,}" for k, v in counts.items()), style="bold red")


def _group_cells(cell: CellResult | None, fastest: bool) -> list[Text | str]:
    if cell is None:
        return ["", ""]
    if not cell.ok or cell.step_time_ms is None:
        return [Text(cell.status.value, style=_STATUS_STYLE.get(cell.status.value, "")), ""]
    step = cell.step_time_ms
    mark, style = ("*", "bold green") if fastest else ("", "")
    if step.cv > WIDE_CV:
        mark, style = f"~{mark}", "yellow"
    timing = Text(f"{mark}{step.median:.2f}", style=style)
    accuracy = cell.metrics.get("test_accuracy")
    return [timing, f"{accuracy:.3f}" if accuracy is not None else ""]


_STATUS_STYLE = {"failed": "bold red", "timeout": "red", "unavailable": "yellow", "skipped": "dim"}


def problems_table(run: RunResult) -> Table | None:
    """The cells that did not finish, with their reasons (None when all are ok)."""
    bad = [c for c in run.cells if not c.ok]
    if not bad:
        return None
    table = Table(title="Cells that did not run to the end", show_lines=False)
    table.add_column("cell")
    table.add_column("status")
    table.add_column("reason", overflow="fold")
    for cell in bad:
        style = _STATUS_STYLE.get(cell.status.value, "")
        table.add_row(
            escape(cell.cell.key), Text(cell.status.value, style=style), escape(cell.error or "")
        )
    return table


def describe_cell(cell: CellResult) -> str:
    """One line of markup for the progress log."""
    if not cell.ok or cell.step_time_ms is None:
        style = _STATUS_STYLE.get(cell.status.value, "")
        return (
            f"[{style}]{cell.status.value}[/] {escape(cell.cell.key)}: {escape(cell.error or '')}"
        )
    accuracy = cell.metrics.get("test_accuracy")
    first = cell.timings_s.get("first_step", float("nan"))
    trained = f"test acc {accuracy:.3f}" if accuracy is not None else "timing only"
    return (
        f"[green]ok[/] {escape(cell.cell.key)}: {cell.step_time_ms.median:.2f} ms/step, "
        f"first step {first:.2f} s, {trained} ({cell.duration_s or 0:.0f} s)"
    )


def catalogue_table(
    plugins: list[dict], params_backend: str | None, descriptions: bool = True
) -> Table:
    """The plugin catalogue grouped by family, with parameter counts."""
    title = "Plugins" + (f" (parameters as built on {params_backend})" if params_backend else "")
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("family", "name"):
        widest = max((len(p[column]) for p in plugins), default=0)
        table.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
    for column in ("params", "trainable", "non-train"):
        table.add_column(column, justify="right", no_wrap=True, min_width=7)
    if descriptions:
        table.add_column("description")
    families = list(dict.fromkeys(p["family"] for p in plugins))
    for family in families:
        members = [p for p in plugins if p["family"] == family]
        for index, p in enumerate(members):
            counts = p.get("params") or {}
            numbers = [counts.get(k) for k in ("total", "trainable", "non_trainable")]
            table.add_row(
                escape(family) if index == 0 else "",
                escape(p["name"]),
                *(f"{n:,}" if n is not None else "?" for n in numbers),
                *([escape(p["description"])] if descriptions else []),
                end_section=index == len(members) - 1,
            )
    return table


_PARITY_STYLE = {"pass": "green", "fail": "bold red", "unavailable": "yellow"}


def parity_table(report: Any) -> Table:
    """A row per plugin, a column per check; each cell lists its backend pairs."""
    table = Table(
        title=f"Cross-backend parity (reference: {report.backends[0]})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption=f"forward/portability: max abs diff < {report.tolerances.forward:g}; "
        f"training: max relative loss diff < {report.tolerances.training:g} (or the "
        f"plugin's stated tolerance, shown) over {report.steps} steps and first loss "
        f"< {report.tolerances.first_loss:g}",
    )
    plugins = list(dict.fromkeys(r.plugin for r in report.results))
    widest = max((len(p) for p in plugins), default=6)
    table.add_column("plugin", style="bold", no_wrap=True, min_width=widest)
    checks = ("build", "forward", "portability", "training")
    for check in checks:
        table.add_column(check, no_wrap=True)
    for plugin in plugins:
        row = [escape(plugin)]
        for check in checks:
            lines = [r for r in report.results if r.plugin == plugin and r.check == check]
            default = report.tolerances.training
            row.append(Text("\n").join(_parity_line(r, default) for r in lines))
        table.add_row(*row, end_section=True)
    return table


def _parity_line(result: Any, default_training_tol: float) -> Text:
    """``tf ok 1.5e-07``: the other backend (vs the reference) or ``source>target``."""
    pair = result.pair.replace("tensorflow", "tf").replace("->", ">")
    pair = pair.split("~")[-1]
    mark = {"pass": "ok", "fail": "FAIL"}.get(result.status, result.status)
    value = f" {result.measured:.1e}" if result.measured is not None else ""
    if result.check == "training" and result.tolerance not in (None, default_training_tol):
        value += f" (tol {result.tolerance:g})"
    return Text(f"{pair} {mark}{value}", style=_PARITY_STYLE.get(result.status, ""))


def statistics_table(run: RunResult) -> Table:
    """Per cell: median, 95% CI across processes, CV, processes and samples/s."""
    table = Table(
        title="Step time across worker processes (one process = one sample)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption=f"~ spread too wide to trust (CV above {WIDE_CV:.0%}); CI: 95% bootstrap "
        "interval of the median; CV across processes (w: across one process's windows)",
    )
    table.add_column("cell", no_wrap=True, min_width=max(len(c.cell.key) for c in run.cells))
    for column in ("ms/step", "95% CI", "CV", "n", "samples/s"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    for cell in run.cells:
        step = cell.step_time_ms
        if not cell.ok or step is None:
            continue
        interval = f"{step.ci_low:.3f}-{step.ci_high:.3f}" if step.ci_low is not None else "-"
        wide = step.cv > WIDE_CV
        table.add_row(
            escape(cell.cell.key),
            Text(f"{'~' if wide else ''}{step.median:.3f}", style="yellow" if wide else ""),
            interval,
            f"{step.cv:.1%}{'' if step.spread_of == 'processes' else ' w'}",
            str(step.n_processes),
            f"{cell.samples_per_s:,.0f}" if cell.samples_per_s else "",
        )
    return table


_VERDICT_STYLE = {
    "regression": "bold red",
    "inconclusive": "yellow",
    "slower": "dark_orange",
    "faster": "green",
    "same": "",
    "new": "cyan",
    "missing": "magenta",
    "incomparable": "magenta",
}


def comparison_table(comparison: Any) -> Table:
    """Old and new median, ratio with its 95% CI, p-value and the verdict per cell."""
    rule = comparison.rule
    table = Table(
        title=f"A: {comparison.a.label}  vs  B: {comparison.b.label}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption=f"regression: one-sided Mann-Whitney U on per-process medians, Holm-corrected "
        f"p < {rule.alpha:g}{' per look' if getattr(rule, 'looks', 1) > 1 else ''}, "
        f"and ratio > {1 + rule.threshold:.2f}; detectable: the slowdown this spread "
        f"flags in {stats.POWER:.0%} of comparisons of the same size",
    )
    table.add_column("cell", no_wrap=True)
    for column in ("A ms", "B ms", "B/A", "95% CI", "n", "p (Holm)", "detectable"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for c in comparison.cells:
        interval = f"{c.ratio_ci_low:.3f}-{c.ratio_ci_high:.3f}" if c.ratio_ci_low else ""
        table.add_row(
            escape(c.key),
            _number(c.a_median_ms, ".3f"),
            _number(c.b_median_ms, ".3f"),
            _number(c.ratio, ".3f"),
            interval,
            f"{c.n_a}/{c.n_b}" if c.n_a or c.n_b else "",
            _number(c.p_adjusted, ".2g"),
            _detectable(c),
            Text(c.verdict, style=_VERDICT_STYLE.get(c.verdict, "")),
            escape(c.reason),
        )
    return table


def baselines_table(baselines: list[Any]) -> Table:
    """The saved baselines, newest first."""
    table = Table(title="Saved baselines", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("name", "saved", "cells", "repeats", "profile", "dataset", "keras", "machine"):
        table.add_column(column, no_wrap=column != "machine")
    for b in baselines:
        table.add_row(
            escape(b.name),
            escape(b.saved),
            str(b.cells),
            str(b.repeats),
            escape(str(b.profile)),
            escape(str(b.dataset)),
            escape(str(b.keras)),
            escape(str(b.machine)),
        )
    return table


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


def _detectable(cell: Any) -> str:
    """The cell's detectable slowdown; "never" for a tested cell no slowdown would fail."""
    if cell.p_adjusted is None:
        return ""
    value = cell.detectable_slowdown
    return "never" if value is None else format(value, ".0%")


def _number(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)

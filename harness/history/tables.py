"""The history as tables (one model, rendered by rich, HTML and Markdown): the series, and
the change points with their tests."""

from __future__ import annotations

from harness.history.series import History
from harness.history.steps import FASTER, SLOWER, WITHIN, Step, StepRule, segment_level, shown
from harness.report.tables import Cell, Column, Table, columns_of

_VERDICT_STYLE = {SLOWER: "bad", FASTER: "ok", WITHIN: "dim"}


def series_table(history: History, steps: list[Step]) -> Table:
    """One row per series: its runs, first and last level, and the steps found in it."""
    rows = []
    for series in history.series:
        found = [s for s in steps if s.series is series and s.found]
        first, last = series.groups[0], series.groups[-1]
        rows.append(
            (
                Cell(series.cell),
                Cell(series.machine),
                Cell(series.settings_text),
                Cell(str(sum(len(g.points) for g in series.groups))),
                Cell(f"{first.median:.3f}"),
                Cell(f"{last.median:.3f}"),
                Cell(
                    ", ".join(f"x{s.ratio:.2f}" for s in found) or "none",
                    "bad" if any(s.verdict == SLOWER for s in found) else "",
                ),
            )
        )
    columns = (
        Column("cell", strong=True),
        Column("machine", wrap=True),
        Column("settings", wrap=True),
        *columns_of(("runs", "first ms", "last ms"), numeric=True),
        Column("steps found"),
    )
    caption = (
        f"{history.runs} results files ordered by {history.order_by}; a series is one cell on "
        "one machine with one set of measured settings. ms: the median of the per-process "
        "medians of the first / last run (or version)."
    )
    return Table("Series", columns, tuple(rows), caption)


def steps_table(steps: list[Step], rule: StepRule) -> Table:
    """Every candidate change point, tested: where, the levels either side, the ratio with
    its interval, the p-values and what changed between the runs around it."""
    rows = [_step_row(step) for step in shown(steps)]
    columns = (
        Column("cell", strong=True),
        Column("between", wrap=True),
        *columns_of(
            ("before ms (n)", "after ms (n)", "after/before (95% CI)", "p", "Holm p"), numeric=True
        ),
        Column("verdict"),
        Column("what changed", wrap=True),
    )
    caption = (
        "Candidates from a penalised piecewise-constant fit of each series, and each series' "
        "latest run against the segment before it (shown when it differs); each tested with "
        "Welch's t-test on the levels of the runs either side (a run's level: the mean log "
        "step time of its processes), "
        f"Holm over all candidates. A step is reported at Holm p < {rule.alpha:g} with a ratio "
        f"beyond {1 + rule.threshold:g} or below {1 / (1 + rule.threshold):.3f}."
    )
    return Table("Change points", columns, tuple(rows), caption)


def _step_row(step: Step) -> tuple[Cell, ...]:
    interval = f" ({step.ci[0]:.2f}-{step.ci[1]:.2f})" if step.ci else ""
    lines = [Cell(line) for line in step.changes]
    if not any(_software(line) for line in step.changes):
        lines.insert(0, Cell("no version, commit, host or option differs", "dim"))
    changes = Cell.stack(lines)
    return (
        Cell(f"{step.series.cell}\n{step.series.machine}"),
        Cell(f"{step.before[-1].label}\n-> {step.after[0].label}"),
        Cell(f"{segment_level(step.before):.3f} ({step.n_before})"),
        Cell(f"{segment_level(step.after):.3f} ({step.n_after})"),
        Cell(f"x{step.ratio:.3f}{interval}"),
        Cell(_p(step.p)),
        Cell(_p(step.p_adjusted)),
        Cell(step.verdict_text, _VERDICT_STYLE.get(step.verdict, "dim")),
        changes,
    )


def _p(value: float | None) -> str:
    return "" if value is None else f"{value:.2g}"


def _software(line: str) -> bool:
    """Whether a change line names the software or the run (not the machine's speed)."""
    return not line.startswith(("measured ", "steal: "))

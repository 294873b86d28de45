"""The Markdown summary: short enough for a CI job summary (``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from harness.report.tables import Cell, Table

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
_MAX_TEXT = 160


def table(data: Table) -> str:
    """A GitHub-flavoured Markdown table (numeric columns right-aligned), its title in bold
    above it and its caption below it."""
    align = ["---:" if column.numeric else "---" for column in data.columns]
    lines = [_row(column.label for column in data.columns), _row(align, escape=False)]
    lines += [_row((_text(cell) for cell in row), escape=False) for row in data.rows]
    title = [f"**{_cell(data.title)}**", ""] if data.title else []
    caption = ["", _cell(data.caption, limit=None)] if data.caption else []
    return "\n".join([*title, *lines, *caption])


def _text(cell: Cell) -> str:
    """A cell's lines, escaped and joined by line breaks GitHub shows inside a table."""
    return "<br>".join(_cell(part.text) for part in cell.parts())


def _row(values: Iterable[str], escape: bool = True) -> str:
    cells = [_cell(v) if escape else v for v in values]
    return "| " + " | ".join(cells) + " |"


def _cell(text: str, limit: int | None = _MAX_TEXT) -> str:
    """One line, pipes escaped, long reasons shortened (the HTML report has them in full)."""
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if limit is None or len(flat) <= limit else flat[: limit - 1] + "…"


def append_step_summary(markdown: str) -> Path | None:
    """Append to the file named by ``$GITHUB_STEP_SUMMARY``; None when it is not set."""
    target = os.environ.get(STEP_SUMMARY_ENV)
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return path

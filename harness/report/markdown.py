"""The Markdown summary: short enough for a CI job summary (``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.report.tables import TextTable

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
_MAX_TEXT = 160


def table(data: TextTable) -> str:
    """A GitHub-flavoured Markdown table (numeric columns right-aligned)."""
    align = ["---:" if i in data.numeric else "---" for i in range(len(data.header))]
    lines = [_row(data.header), _row(align, escape=False)]
    lines += [_row(row) for row in data.rows]
    return "\n".join(lines)


def _row(values, escape: bool = True) -> str:
    cells = [_cell(v) if escape else v for v in values]
    return "| " + " | ".join(cells) + " |"


def _cell(text: str) -> str:
    """One line, pipes escaped, long reasons shortened (the HTML report has them in full)."""
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if len(flat) <= _MAX_TEXT else flat[: _MAX_TEXT - 1] + "…"


def append_step_summary(markdown: str) -> Path | None:
    """Append to the file named by ``$GITHUB_STEP_SUMMARY``; None when it is not set."""
    target = os.environ.get(STEP_SUMMARY_ENV)
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return path

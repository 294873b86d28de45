"""``report.html``: one self-contained page (inline CSS, PNGs as data URIs, no scripts).

Nothing is fetched when the page is viewed: no CDN, no fonts, no scripts, no remote images.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from harness.report.tables import TextTable

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td, td.fail { color: #b00020; font-weight: bold; } td.reason { max-width: 40em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .note { color: #555; font-size: .9em; }
nav a { margin-right: 1em; }
"""


@dataclass(frozen=True)
class Chart:
    """A rendered figure: its PNG (embedded in the page), its SVG beside it, a caption."""

    title: str
    png: Path
    svg: Path
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """A heading with an anchor, and the HTML fragments under it."""

    anchor: str
    title: str
    parts: tuple[str, ...]


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole document."""
    nav = " ".join(f'<a href="#{s.anchor}">{_e(s.title)}</a>' for s in sections)
    body = "\n".join(
        f'<section id="{s.anchor}">\n<h2>{_e(s.title)}</h2>\n' + "\n".join(s.parts) + "\n</section>"
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f'<h1>{_e(title)}</h1>\n<p class="note">{_e(subtitle)}</p>\n<nav>{nav}</nav>\n'
        f"{body}\n</body>\n</html>\n"
    )


def table(data: TextTable, caption: str = "", status_column: int | None = None) -> str:
    """An HTML table; rows whose ``status_column`` says fail/failed/regression are marked."""
    head = "".join(f"<th>{_e(h)}</th>" for h in data.header)
    rows = []
    for row in data.rows:
        marked = status_column is not None and row[status_column] in _BAD
        cells = "".join(
            f"<td{_class(i, data, marked)}>{_e(value)}</td>" for i, value in enumerate(row)
        )
        rows.append(f"<tr>{cells}</tr>")
    caption_html = f"<caption>{_e(caption)}</caption>" if caption else ""
    return (
        f"<table>{caption_html}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


_BAD = {"fail", "failed", "timeout", "regression"}


def _class(index: int, data: TextTable, marked: bool) -> str:
    names = ["num"] if index in data.numeric else []
    names += ["fail"] if marked else []
    names += ["reason"] if data.header[index] in ("reason", "detail", "note") else []
    return f' class="{" ".join(names)}"' if names else ""


def figure(chart: Chart) -> str:
    """The chart's PNG embedded as a data URI, captioned, named after its SVG file."""
    data = base64.b64encode(chart.png.read_bytes()).decode("ascii")
    caption = " ".join(filter(None, [chart.caption, f"(vector version: {chart.svg.name})"]))
    return (
        f'<figure><img alt="{_e(chart.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def paragraph(text: str, css: str = "note") -> str:
    return f'<p class="{css}">{_e(text)}</p>'


def heading(text: str) -> str:
    return f"<h3>{_e(text)}</h3>"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)

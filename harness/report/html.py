"""``report.html``: one self-contained page (inline CSS, PNGs as data URIs, no scripts).

Nothing is fetched when the page is viewed: no CDN, no fonts, no scripts, no remote images.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from harness.report.tables import Cell, Column, Table

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; font-size: .9em; }
caption { text-align: left; font-weight: bold; padding: .3em 0; }
table + p.note { margin-top: -1.2em; margin-bottom: 1.5em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.strong { font-weight: bold; } td.reason { max-width: 40em; }
tr.end td { border-bottom: 2px solid #bbb; }
.s-best { color: #1a7f37; font-weight: bold; } .s-ok { color: #1a7f37; }
.s-bad { color: #b00020; font-weight: bold; } .s-error { color: #b00020; }
.s-warn, .s-wide { color: #9a6700; } .s-dim { color: #888; } .s-slower { color: #bc4c00; }
.s-new { color: #0969da; } .s-unmatched { color: #8250df; }
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


def table(data: Table) -> str:
    """The table with its title as the caption and its own caption as a note below it."""
    title = f"<caption>{_e(data.title)}</caption>" if data.title else ""
    rows = "".join(_row(data, index) for index in range(len(data.rows)))
    note = paragraph(data.caption) if data.caption else ""
    return f"<table>{title}<thead>{_head(data)}</thead><tbody>{rows}</tbody></table>{note}"


def _head(data: Table) -> str:
    """One header row; two where columns are grouped (the group spans its columns)."""
    if not any(column.group for column in data.columns):
        return "<tr>" + "".join(_th(c.header) for c in data.columns) + "</tr>"
    top, start = [], 0
    for group, span in data.spans():
        ungrouped = data.columns[start].header
        top.append(_th(group, f' colspan="{span}"') if group else _th(ungrouped, ' rowspan="2"'))
        start += span
    bottom = "".join(_th(c.header) for c in data.columns if c.group)
    return f"<tr>{''.join(top)}</tr><tr>{bottom}</tr>"


def _th(text: str, attributes: str = "") -> str:
    return f"<th{attributes}>{_e(text)}</th>"


def _row(data: Table, index: int) -> str:
    row = zip(data.rows[index], data.columns, strict=True)
    cells = "".join(_cell(cell, column) for cell, column in row)
    return f'<tr class="end">{cells}</tr>' if index in data.breaks else f"<tr>{cells}</tr>"


def _cell(cell: Cell, column: Column) -> str:
    """A ``td`` classed by its column (num, reason, strong) and its style; one line per part."""
    names = ["num"] * column.numeric + ["reason"] * column.wrap + ["strong"] * column.strong
    if cell.lines:
        content = "<br>".join(_span(part) for part in cell.lines)
    else:
        content, names = _e(cell.text), names + ([f"s-{cell.style}"] if cell.style else [])
    classes = f' class="{" ".join(names)}"' if names else ""
    return f"<td{classes}>{content}</td>"


def _span(part: Cell) -> str:
    return f'<span class="s-{part.style}">{_e(part.text)}</span>' if part.style else _e(part.text)


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

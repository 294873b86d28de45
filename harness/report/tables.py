"""The report's tables as plain text cells, shared by the HTML and the Markdown renderings.

Each function returns a ``TextTable``: a header and rows of strings, nothing format-specific.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.records.schema import MALLOC_UNRECORDED
from harness.report.console import WIDE_CV


@dataclass(frozen=True)
class TextTable:
    """A header and rows of already formatted text (``numeric`` columns align right)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int] = frozenset()


def environment_table(run: dict[str, Any], source: str) -> TextTable:
    """Where and with what the run was made: machine, versions, dataset and settings."""
    env, config = run.get("environment") or {}, run.get("config") or {}
    dataset = config.get("dataset") or {}
    rows = [
        ("results file", source),
        ("created", str(run.get("created", ""))),
        ("schema version", str(run.get("schema_version", ""))),
        ("cpu", f"{env.get('cpu', '?')} ({env.get('cores', '?')} cores)"),
        ("gpus", ", ".join(map(str, env.get("gpus") or [])) or "none"),
        ("os", str(env.get("os", ""))),
        ("python", str(env.get("python", ""))),
        *(
            (name, str(version))
            for name, version in (env.get("packages") or {}).items()
            if version is not None
        ),
        ("git commit", str(env.get("git_commit") or "")),
        ("dataset", _dataset_text(dataset)),
        *(
            (name, str(config[name]))
            for name in ("profile", "epochs", "jit_compile", "dtype_policy")
            if name in config
        ),
        ("batch_size", str(config.get("batch_size") or "plugin default")),
        ("threads", str(config.get("threads") or "framework default")),
        ("malloc", str(config.get("malloc", MALLOC_UNRECORDED))),
        ("seed", str(config.get("seed", ""))),
    ]
    return TextTable(("setting", "value"), tuple(rows))


def _dataset_text(dataset: dict[str, Any]) -> str:
    if not dataset:
        return ""
    sizes = f"{dataset.get('n_train', '?')} train / {dataset.get('n_test', '?')} test"
    return f"{dataset.get('used', '?')} (requested {dataset.get('requested', '?')}; {sizes})"


def groups(cells: pd.DataFrame) -> list[tuple[str, str]]:
    """The (backend, device) column groups, in run order."""
    return list(dict.fromkeys(zip(cells["backend"], cells["device"], strict=True)))


def results_table(cells: pd.DataFrame) -> TextTable:
    """The rich table's content: a row per plugin; per backend x device ms/step and accuracy.

    ``*`` marks the fastest cell of a row, ``~`` a CV above ``WIDE_CV``; the CI of the median
    follows in brackets when the file has one.
    """
    header = ["plugin", "params"]
    for backend, device in groups(cells):
        header += [f"{backend}/{device} ms/step", f"{backend}/{device} acc"]
    rows = []
    for plugin in dict.fromkeys(cells["plugin"]):
        mine = cells[cells["plugin"] == plugin]
        fastest = _fastest(mine)
        row = [plugin, _params_text(mine)]
        for backend, device in groups(cells):
            cell = mine[(mine["backend"] == backend) & (mine["device"] == device)]
            row += _group_text(cell.iloc[0], fastest) if len(cell) else ["", ""]
        rows.append(tuple(row))
    numeric = frozenset(range(1, len(header)))
    return TextTable(tuple(header), tuple(rows), numeric)


def _fastest(row: pd.DataFrame) -> str | None:
    timed = row[(row["status"] == "ok") & (row["step_ms_median"] > 0)]  # NaN and noise < 0 out
    return timed.loc[timed["step_ms_median"].idxmin(), "key"] if len(timed) > 1 else None


def _params_text(row: pd.DataFrame) -> str:
    counts = {
        k: int(v) for k, v in zip(row["key"], row["params_total"], strict=True) if pd.notna(v)
    }
    if len(set(counts.values())) <= 1:
        return f"{next(iter(counts.values())):,}" if counts else ""
    return "differ: " + ", ".join(f"{k}={v:,}" for k, v in counts.items())


def _group_text(cell: pd.Series, fastest: str | None) -> list[str]:
    if cell["status"] != "ok" or pd.isna(cell["step_ms_median"]):
        return [str(cell["status"]), ""]
    mark = ("~" if cell["step_ms_cv"] > WIDE_CV else "") + ("*" if cell["key"] == fastest else "")
    text = f"{mark}{cell['step_ms_median']:.2f}"
    if pd.notna(cell["step_ms_ci_low"]) and pd.notna(cell["step_ms_ci_high"]):
        text += f" [{cell['step_ms_ci_low']:.2f}, {cell['step_ms_ci_high']:.2f}]"
    accuracy = cell["test_accuracy"]
    return [text, f"{accuracy:.3f}" if pd.notna(accuracy) else ""]


def problems_table(cells: pd.DataFrame) -> TextTable | None:
    """The cells that did not run to the end, with their reasons (None when all are ok)."""
    bad = cells[cells["status"] != "ok"]
    if bad.empty:
        return None
    rows = tuple(
        (key, str(status), str(error or ""))
        for key, status, error in zip(bad["key"], bad["status"], bad["error"], strict=True)
    )
    return TextTable(("cell", "status", "reason"), rows)


def parity_table(parity: dict[str, Any]) -> TextTable:
    """Every parity check: plugin, check, backend pair, status, measured vs tolerance."""
    rows = tuple(
        (
            str(r.get("plugin", "")),
            str(r.get("check", "")),
            str(r.get("pair", "")),
            str(r.get("status", "")),
            _sci(r.get("measured")),
            _sci(r.get("tolerance")),
            str(r.get("detail") or ""),
        )
        for r in parity["results"]
    )
    header = ("plugin", "check", "pair", "status", "measured", "tolerance", "detail")
    return TextTable(header, rows, frozenset({4, 5}))


def comparison_table(cells: pd.DataFrame) -> TextTable:
    """Every compared cell: verdict, both medians, the ratio with its CI, adjusted p-value."""
    rows = tuple(
        (
            row.key,
            row.verdict,
            _fixed(row.a_median_ms),
            _fixed(row.b_median_ms),
            _ratio_text(row.ratio, row.ratio_ci_low, row.ratio_ci_high),
            _sci(row.p_adjusted),
            _percent(row.detectable_slowdown),
            row.reason,
        )
        for row in cells.itertuples()
    )
    header = ("cell", "verdict", "A ms/step", "B ms/step", "B/A [95% CI]", "p (adjusted)")
    header += ("detectable (95%)", "note")
    return TextTable(header, rows, frozenset({2, 3, 4, 5, 6}))


def _ratio_text(ratio: float, low: float, high: float) -> str:
    if _missing(ratio):
        return ""
    bounds = "" if _missing(low) or _missing(high) else f" [{low:.3f}, {high:.3f}]"
    return f"{ratio:.3f}{bounds}"


def _fixed(value: Any) -> str:
    return "" if _missing(value) else f"{float(value):.2f}"


def _percent(value: Any) -> str:
    return "" if _missing(value) else f"{float(value):.0%}"


def _sci(value: Any) -> str:
    return "" if _missing(value) else f"{float(value):.2g}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))

"""Tables of verdicts: cross-backend parity checks and A/B comparisons.

Builders in the model of ``harness.report.tables``, from the parity dict
(``ParityReport.to_dict()`` or its file) and the comparison dict (``Comparison.to_dict()`` or
its file).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.records.frames import comparison_frame
from harness.report.tables import Cell, Column, Table, columns_of, formatted
from harness.stats import POWER, TimingTestName

PARITY_STYLE = {"pass": "ok", "fail": "bad", "unavailable": "warn"}
VERDICT_STYLE = {
    "regression": "bad",
    "inconclusive": "warn",
    "slower": "slower",
    "faster": "ok",
    "new": "new",
    "missing": "unmatched",
    "incomparable": "unmatched",
}
PARITY_CHECKS = ("build", "forward", "portability", "training")


def parity_table(parity: dict[str, Any]) -> Table:
    """A row per plugin, a column per check; each cell lists its backend pairs
    (``tf ok 1.5e-07``: the other backend against the reference, or ``source>target``)."""
    results = parity.get("results") or []
    default = (parity.get("tolerances") or {}).get("training")
    rows = tuple(
        (Cell(plugin), *(_parity_cell(results, plugin, check, default) for check in PARITY_CHECKS))
        for plugin in dict.fromkeys(r["plugin"] for r in results)
    )
    reference = (parity.get("backends") or ["?"])[0]
    columns = (Column("plugin", strong=True), *columns_of(PARITY_CHECKS))
    title = f"Cross-backend parity (reference: {reference})"
    return Table(title, columns, rows, _parity_caption(parity), frozenset(range(len(rows))))


def _parity_cell(results: list[dict], plugin: str, check: str, default: float | None) -> Cell:
    found = [r for r in results if r.get("plugin") == plugin and r.get("check") == check]
    return Cell.stack(_parity_line(r, default) for r in found)


def _parity_line(result: dict[str, Any], default_training_tol: float | None) -> Cell:
    pair = str(result.get("pair", "")).replace("tensorflow", "tf").replace("->", ">")
    status = str(result.get("status", ""))
    mark = {"pass": "ok", "fail": "FAIL"}.get(status, status)
    value = f" {formatted(result.get('measured'), '.1e')}".rstrip()
    tolerance = result.get("tolerance")
    if result.get("check") == "training" and tolerance not in (None, default_training_tol):
        value += f" (tol {tolerance:g})"
    return Cell(f"{pair.split('~')[-1]} {mark}{value}", PARITY_STYLE.get(status, ""))


def _parity_caption(parity: dict[str, Any]) -> str:
    tol = {k: formatted(v, "g") for k, v in (parity.get("tolerances") or {}).items()}
    forward, training, first = (tol.get(k, "?") for k in ("forward", "training", "first_loss"))
    return (
        f"forward/portability: max abs diff < {forward}; training: max relative loss diff < "
        f"{training} (or the plugin's stated tolerance, shown) over {parity.get('steps', '?')} "
        f"steps and first loss < {first}"
    )


def parity_checks_table(parity: dict[str, Any], failed_only: bool = False) -> Table:
    """Every parity check (or only the failed ones) with its pair, measure, tolerance and
    detail: what ``parity_table`` summarises."""
    results = [r for r in parity.get("results") or [] if not failed_only or r["status"] == "fail"]
    rows = tuple(_check_row(r) for r in results)
    columns = (
        Column("plugin", strong=True),
        *columns_of(("check", "pair", "status")),
        *columns_of(("measured", "tolerance"), numeric=True),
        Column("detail", wrap=True),
    )
    return Table("Failed parity checks" if failed_only else "Every parity check", columns, rows)


def _check_row(result: dict[str, Any]) -> tuple[Cell, ...]:
    status = str(result.get("status", ""))
    return (
        *(Cell(str(result.get(k, ""))) for k in ("plugin", "check", "pair")),
        Cell(status, PARITY_STYLE.get(status, "")),
        Cell(formatted(result.get("measured"), ".2g")),
        Cell(formatted(result.get("tolerance"), ".2g")),
        Cell(str(result.get("detail") or "")),
    )


def side_label(comparison: dict[str, Any], side: str) -> str:
    """The label of side ``"a"`` or ``"b"`` of a comparison dict."""
    return str((comparison.get(side) or {}).get("label") or side.upper())


def comparison_table(comparison: dict[str, Any]) -> Table:
    """Per cell of a comparison dict: A and B medians, the ratio with its 95% CI, processes,
    adjusted p-value, the slowdown it could detect, the verdict and its reason."""
    frame = comparison_frame(comparison)
    columns = (
        Column("cell", strong=True),
        *columns_of(("A ms", "B ms", "B/A", "95% CI", "n", "p (Holm)", "detectable"), numeric=True),
        Column("verdict"),
        Column("reason", wrap=True),
    )
    rows = tuple(_comparison_row(row) for _, row in frame.iterrows())
    title = f"A: {side_label(comparison, 'a')}  vs  B: {side_label(comparison, 'b')}"
    return Table(title, columns, rows, _comparison_caption(comparison.get("rule") or {}))


def _comparison_row(row: pd.Series) -> tuple[Cell, ...]:
    low, high = row["ratio_ci_low"], row["ratio_ci_high"]
    n_a, n_b = (0 if pd.isna(n) else int(n) for n in (row["n_a"], row["n_b"]))
    return (
        Cell(str(row["key"])),
        *(Cell(formatted(row[k], ".3f")) for k in ("a_median_ms", "b_median_ms", "ratio")),
        Cell(f"{low:.3f}-{high:.3f}" if pd.notna(low) and pd.notna(high) else ""),
        Cell(f"{n_a}/{n_b}" if n_a or n_b else ""),
        Cell(formatted(row["p_adjusted"], ".2g")),
        Cell(_detectable(row["p_adjusted"], row["detectable_slowdown"])),
        Cell(str(row["verdict"]), VERDICT_STYLE.get(str(row["verdict"]), "")),
        Cell(str(row["reason"])),
    )


def _detectable(p_adjusted: float, slowdown: float) -> str:
    """The slowdown a tested cell's spread could detect; "never" when none would fail."""
    if pd.isna(p_adjusted):
        return ""
    return "never" if pd.isna(slowdown) else f"{slowdown:.0%}"


def _comparison_caption(rule: dict[str, Any]) -> str:
    looks, spending = rule.get("looks") or 1, rule.get("spending")
    alpha, threshold = formatted(rule.get("alpha"), "g", "?"), float(rule.get("threshold") or 0)
    if looks > 1 and spending:
        level = f"below its look's share of alpha {alpha} ({spending}, up to {looks} looks)"
    else:
        level = f"< {alpha}{' per look' if looks > 1 else ''}"
    test = "Mann-Whitney U on per-process medians"
    if TimingTestName.parse(rule.get("test", "")) is TimingTestName.PAIRED:
        test = (
            "signed-rank on log(B/A) of live process pairs; "
            "B/A: Hodges-Lehmann estimate of the pair ratios"
        )
    return (
        f"regression: one-sided {test}, Holm-corrected "
        f"p {level}, and ratio > {1 + threshold:.2f}; detectable: the slowdown this "
        f"spread flags in {POWER:.0%} of comparisons of the same size at the cell's last look"
    )

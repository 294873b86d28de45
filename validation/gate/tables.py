"""The gate-evidence tables, rendered from the summary JSON (results/gate_evidence.json).

Every table of the gate evidence in ``validation/NOTEBOOK.md`` comes from one of these
functions, so the tables can be regenerated after new gates instead of copied by hand:

    python -m validation.gate.evidence tables
"""

from __future__ import annotations

from collections.abc import Iterable

Row = list[str]


def cell_name(key: str) -> str:
    """``dense_mlp/jax/cpu`` -> ``dense_mlp/jax`` (every evidence cell runs on the CPU)."""
    return key.rsplit("/", 1)[0]


def percent(value: float | None, digits: int = 1) -> str:
    """A rate as the evidence tables write it: ``13.2%``; ``100%`` only when it is exactly 1
    (``>99.9%`` when it rounds up to it); ``never`` for no value."""
    if value is None:
        return "never"
    if value == 1:
        return "100%"
    shown = f"{value:.{digits}%}"
    return f">{1 - 10 ** -(digits + 2):.{digits}%}" if shown == f"{1:.{digits}%}" else shown


def markdown(header: Row, rows: Iterable[Row], right: Iterable[int] = ()) -> str:
    """A markdown table; the columns in ``right`` are right-aligned (figures)."""
    right = set(right)
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def section(summary: dict, dotted: str) -> dict | None:
    """``summary['a']['b']`` for ``'a.b'``; None where any part is missing."""
    target: dict | None = summary
    for part in dotted.split("."):
        if not isinstance(target, dict) or part not in target:
            return None
        target = target[part]
    return target


def ratio_spread(timings: list[tuple[str, dict]]) -> str:
    """A/A ratio B/A per cell, min-max and median, one pair of columns per timing.

    ``timings``: (label, the timing's ``aa`` section) pairs, the current one first.
    """
    header = ["cell"]
    for label, aa in timings:
        header += [f"{label}: {aa['gates']} gates", "median"]
    rows = []
    for key in timings[0][1]["ratio_spread"]:
        row = [cell_name(key)]
        for _, aa in timings:
            spread = aa["ratio_spread"].get(key)
            row += (
                [f"{spread['min']:.2f}-{spread['max']:.2f}", f"{spread['median']:.2f}"]
                if spread
                else ["", ""]
            )
        rows.append(row)
    return markdown(header, rows)


def detectable_first_look(timings: list[tuple[str, dict]]) -> str:
    """Per cell: the median and range over gates of the first look's detectable slowdown."""
    header = ["cell"]
    for label, aa in timings:
        header += [f"{label}: {aa['gates']} gates, median", "min-max"]
    rows = []
    for key in timings[0][1]["detectable_slowdown_first_look"]:
        row = [cell_name(key)]
        for _, aa in timings:
            spread = aa["detectable_slowdown_first_look"].get(key) or {}
            if spread.get("median") is None:
                row += ["never", ""]
            else:
                row += [
                    percent(spread["median"], 0),
                    f"{100 * spread['min']:.0f}-{percent(spread['max'], 0)}",
                ]
        rows.append(row)
    right = range(1, len(header), 2)
    return markdown(header, rows, right)


def replay_rates(power: dict) -> str:
    """Per R: the mean share of cells flagged and the share of gates with any flag, by delta."""
    replay = [row for row in power["replay"] if "delta" in row]
    deltas = sorted({row["delta"] for row in replay})
    header = [""] + [f"delta {d:.0%}" if d == 0 else f"{d:.0%}" for d in deltas]
    rows = []
    for repeats in sorted({row["repeats"] for row in replay}):
        by_delta = {row["delta"]: row for row in replay if row["repeats"] == repeats}
        for label, field in (
            ("cells flagged (mean of 6)", "mean_cell_rate"),
            ("gates with any cell flagged", "gate_flag_rate"),
        ):
            rows.append([f"R = {repeats}: {label}"] + [percent(by_delta[d][field]) for d in deltas])
    return markdown(header, rows, range(1, len(header)))


def per_cell_at(columns: list[tuple[str, dict, int]], delta: float) -> str:
    """Per cell: the replay's detection rate at ``delta``, one column per (label, power, R)."""
    header = ["cell"] + [label for label, _, _ in columns]
    found = []
    for _, power, repeats in columns:
        rates = next(
            (
                row["per_cell_rate"]
                for row in power["replay"]
                if row.get("repeats") == repeats and row.get("delta") == delta
            ),
            {},
        )
        found.append(rates)
    rows = [
        [cell_name(key)] + [percent(rates[key]) if key in rates else "" for rates in found]
        for key in found[0]
    ]
    return markdown(header, rows, range(1, len(header)))


def detectable_by_repeats(power: dict) -> str:
    """Per cell and R: the slowdown a gate of R processes per side flags in 95% of gates."""
    table = power["detectable_by_repeats"]
    sizes = list(next(iter(table.values())))
    header = ["cell"] + [f"R = {r}" for r in sizes]
    rows = [[cell_name(key)] + [percent(row[r], 0) for r in sizes] for key, row in table.items()]
    return markdown(header, rows, range(1, len(header)))


def render(summary: dict) -> str:
    """Every gate-evidence table from the summary JSON, each under a heading line."""
    current_aa, power = summary["aa"], summary["power"]
    earlier = [
        ("5 pairs", section(summary, "earlier_timings.pairs5.aa")),
        ("glibc's own malloc, first", section(summary, "earlier_gates_without_digests.aa")),
    ]
    with_earlier = [("current", current_aa)] + [(n, aa) for n, aa in earlier if aa]
    with_detectable = [
        (n, aa) for n, aa in with_earlier if aa.get("detectable_slowdown_first_look")
    ]
    columns = [(f"R = {r}", power, r) for r in sorted({row["repeats"] for row in power["replay"]})]
    columns = [c for c in columns if c[2] in (10, 20)]
    for label, dotted in (
        ("R = 10, 5 pairs", "earlier_timings.pairs5.power"),
        ("R = 10, glibc's own malloc", "earlier_gates_without_digests.power"),
    ):
        if (earlier_power := section(summary, dotted)) is not None:
            columns.append((label, earlier_power, 10))
    replayed = f"Replay over {power['gates_pooled']} gates, {power['sims']} per row"
    parts = [
        ("A/A ratio B/A", ratio_spread(with_earlier)),
        (
            "Detectable slowdown, first look of each A/A gate",
            detectable_first_look(with_detectable),
        ),
        (replayed, replay_rates(power)),
        ("Detection rate at delta = 10%, per cell", per_cell_at(columns, 0.10)),
        ("Detectable slowdown by R, pooled spread", detectable_by_repeats(power)),
    ]
    return "\n\n".join(f"{title}:\n\n{table}" for title, table in parts)

"""The gate's evidence from real gates over several sittings: A/A false alarms and self-test
power per cell, with 95% Clopper-Pearson intervals.

    python -m validation.gate.sittings [FOLDER] [--out FILE]

``FOLDER`` (default ``validation/results/gates_37``) holds ``kbench ab --out`` files named
``KIND-SITTING.json``: ``aa`` for an A/A gate (this interpreter on both sides), ``stNNN`` for
``kbench ab --self-test N.NN`` (``st110``: a 10% slowdown injected on side B). A cell counts
as caught (or, in an A/A gate, a false alarm) when its verdict is ``regression``. Prints each
gate's verdicts and minutes, then one table (a row per cell, a column per kind) and, for
the self-test gates, the work each cell was given and the slowdown the gate measured, and
how many cell trials would show the target (false alarms at most 1%, power at least 95%).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from scipy import stats as scipy_stats

from harness.gate import given_of_a
from harness.records import RunResult, read_comparison, write_json_atomic

FOLDER = Path("validation/results/gates_37")
NAME = re.compile(r"^(aa|st(\d{3}))-(.+)\.json$")


def gate_files(folder: Path) -> list[tuple[float, str, Path]]:
    """(injected factor: 1.0 for A/A, sitting, path) of every gate file in ``folder``."""
    found = []
    for path in sorted(folder.glob("*.json")):
        match = NAME.match(path.name)
        if match:
            factor = 1.0 if match.group(1) == "aa" else int(match.group(2)) / 100
            found.append((factor, match.group(3), path))
    return found


def rate(hits: int, trials: int) -> dict:
    """A proportion with its exact 95% interval."""
    if trials == 0:
        return {"hits": 0, "n": 0, "rate": None, "low": None, "high": None}
    interval = scipy_stats.binomtest(hits, trials).proportion_ci(0.95, method="exact")
    return {"hits": hits, "n": trials, "rate": hits / trials, "low": interval.low,
            "high": interval.high}  # fmt: skip


def trials_to_show(bound: float, *, below: bool) -> int:
    """The fewest trials whose exact 95% interval lies wholly below ``bound`` when none is a
    hit (``below``: a false-alarm rate at most ``bound``), or wholly above it when every one
    is (a power at least ``bound``): the best a run of that many trials can show."""
    trials = 1
    while True:
        shown = rate(0 if below else trials, trials)
        if (shown["high"] <= bound) if below else (shown["low"] >= bound):
            return trials
        trials += 1


def given_shares(comparison: dict) -> dict[str, float]:
    """Per cell of a self-test gate: the work given per step as a share of A's step
    (``harness.gate.given_of_a``: B's ``busy_ms`` over A's step, median over process pairs)."""
    runs = comparison.get("runs") or {}
    if not runs.get("a") or not runs.get("b"):
        return {}
    return given_of_a(RunResult.from_dict(runs["a"]), RunResult.from_dict(runs["b"]))


def summarize(folder: Path) -> dict:
    """Per factor: per cell and over all cells, the share flagged; per gate its figures."""
    flagged: dict[float, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    gates = []
    for factor, sitting, path in gate_files(folder):
        comparison = read_comparison(path)
        ab = comparison.get("ab") or {}
        given = given_shares(comparison)
        cells = {}
        for cell in comparison["cells"]:
            if cell.get("ratio") is None:
                continue
            hit = cell["verdict"] == "regression"
            flagged[factor][cell["key"]].append(hit)
            cells[cell["key"]] = {
                "verdict": cell["verdict"],
                "ratio": cell["ratio"],
                "ci": [cell.get("ratio_ci_low"), cell.get("ratio_ci_high")],
                "pairs": cell.get("n_a"),
                "p_adjusted": cell.get("p_adjusted"),
                "given": given.get(cell["key"]),
            }
        gates.append({"file": path.name, "factor": factor, "sitting": sitting,
                      "created": comparison.get("created"),
                      "minutes": float(ab.get("elapsed_s") or 0) / 60,
                      "looks": len(ab.get("looks") or []), "cells": cells})  # fmt: skip
    rates = {
        f"{factor:.2f}": {
            "cells": {key: rate(sum(hits), len(hits)) for key, hits in sorted(by_cell.items())},
            "all": rate(sum(sum(h) for h in by_cell.values()), sum(map(len, by_cell.values()))),
        }
        for factor, by_cell in sorted(flagged.items())
    }
    return {"folder": str(folder), "gates": gates, "rates": rates}


def table(summary: dict) -> str:
    """Markdown: a row per cell, a column per factor (A/A: false alarms; else: caught)."""
    factors = list(summary["rates"])
    header = [
        "cell",
        *[("A/A false alarms" if f == "1.00" else f"caught at x{f}") for f in factors],
    ]
    keys = sorted({k for f in factors for k in summary["rates"][f]["cells"]})
    rows = [[key.rsplit("/", 1)[0], *[_shown(summary["rates"][f]["cells"].get(key))
                                       for f in factors]] for key in keys]  # fmt: skip
    rows.append(["all cells", *[_shown(summary["rates"][f]["all"]) for f in factors]])
    lines = [header, ["---"] + ["---:"] * len(factors), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def sizes(summary: dict) -> str:
    """Markdown: per self-test gate and cell, the work given (a share of A's step) and the
    slowdown the gate measured (B/A with its 95% interval)."""
    lines = [["gate", "cell", "given", "measured B/A (95% CI)"], ["---", "---", "---:", "---:"]]
    for gate in summary["gates"]:
        for key, cell in gate["cells"].items():
            if cell.get("given") is None:
                continue
            low, high = cell["ci"]
            interval = f" ({low:.3f}-{high:.3f})" if low is not None else ""
            shown = [gate["file"], key.rsplit("/", 1)[0], f"+{cell['given']:.1%}"]
            lines.append([*shown, f"x{cell['ratio']:.3f}{interval}"])
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) if len(lines) > 2 else ""


def target_line(summary: dict, false_alarms: float = 0.01, power: float = 0.95) -> str:
    """What showing the target (false alarms at most 1%, power at least 95%) would take: cell
    trials, and gates of this many cells at these gates' mean minutes."""
    cells = max((len(g["cells"]) for g in summary["gates"]), default=1) or 1
    parts = []
    for below, bound in ((True, false_alarms), (False, power)):
        trials = trials_to_show(bound, below=below)
        minutes = [g["minutes"] for g in summary["gates"] if (g["factor"] == 1.0) == below]
        gates = -(-trials // cells)
        cost = f", about {gates * statistics.mean(minutes) / 60:.0f} h" if minutes else ""
        what = "none flagged in A/A" if below else "all caught in self-tests"
        parts.append(f"{'at most' if below else 'at least'} {bound:.0%}: {trials} cell trials "
                     f"with {what} ({gates} gates of {cells} cells{cost})")  # fmt: skip
    return "to show the target with exact 95% intervals: " + "; ".join(parts)


def _shown(value: dict | None) -> str:
    if not value or not value["n"]:
        return ""
    return (f"{value['hits']}/{value['n']} = {value['rate']:.0%} "
            f"({value['low']:.0%}-{value['high']:.0%})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=FOLDER)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    summary = summarize(args.folder)
    if not summary["gates"]:
        print(f"no gate files (aa-*.json, stNNN-*.json) in {args.folder}", file=sys.stderr)
        return 2
    for gate in summary["gates"]:
        verdicts = ", ".join(
            f"{k.rsplit('/', 1)[0]} {c['verdict']} x{c['ratio']:.3f} ({c['pairs']})"
            for k, c in gate["cells"].items()
        )
        print(f"{gate['file']}: {gate['minutes']:.1f} min, {gate['looks']} looks; {verdicts}")
    print()
    print(table(summary))
    given = sizes(summary)
    if given:
        print()
        print(given)
    print()
    print(target_line(summary))
    out = args.out or args.folder / "summary.json"
    write_json_atomic(out, summary)
    print(json.dumps({"out": str(out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

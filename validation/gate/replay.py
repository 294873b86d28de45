"""Power and false alarms by replay: recorded A/A samples, simulated gates, the full rule.

Per cell, the per-process medians of every recorded A/A gate (both sides ran the same code)
are pooled, each divided by its gate's median for the cell (the raw pool is the
conservative variant). A simulated gate draws R processes per side without replacement
from that pool (4R distinct values per cell: stage 1 and the confirmation batch), scales
side B by (1 + delta), and applies the full rule: Holm over all cells of the gate, then one
confirmation batch of R more per side for inconclusive cells, decided on the pooled samples.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

import numpy as np

from harness.gate import Rule, decide
from harness.records import CellComparison
from harness.stats import MANN_WHITNEY, coefficient_of_variation

DELTAS = (0.0, 0.03, 0.05, 0.10, 0.20)
DETECTABLE_REPEATS = (5, 10, 20, 40, 80)

Pool = dict[str, list[float]]


def gate_rule() -> Rule:
    """The rule as ``kbench ab`` applies it: two looks, each at alpha / 2."""
    return Rule(alpha=Rule().alpha / 2, looks=2)


def pools(gates: list[dict], per_gate: bool = True) -> Pool:
    """Per cell, every per-process median of both sides of every A/A gate.

    ``per_gate`` divides each gate's values by that gate's median for the cell. A real gate
    interleaves A and B in one sitting, so the machine's level that day moves both sides
    alike; pooling raw values across sittings would add that between-sitting spread to
    every simulated gate (the raw pool is kept as the conservative variant).
    """
    pooled: Pool = defaultdict(list)
    for gate in gates:
        for cell in gate["cells"]:
            values = cell["a_samples"] + cell["b_samples"]
            level = statistics.median(values) if per_gate else 1.0
            pooled[cell["key"]] += [v / level for v in values]
    return dict(pooled)


def simulate_gate(
    pooled: Pool,
    repeats: int,
    delta: float,
    rule: Rule,
    rng: np.random.Generator,
    with_replacement: bool = False,
) -> dict[str, bool]:
    """One replayed gate over every cell: which cells the full rule calls a regression."""
    draws = {}
    for key, values in pooled.items():
        picked = rng.choice(np.asarray(values), size=4 * repeats, replace=with_replacement)
        a1, b1, a2, b2 = np.split(picked, 4)
        draws[key] = (a1, b1 * (1 + delta), a2, b2 * (1 + delta))
    first = _decide({k: (d[0], d[1]) for k, d in draws.items()}, rule)
    flagged = {k: v == "regression" for k, v in first.items()}
    unsure = [k for k, v in first.items() if v == "inconclusive"]
    if unsure:
        both = {
            k: (
                np.concatenate([draws[k][0], draws[k][2]]),
                np.concatenate([draws[k][1], draws[k][3]]),
            )
            for k in unsure
        }
        second = _decide(both, rule, family_size=len(pooled))
        flagged.update({k: v == "regression" for k, v in second.items()})
    return flagged


def _decide(pairs: dict[str, tuple], rule: Rule, family_size: int | None = None) -> dict[str, str]:
    """The gate's own rule (``harness.gate.decide``) on replayed samples."""
    drafts = []
    for key, (a, b) in pairs.items():
        ratio = MANN_WHITNEY.ratio(list(a), list(b))
        p_value = MANN_WHITNEY.p_slower(list(a), list(b))
        drafts.append(CellComparison(key, "", "", "", "", ratio=ratio, p_value=p_value))
    return {d.key: d.verdict for d in decide(drafts, rule, family_size)}


def replay_row(
    pooled: Pool,
    repeats: int,
    delta: float,
    rule: Rule,
    rng: np.random.Generator,
    sims: int,
    with_replacement: bool = False,
) -> dict:
    """``sims`` replayed gates at one (R, delta): per-cell and per-gate flag rates."""
    results = [
        simulate_gate(pooled, repeats, delta, rule, rng, with_replacement) for _ in range(sims)
    ]
    per_cell = {k: float(np.mean([r[k] for r in results])) for k in pooled}
    return {
        "repeats": repeats,
        "delta": delta,
        "per_cell_rate": per_cell,
        "gate_flag_rate": float(np.mean([any(r.values()) for r in results])),
        "mean_cell_rate": float(np.mean(list(per_cell.values()))),
    }


def row_line(row: dict) -> str:
    """One replay row as the ``power`` step prints it."""
    rates = row["per_cell_rate"]
    return (
        f"R={row['repeats']:2d} delta={row['delta']:4.0%}: "
        f"cells flagged {row['mean_cell_rate']:.1%} (min {min(rates.values()):.1%}), "
        f"gates with any flag {row['gate_flag_rate']:.1%}; "
        + ", ".join(f"{k.rsplit('/', 1)[0]} {v:.1%}" for k, v in rates.items())
    )


def detectable_by_repeats(
    pooled: Pool, rule: Rule, repeats: tuple[int, ...] = DETECTABLE_REPEATS
) -> dict[str, dict[str, float | None]]:
    """Per cell and R: the slowdown a gate of R processes per side flags in 95% of gates,
    from the pooled spread (the per-process test's ``detectable_slowdown`` with both
    looks, Holm's bound for one regressed cell of the gate). The closed form makes R = 80
    as cheap as R = 5."""
    bound = rule.alpha / len(pooled)
    return {
        key: {
            str(r): MANN_WHITNEY.detectable_slowdown(
                values, values, bound, rule.threshold, size=r, looks=rule.looks
            )
            for r in repeats
        }
        for key, values in pooled.items()
    }


def detectable_line(key: str, row: dict[str, float | None]) -> str:
    """One cell's detectable slowdowns by R, as the ``power`` step prints them."""
    shown = ", ".join(f"R={r} {v:.0%}" if v is not None else f"R={r} never" for r, v in row.items())
    return f"detectable slowdown (95% of gates), {key}: {shown}"


def pool_facts(pooled: Pool) -> dict:
    """The pool's size and CV per cell, as the summary JSON records them."""
    return {
        "pool_sizes": {k: len(v) for k, v in pooled.items()},
        "pool_cv": {k: coefficient_of_variation(v) for k, v in pooled.items()},
    }

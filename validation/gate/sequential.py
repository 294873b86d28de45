"""The gate's group-sequential design by replay: false alarms, power and minutes per gate.

    python -m validation.gate.sequential --costs RUN.json [--sims 2000] [--seed 0]

The pool is ``gate_replay.pools``: per cell, the per-process medians of the committed A/A
gates, each divided by its gate's median for the cell (both sides drawn from one pool: A and
B exchangeable, the Mann-Whitney test's null). A replayed gate draws, per cell, ``looks x
2R`` values without replacement, and more whenever a look asks past them (``Draws``: every
look gets all the processes it asks for), scales side B by (1 + delta), and takes
``kbench ab``'s own steps from ``harness.gate``: each look decides the cells still going on
at that look's level (``look_level``; Holm over all the gate's cells, ``decide``), the
cells that are ``unsure`` go on, and each later look gets ``next_look_size`` processes per
side (R, or fewer so that the looks left fit in the budget). The seconds one process of a
cell costs come from a recorded run (``--costs``: a ``kbench run`` or ``kbench ab`` file
whose processes recorded their phases), the mean of its processes' wall times. Results go
to ``validation/results/gate_sequential.json`` (``--out``). ``--pool GATE.json`` replays the
processes of other gates instead (a pool of one sitting, drawn with replacement when it is
smaller than a gate's draw).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.gate import (
    Design,
    LaterLook,
    Room,
    Rule,
    SoFar,
    could_reject,
    decide,
    fewest_to_reject,
    futility_level,
    next_look_cost,
    next_look_size,
    plan_first_look,
    plan_later_look,
    unsure,
)
from harness.records import CellComparison, RunResult, read_run, write_json_atomic
from harness.stats import MANN_WHITNEY, TimingTest
from validation.gate.digest import load_gates
from validation.gate.replay import Pool, pools

OUT = Path("validation/results/gate_sequential.json")
DELTAS = (0.0, 0.10, 0.20)


@dataclass(frozen=True)
class Case:
    """One gate to replay: R processes per side at the first look, and ``kbench ab``'s own
    design (looks, alpha spending, budget)."""

    repeats: int
    design: Design

    @property
    def name(self) -> str:
        d = self.design
        budget = f"{d.budget_s / 60:g} min" if d.budget_s else "no budget"
        return f"R={self.repeats} looks={d.looks} {d.spending}, {budget}"


DESIGNS = (
    Case(5, Design(2, "equal", None)),  # two looks at alpha / 2 each, no budget
    Case(9, Design(1, "equal", None)),  # one look at alpha, about 30 min here
    Case(5, Design(2, "obrien-fleming", 30 * 60)),
    Case(5, Design(3, "obrien-fleming", 30 * 60)),
    Case(5, Design(3, "pocock", 30 * 60)),
    Case(4, Design(4, "obrien-fleming", 30 * 60)),
    Case(5, Design(3, "obrien-fleming", 60 * 60)),
)


def process_costs(path: Path) -> dict[str, float]:
    """Per cell, the mean wall seconds of one worker process in a recorded run or gate."""
    record = json.loads(path.read_text())
    if "runs" in record:  # a kbench ab file: both sides' runs
        runs = [RunResult.from_dict(record["runs"][side]) for side in ("a", "b")]
    else:
        runs = [read_run(path)]
    walls: dict[str, list[float]] = {}
    for run in runs:
        for cell in run.cells:
            if cell.step_time_ms is None:
                continue
            for process in cell.step_time_ms.processes:
                if process.phases_s and "wall" in process.phases_s:
                    walls.setdefault(cell.cell.key, []).append(process.phases_s["wall"])
    return {key: statistics.fmean(values) for key, values in walls.items()}


def replay_gate(
    pooled: Pool,
    costs: dict[str, float],
    case: Case,
    delta: float,
    rule: Rule,
    rng: np.random.Generator,
) -> tuple[dict[str, bool], float, int]:
    """One replayed gate: which cells it flagged, its minutes, and the looks it took."""
    size, keys = case.design.looks * case.repeats, list(pooled)
    # a pool of one sitting, smaller than a gate's draw: drawn with replacement
    draws = {k: Draws(pooled[k], rng, 2, size, len(pooled[k]) < 2 * size) for k in keys}

    def draft(key: str, done: int) -> CellComparison:
        a, b = draws[key].first(done)
        return draft_cell(key, a, b * (1.0 + delta))

    return replay_looks(keys, costs, case, rule, draft)


class Draws:
    """One cell's values in a replayed gate, per side (``sides``: 2 for A and B from one
    pool, 1 for process pairs): ``size`` per side drawn from ``rng`` up front, and more
    whenever a look asks past them, so that a look always gets every process it asks for.
    Distinct values of the pool while it lasts, then with replacement (``replace``: with
    replacement from the start)."""

    def __init__(
        self, pool: Sequence[float], rng: np.random.Generator, sides: int, size: int, replace: bool
    ) -> None:
        self.pool, self.rng, self.replace = np.asarray(pool, dtype=float), rng, replace
        self.unused = np.arange(len(self.pool))  # indices not drawn yet
        self.drawn = [np.empty(0)] * sides
        self._draw(size)

    def first(self, done: int) -> list[np.ndarray]:
        """Each side's first ``done`` values, drawing the ones not drawn yet."""
        if done > len(self.drawn[0]):
            self._draw(done - len(self.drawn[0]))
        return [values[:done] for values in self.drawn]

    def _draw(self, per_side: int) -> None:
        count = per_side * len(self.drawn)
        replace = self.replace or count > len(self.unused)
        picked = self.rng.choice(len(self.pool) if replace else self.unused, count, replace)
        if not replace:
            self.unused = np.setdiff1d(self.unused, picked)
        more = np.split(self.pool[picked], len(self.drawn))
        self.drawn = [np.concatenate(pair) for pair in zip(self.drawn, more, strict=True)]


def replay_looks(
    keys: list[str],
    costs: dict[str, float],
    case: Case,
    rule: Rule,
    draft: Callable[[str, int], CellComparison],
) -> tuple[dict[str, bool], float, int]:
    """``kbench ab``'s looks over replayed cells (``draft(key, n)``: the cell's comparison
    on its first n processes per side, or process pairs under ``rule``'s paired test):
    which cells it flagged, its minutes, and the looks it took."""
    r, design, family, test = case.repeats, case.design, len(keys), rule.timing_test
    flagged = dict.fromkeys(keys, False)
    seconds, going, taken, so_far, most = 0.0, keys, 0, SoFar(), None
    futility = futility_level(design.looks)
    for number in range(1, design.looks + 1):
        if number == 1:
            plan = plan_first_look(design, rule.alpha, r)
        else:
            remaining = None if design.budget_s is None else design.budget_s - seconds
            left = design.looks - number + 1
            shared = next_look_size(costs, going, r, remaining, left)
            fewest = fewest_to_reject(family, rule.alpha - so_far.spent, test) or 0
            if shared == 0 and (so_far.spent > 0 or so_far.processes >= fewest):
                break
            whole = next_look_size(costs, going, r * left, remaining, 1)
            room = Room(shared, whole)
            look = LaterLook(number, so_far, family, room, most=most, fewest=fewest)
            most = look.full  # fixed at the second look, as kbench ab does
            plan = plan_later_look(design, rule.alpha, test, look)
        seconds += next_look_cost(costs, going, plan.size)
        done, taken, level = so_far.processes + plan.size, number, plan.level
        decided = decide([draft(key, done) for key in going], replace(rule, alpha=level), family)
        # a look that cannot reject carries its share of alpha to the next look
        spent = so_far.spent + (level if could_reject(done, family, level, test) else 0.0)
        so_far = SoFar(done, spent)
        for cell in decided:
            flagged[cell.key] = cell.verdict == "regression"
        going = [c.key for c in decided if unsure(c, rule.threshold, test, futility)]
        if not going or plan.last:
            break
    return flagged, seconds / 60, taken


def draft_cell(
    key: str,
    a: Sequence[float],
    b: Sequence[float],
    test: TimingTest = MANN_WHITNEY,
    shift: float = 0.0,
) -> CellComparison:
    """A cell's verdict before Holm, as the gate drafts it: ``test``'s ratio and p (against
    A x (1 + ``shift``): the rule's ``null_shift``) on the sides' samples (the replays of
    both pairings build their looks from it)."""
    a_list, b_list = [float(v) for v in a], [float(v) for v in b]
    return CellComparison(
        key,
        "",
        "",
        "",
        "",
        ratio=test.ratio(a_list, b_list),
        p_value=test.p_slower(a_list, b_list, shift=shift),
        a_samples=a_list,
        b_samples=b_list,
    )


def replay_design(
    pooled: Pool, costs: dict[str, float], case: Case, delta: float, sims: int, seed: int
) -> dict:
    """``sims`` replayed gates of one design at one delta: flag rates, minutes, looks."""
    rng, rule = np.random.default_rng(seed), Rule()
    results = [replay_gate(pooled, costs, case, delta, rule, rng) for _ in range(sims)]
    return replay_summary(case, delta, list(pooled), results)


def replay_summary(
    case: Case, delta: float, keys: list[str], results: list[tuple[dict[str, bool], float, int]]
) -> dict:
    """Replayed gates (cells flagged, minutes, looks taken) summed up: flag rates per gate
    and per cell, minutes, looks."""
    per_cell = {k: float(np.mean([r[0][k] for r in results])) for k in keys}
    minutes = [r[1] for r in results]
    return {
        "design": case.name,
        "delta": delta,
        "gate_flag_rate": float(np.mean([any(r[0].values()) for r in results])),
        "mean_cell_rate": float(np.mean(list(per_cell.values()))),
        "per_cell_rate": per_cell,
        "minutes_median": float(np.median(minutes)),
        "minutes_p95": float(np.quantile(minutes, 0.95)),
        "looks_mean": float(np.mean([r[2] for r in results])),
    }


def line(row: dict) -> str:
    cells = ", ".join(f"{k.rsplit('/', 1)[0]} {v:.0%}" for k, v in row["per_cell_rate"].items())
    return (
        f"{row['design']:<42} delta={row['delta']:4.0%}: gates flagged "
        f"{row['gate_flag_rate']:6.1%}, cells {row['mean_cell_rate']:6.1%}; "
        f"{row['minutes_median']:.0f} min (95%: {row['minutes_p95']:.0f}), "
        f"{row['looks_mean']:.2f} looks; {cells}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--costs", type=Path, required=True)
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pool",
        type=Path,
        nargs="+",
        help="kbench ab files to pool instead of the committed A/A digests (both sides)",
    )
    parser.add_argument("--designs", type=int, nargs="+", help="indices into DESIGNS")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    gates = [json.loads(p.read_text()) for p in args.pool] if args.pool else load_gates("aa-*.json")
    pooled = pools(gates)
    designs = [DESIGNS[i] for i in args.designs] if args.designs else DESIGNS
    costs = process_costs(args.costs)
    missing = sorted(set(pooled) - set(costs))
    if missing:
        raise SystemExit(f"{args.costs} has no process wall times for {', '.join(missing)}")
    print("seconds per process: " + ", ".join(f"{k} {v:.1f}" for k, v in costs.items()))
    rows = []
    for case in designs:
        for delta in DELTAS:
            rows.append(replay_design(pooled, costs, case, delta, args.sims, args.seed))
            print(line(rows[-1]), flush=True)
    record = {
        "command": "python -m validation.gate.sequential " + " ".join(sys.argv[1:]),
        "pool": [str(p) for p in args.pool] if args.pool else "validation/results/gates/aa-*",
        "process_seconds": costs,
        "pool_sizes": {k: len(v) for k, v in pooled.items()},
        "rows": rows,
    }
    write_json_atomic(args.out, record)


if __name__ == "__main__":
    main()

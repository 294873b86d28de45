"""The live-paired gate by replay: false alarms, power and minutes per gate.

    python -m validation.gate.paired_replay --pool AB.json [FILE[:CELL,CELL] ...] [--sims 1000]

Under ``kbench ab --pairing live`` the unit is a process pair: process k of A and of B were
alive at once and timed in turns, and the test is the exact signed-rank test on their log
ratios d_k = log(B_k / A_k). The pool is, per cell, the d_k of recorded A/A pairs (both
sides ran the same code), symmetrised: each source's d_k centred on their median, each
together with its negative, so that the pool is exactly symmetric about 0, the signed-rank
test's null (``--raw-pool`` replays the recorded d_k as they are, neither centred nor
symmetrised); and each cell's wall seconds per pair. Pools come from
``validation.gate.interleave`` raw files and from live-paired ``kbench ab`` files
(``FILE:CELL,CELL`` takes only those cells of a file). A replayed gate draws, per cell,
``looks x R`` pairs with replacement, and more whenever a look asks past them (every look
gets all the pairs it asks for), shifts them by log(1 + delta), and takes ``kbench ab``'s
own steps from ``harness.gate``: each look decides the cells still going on at that look's
level (Holm over all the gate's cells), ``unsure`` cells go on, and each later look gets
``next_look_size`` pairs (R, or fewer so that the looks left fit in the budget, or more so
that it can reach its Holm bound). Results go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from harness.gate import Design, Rule
from harness.records import CellComparison, write_json_atomic
from harness.stats import SIGNED_RANK, TimingTestName, log_ratios
from validation.gate.sequential import Case, Draws, draft_cell, replay_looks, replay_summary

OUT = Path("validation/results/paired_replay.json")
DELTAS = (0.0, 0.10, 0.20)
DESIGNS = (
    Case(5, Design(3, "obrien-fleming", 30 * 60)),  # kbench ab's default design
    Case(5, Design(3, "pocock", 30 * 60)),
    Case(8, Design(2, "obrien-fleming", 30 * 60)),
    Case(11, Design(1, "equal", None)),  # one look, about 30 min here
    Case(5, Design(3, "obrien-fleming", 60 * 60)),
)

Pool = dict[str, list[float]]  # cell -> log ratios of its A/A pairs
SYMMETRISED = "symmetrised: each centred log ratio with its negative"
RAW = "raw: the recorded log ratios, neither centred nor symmetrised"


def interleave_pairs(raw: dict) -> tuple[Pool, dict[str, list[float]], Pool]:
    """The log ratios and wall seconds of the pairs in a ``validation.gate.interleave`` raw file,
    and its processes' figures (as the gate computes them: the median of the steady
    pairs)."""
    from harness.run import get_profile
    from validation.gate.interleave import marginal_ms, process_summary

    steady_start = get_profile(raw["profile"]).timing.steady_start
    ratios: Pool = {}
    walls: dict[str, list[float]] = {}
    medians: Pool = {}
    for cell, pairs in raw["cells"].items():
        for pair in pairs:
            steps = pair["steps"]
            series = {s: [marginal_ms(f, steps) / 1000 for f in pair["fits"][s]] for s in "ab"}
            warmup = max(steady_start(series[s]) for s in "ab")
            a, b = (process_summary(pair["fits"][s], steps, warmup) for s in "ab")
            ratios.setdefault(cell, []).append(math.log(b / a))
            walls.setdefault(cell, []).append(pair["wall_s"])
            medians.setdefault(cell, []).extend([a, b])
    return ratios, walls, medians


def gate_pairs(record: dict) -> tuple[Pool, dict[str, list[float]], Pool]:
    """The log ratios and wall seconds of the pairs of a live-paired ``kbench ab`` file,
    and its processes' figures."""
    if TimingTestName.parse(record.get("rule", {}).get("test", "")) is not TimingTestName.PAIRED:
        raise SystemExit("--pool takes live-paired kbench ab files (or interleave raw files)")
    ratios: Pool = {}
    walls: dict[str, list[float]] = {}
    medians: Pool = {}
    sides = {
        s: {c["plugin"] + "/" + c["backend"]: c for c in record["runs"][s]["cells"]} for s in "ab"
    }
    for cell in record["cells"]:
        name = f"{cell['plugin']}/{cell['backend']}"
        if not cell.get("a_samples"):
            continue
        ratios[name] = log_ratios(cell["a_samples"], cell["b_samples"])
        medians[name] = cell["a_samples"] + cell["b_samples"]
        processes = [sides[s][name]["step_time_ms"]["processes"] for s in "ab"]
        walls[name] = [
            max(pa["phases_s"]["wall"], pb["phases_s"]["wall"])
            for pa, pb in zip(*processes, strict=False)
        ]
    return ratios, walls, medians


def symmetrised(ratios: list[float]) -> list[float]:
    """An A/A cell's log ratios as the signed-rank test's null: centred on their median,
    each with its negative (twice as many values, exactly symmetric about 0)."""
    centre = statistics.median(ratios)
    centred = [d - centre for d in ratios]
    return centred + [-d for d in centred]


def load_pool(sources: list[str], raw: bool = False) -> tuple[Pool, dict[str, float], Pool]:
    """Per cell, the symmetrised log ratios of every pair in ``sources`` (``FILE`` or
    ``FILE:CELL,CELL``; ``raw``: as recorded), the mean seconds one process of a pair adds
    to a gate (half the pair's wall: the two run at once), and the same processes' figures,
    each divided by its file's median for the cell (the pool of an unpaired gate of the
    same sitting)."""
    ratios: Pool = {}
    walls: dict[str, list[float]] = {}
    medians: Pool = {}
    for source in sources:
        path, _, only = source.partition(":")
        record = json.loads(Path(path).read_text())
        found = gate_pairs(record) if "runs" in record else interleave_pairs(record)
        for cell in found[0]:
            if only and cell not in only.split(","):
                continue
            recorded = found[0][cell]
            ratios.setdefault(cell, []).extend(recorded if raw else symmetrised(recorded))
            walls.setdefault(cell, []).extend(found[1][cell])
            level = statistics.median(found[2][cell])
            medians.setdefault(cell, []).extend(v / level for v in found[2][cell])
    costs = {cell: statistics.fmean(values) / 2 for cell, values in walls.items()}
    return ratios, costs, medians


def replay_gate(
    pool: Pool,
    costs: dict[str, float],
    case: Case,
    delta: float,
    rng: np.random.Generator,
    strict: bool = False,
) -> tuple[dict[str, bool], float, int]:
    """One replayed live-paired gate: which cells it flagged, its minutes, its looks
    (``strict``: the rule's strict reading, tested against A x (1 + threshold))."""
    rule, keys = Rule(test=TimingTestName.PAIRED, strict=strict), list(pool)
    size = case.design.looks * case.repeats
    draws = {k: Draws(pool[k], rng, 1, size, replace=True) for k in keys}

    def draft(key: str, done: int) -> CellComparison:
        return _draft(key, draws[key].first(done)[0] + math.log1p(delta), rule.null_shift)

    return replay_looks(keys, costs, case, rule, draft)


def _draft(key: str, d: np.ndarray, shift: float = 0.0) -> CellComparison:
    """A process pair's log ratios as samples of the paired test: A at 1, B at exp(d)."""
    return draft_cell(key, [1.0] * len(d), [math.exp(v) for v in d], SIGNED_RANK, shift)


def replay_design(
    pool: Pool,
    costs: dict[str, float],
    case: Case,
    delta: float,
    sims: int,
    seed: int,
    strict: bool = False,
) -> dict:
    """``sims`` replayed gates of one design at one delta: flag rates, minutes, looks."""
    rng = np.random.default_rng(seed)
    results = [replay_gate(pool, costs, case, delta, rng, strict) for _ in range(sims)]
    return {**replay_summary(case, delta, list(pool), results), "strict": strict}


def chosen_designs(
    indices: list[int] | None, budgets: list[float], one_look: list[int], repeats: int = 5
) -> list[Case]:
    """The designs to replay: ``DESIGNS[i]`` for each index (all of them when neither indices
    nor anything else is asked for), kbench ab's default design with ``repeats`` pairs at its first
    look at each budget in minutes, and a one-look design of each size."""
    designs = [DESIGNS[i] for i in indices or []]
    designs += [Case(repeats, replace(Design(), budget_s=m * 60)) for m in budgets]
    designs += [Case(pairs, Design(1, "equal", None)) for pairs in one_look]
    return designs or list(DESIGNS)


def main() -> None:
    from validation.gate import sequential as unpaired
    from validation.gate.sequential import line

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", nargs="+", required=True, metavar="FILE[:CELLS]")
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--designs", type=int, nargs="+", help="indices into DESIGNS")
    parser.add_argument(
        "--budgets",
        type=float,
        nargs="+",
        metavar="MINUTES",
        help="also kbench ab's default design (3 looks, O'Brien-Fleming) at these budgets",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="process pairs per cell at the first look of the --budgets designs (kbench ab's)",
    )
    parser.add_argument(
        "--one-look",
        type=int,
        nargs="+",
        metavar="PAIRS",
        help="also one look of this many process pairs per cell, no budget",
    )
    parser.add_argument(
        "--unpaired",
        action="store_true",
        help="also replay today's unpaired gate on the same processes, at the same cost",
    )
    parser.add_argument(
        "--raw-pool",
        action="store_true",
        help="replay the recorded log ratios as they are (neither centred nor symmetrised)",
    )
    parser.add_argument("--deltas", type=float, nargs="+", default=list(DELTAS))
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also replay the rule's strict reading (tested against A x (1 + threshold))",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    pool, costs, medians = load_pool(args.pool, raw=args.raw_pool)
    designs = chosen_designs(args.designs, args.budgets or [], args.one_look or [], args.repeats)
    print("pairs: " + ", ".join(f"{k} {len(v)}" for k, v in pool.items()))
    print("seconds per pair: " + ", ".join(f"{k} {2 * v:.1f}" for k, v in costs.items()))
    rows = []
    for case in designs:
        for delta in args.deltas:
            rows.append(replay_design(pool, costs, case, delta, args.sims, args.seed))
            print("paired   " + line(rows[-1]), flush=True)
            if args.strict:
                rows.append(replay_design(pool, costs, case, delta, args.sims, args.seed, True))
                print("strict   " + line(rows[-1]), flush=True)
            if args.unpaired:
                row = unpaired.replay_design(medians, costs, case, delta, args.sims, args.seed)
                rows.append({**row, "unpaired": True})
                print("unpaired " + line(rows[-1]), flush=True)
    record = {
        "command": "python -m validation.gate.paired_replay " + " ".join(sys.argv[1:]),
        "pool": RAW if args.raw_pool else SYMMETRISED,
        "pool_files": args.pool,
        "pair_seconds": {k: 2 * v for k, v in costs.items()},
        "pool_sizes": {k: len(v) for k, v in pool.items()},
        "sd_log_ratio": {k: statistics.stdev(v) for k, v in pool.items()},
        "rows": rows,
    }
    write_json_atomic(args.out, record)


if __name__ == "__main__":
    main()

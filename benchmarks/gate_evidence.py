"""Evidence for the regression gate: false alarms, a real slowdown, and power by replay.

    python benchmarks/gate_evidence.py aa --gates 20 --repeats 5      # A/A gates (kbench ab)
    python benchmarks/gate_evidence.py slowdown --repeats 5           # B confined to one core
    python benchmarks/gate_evidence.py power                          # replay recorded A/A samples
    python benchmarks/gate_evidence.py summary                        # the figures for the README
    python benchmarks/gate_evidence.py pairing                        # would pairing A, B help?
    python benchmarks/gate_evidence.py contention RUN.json            # levels vs. CPU contention
    python benchmarks/gate_evidence.py tables                         # the README's tables
    python benchmarks/gate_evidence.py rescore GATE.json              # today's estimator, same fits
    python benchmarks/gate_evidence.py digest                         # digests of recorded gates

``aa`` runs real ``kbench ab`` gates with the same interpreter on both sides and keeps each
gate's file under ``results/runs/evidence/`` (gitignored), and its digest (the file without
the two sides' raw runs: verdicts, per-process medians, rule, environment) under
``benchmarks/results/gates/``, which is committed: ``power`` and ``summary`` read the
digests, so the figures can be re-derived from a clean checkout. Digests in a subfolder,
such as ``malloc-system/`` or ``pairs5/``, ran under an earlier timing and are not pooled
with the current ones; ``summary --gates DIR`` and ``power --gates DIR`` re-derive a
subfolder's figures under ``earlier_timings.<its name>`` in the summary JSON.
``summary`` also gives, per cell, the slowdown each gate's first look could flag in 95%
of gates from its own spread (``harness.stats.detectable_slowdown``).
``power`` pools, per cell, the per-process medians of every recorded A/A gate (both sides
ran the same code), each divided by its gate's median for the cell (``--raw-pool``: not
divided), then simulates gates: R processes per side drawn without replacement from that
pool (4R distinct values per cell: stage 1 and the confirmation batch; an R the pool is too
small for is left out), side B scaled by (1 + delta), the full rule applied (Holm over all cells
of the gate, then one confirmation batch of R more per side for inconclusive cells, decided
on the pooled samples). It reports the per-cell detection rate and the per-gate
false-positive rate, and per cell the detectable slowdown of a gate with R = 5 to 80
processes per side from the pooled spread (the closed form, no simulation).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence_tables

from harness.errors import HarnessError
from harness.gate import stats
from harness.gate.compare import (
    CellComparison,
    Rule,
    compare_runs,
    decide,
    with_detectable_slowdowns,
)
from harness.records.files import write_json_atomic
from harness.records.frames import read_comparison
from harness.records.schema import RunResult
from harness.run.timing import StepTimeStats, StepTimeSummary

EVIDENCE = Path("results/runs/evidence")
DIGESTS = Path("benchmarks/results/gates")
SUMMARY = Path("benchmarks/results/gate_evidence.json")
EARLIER = "earlier_timings"  # the summary's section for digests of an earlier timing
CELLS = ["-p", "dense_mlp,cnn", "-b", "jax,tensorflow,torch", "--device", "cpu"]
DELTAS = (0.0, 0.03, 0.05, 0.10, 0.20)
DETECTABLE_REPEATS = (5, 10, 20, 40, 80)


def gate_command(out: Path, repeats: int, python_b: str | None = None) -> list[str]:
    command = [sys.executable, "-m", "harness", "ab", *CELLS, "--profile", "gate"]
    command += ["--dataset", "mnist_5k", "--repeats", str(repeats), "--out", str(out)]
    if python_b:
        command += ["--python-b", python_b]
    return command


def cmd_aa(args: argparse.Namespace) -> None:
    EVIDENCE.mkdir(parents=True, exist_ok=True)
    start = next_index("aa")
    for index in range(start, start + args.gates):
        out = EVIDENCE / f"aa-{index:03d}.json"
        print(f"A/A gate {index}: {' '.join(gate_command(out, args.repeats))}", flush=True)
        code = subprocess.run(gate_command(out, args.repeats)).returncode
        print(f"A/A gate {index}: exit code {code}", flush=True)
        if out.exists():
            write_digest(out)


def next_index(prefix: str) -> int:
    """One past the highest number of a recorded gate or digest named ``PREFIX-NNN.json``."""
    names = [p.stem for folder in (EVIDENCE, DIGESTS) for p in folder.glob(f"{prefix}-*.json")]
    numbers = [int(n.rsplit("-", 1)[1]) for n in names if n.rsplit("-", 1)[1].isdigit()]
    return max(numbers, default=-1) + 1


def cmd_slowdown(args: argparse.Namespace) -> None:
    if shutil.which("taskset") is None:
        sys.exit("taskset not found (util-linux)")
    EVIDENCE.mkdir(parents=True, exist_ok=True)
    out = EVIDENCE / f"slowdown-one-core-{next_index('slowdown-one-core'):03d}.json"
    python_b = f"taskset -c 0 {sys.executable}"
    code = subprocess.run(gate_command(out, args.repeats, python_b)).returncode
    print(f"slowdown gate: exit code {code} (1 = regression flagged)")
    if out.exists():
        write_digest(out)


def digest(gate: dict) -> dict:
    """A gate's file without ``runs`` (both sides' raw results, most of its size): the
    verdicts, per-process medians, accuracies, rule, sides' environments and ``ab`` block."""
    return {key: value for key, value in gate.items() if key != "runs"}


def write_digest(gate_file: Path) -> Path:
    """Write the committed digest of one recorded gate, named as its file."""
    out = DIGESTS / gate_file.name
    write_json_atomic(out, digest(read_comparison(gate_file)))
    return out


def cmd_digest(args: argparse.Namespace) -> None:
    """Digest every gate recorded under ``results/runs/evidence/`` (those not yet digested)."""
    files = sorted(EVIDENCE.glob("*.json"))
    written = [write_digest(f) for f in files if args.force or not (DIGESTS / f.name).exists()]
    print(f"{len(written)} digest(s) written to {DIGESTS} ({len(files)} gate file(s) found)")


def load_gates(pattern: str, folder: Path | None = None) -> list[dict]:
    """The committed digests (in ``folder``, default ``DIGESTS``) whose names match."""
    return [json.loads(p.read_text()) for p in sorted((folder or DIGESTS).glob(pattern))]


def summary_section(folder: Path | None) -> str | None:
    """Where a step's figures go in the summary JSON: the top level for the current
    digests, ``earlier_timings.<folder name>`` for a subfolder of an earlier timing."""
    if folder is None or folder.resolve() == DIGESTS.resolve():
        return None
    return f"{EARLIER}.{folder.name}"


def pools(gates: list[dict], per_gate: bool = True) -> dict[str, list[float]]:
    """Per cell, every per-process median of both sides of every A/A gate.

    ``per_gate`` divides each gate's values by that gate's median for the cell. A real gate
    interleaves A and B in one sitting, so the machine's level that day moves both sides
    alike; pooling raw values across sittings would add that between-sitting spread to
    every simulated gate (the raw pool is kept as the conservative variant).
    """
    pooled: dict[str, list[float]] = defaultdict(list)
    for gate in gates:
        for cell in gate["cells"]:
            values = cell["a_samples"] + cell["b_samples"]
            level = statistics.median(values) if per_gate else 1.0
            pooled[cell["key"]] += [v / level for v in values]
    return dict(pooled)


def simulate_gate(
    pooled: dict[str, list[float]],
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
        pooled_pairs = {
            k: (
                np.concatenate([draws[k][0], draws[k][2]]),
                np.concatenate([draws[k][1], draws[k][3]]),
            )
            for k in unsure
        }
        second = _decide(pooled_pairs, rule, family_size=len(pooled))
        flagged.update({k: v == "regression" for k, v in second.items()})
    return flagged


def _decide(pairs: dict[str, tuple], rule: Rule, family_size: int | None = None) -> dict[str, str]:
    """The gate's own rule (``harness.compare.decide``) on replayed samples."""
    drafts = []
    for key, (a, b) in pairs.items():
        ratio, p_value = stats.ratio_of_medians(list(a), list(b)), stats.p_slower(list(a), list(b))
        drafts.append(CellComparison(key, "", "", "", "", ratio=ratio, p_value=p_value))
    return {d.key: d.verdict for d in decide(drafts, rule, family_size)}


def cmd_power(args: argparse.Namespace) -> None:
    gates = load_gates("aa-*.json", args.gates)
    if not gates:
        sys.exit(f"no A/A gate digests in {args.gates or DIGESTS}; run the 'aa' step first")
    pooled = pools(gates, per_gate=not args.raw_pool)
    rule = Rule(alpha=Rule().alpha / 2, looks=2)  # as kbench ab: alpha / 2 per look
    rng = np.random.default_rng(args.seed)
    table = []
    smallest = min(len(v) for v in pooled.values())
    for repeats in args.repeats:
        if 4 * repeats > smallest and not args.replace:
            print(f"R={repeats}: needs {4 * repeats} A/A samples per cell, a pool has {smallest}")
            table.append({"repeats": repeats, "skipped": f"pool {smallest} < {4 * repeats}"})
            continue
        for delta in DELTAS:
            results = [
                simulate_gate(pooled, repeats, delta, rule, rng, args.replace)
                for _ in range(args.sims)
            ]
            per_cell = {k: float(np.mean([r[k] for r in results])) for k in pooled}
            any_flag = float(np.mean([any(r.values()) for r in results]))
            row = {"repeats": repeats, "delta": delta, "per_cell_rate": per_cell}
            row["gate_flag_rate"] = any_flag
            row["mean_cell_rate"] = float(np.mean(list(per_cell.values())))
            table.append(row)
            print(
                f"R={repeats:2d} delta={delta:4.0%}: cells flagged {row['mean_cell_rate']:.1%} "
                f"(min {min(per_cell.values()):.1%}), gates with any flag {any_flag:.1%}; "
                + ", ".join(f"{k.rsplit('/', 1)[0]} {v:.1%}" for k, v in per_cell.items()),
                flush=True,
            )
    report = {
        "detectable_by_repeats": _detectable_by_repeats(pooled, rule, DETECTABLE_REPEATS),
        "pool_sizes": {k: len(v) for k, v in pooled.items()},
        "pool_cv": {k: stats.coefficient_of_variation(v) for k, v in pooled.items()},
        "drawn": f"{'with' if args.replace else 'without'} replacement from the pool",
        "pool": "raw values" if args.raw_pool else "each gate's values / its median for the cell",
        "gates_pooled": len(gates),
        "sims": args.sims,
        "rule": rule.to_dict(),
        "replay": table,
    }
    name = "power_raw_pool" if args.raw_pool else "power"
    key = f"{name}_with_replacement" if args.replace else name
    _update_summary({key: report}, summary_section(args.gates))


def _detectable_by_repeats(
    pooled: dict[str, list[float]], rule: Rule, repeats: tuple[int, ...]
) -> dict[str, dict[str, float | None]]:
    """Per cell and R: the slowdown a gate of R processes per side flags in 95% of gates,
    from the pooled spread (``stats.detectable_slowdown`` with both looks, Holm's bound for
    one regressed cell of the gate). The closed form makes R = 80 as cheap as R = 5."""
    bound = rule.alpha / len(pooled)
    table = {
        key: {
            str(r): stats.detectable_slowdown(
                values, values, bound, rule.threshold, looks=rule.looks, sizes=(r, r)
            )
            for r in repeats
        }
        for key, values in pooled.items()
    }
    for key, row in table.items():
        shown = ", ".join(
            f"R={r} {v:.0%}" if v is not None else f"R={r} never" for r, v in row.items()
        )
        print(f"detectable slowdown (95% of gates), {key}: {shown}")
    return table


def cmd_summary(args: argparse.Namespace) -> None:
    gates = load_gates("aa-*.json", args.gates)
    ratios: dict[str, list[float]] = defaultdict(list)
    accuracy_gaps: dict[str, list[float]] = defaultdict(list)
    flagged, verdicts = 0, defaultdict(int)
    for gate in gates:
        flagged += bool(gate["summary"]["regressed"])
        for cell in gate["cells"]:
            verdicts[cell["verdict"]] += 1
            if cell["ratio"] is not None:
                ratios[cell["key"]].append(cell["ratio"])
            if cell.get("a_accuracy") is not None and cell.get("b_accuracy") is not None:
                accuracy_gaps[cell["key"]].append(abs(cell["a_accuracy"] - cell["b_accuracy"]))
    aa = {
        "gates": len(gates),
        "gates_flagging_a_regression": flagged,
        "verdicts": dict(verdicts),
        "ratio_spread": {
            k: {"min": min(v), "median": statistics.median(v), "max": max(v)}
            for k, v in ratios.items()
        },
        "same_code_accuracy_gap_max": {k: max(v) for k, v in accuracy_gaps.items()},
        "repeats": sorted({g["ab"]["repeats"] for g in gates}),
        "confirmation_batches": sum(bool(g["ab"]["confirmation_batch"]) for g in gates),
        "detectable_slowdown_first_look": _detectable_spread(gates),
        "load_average_at_start": [g["a"]["environment"]["load_average"] for g in gates],
    }
    print(json.dumps(aa, indent=2))
    summary = {"aa": aa}
    slowdowns = [_slowdown_summary(g) for g in load_gates("slowdown-*.json", args.gates)]
    if slowdowns:  # else the committed figures stand
        summary["slowdown_one_core"] = slowdowns
        print(json.dumps(slowdowns, indent=2))
    _update_summary(summary, summary_section(args.gates))


def _detectable_spread(gates: list[dict]) -> dict[str, dict[str, float | None]]:
    """Per cell over the gates: the slowdown each gate's first look (its first R processes
    per side, its own rule, Holm over its tested cells, the confirmation batch) could flag
    in 95% of gates (``stats.detectable_slowdown``), recomputed from the digests so that
    gates recorded before the figure existed count too. None: that gate could flag none."""
    found: dict[str, list[float | None]] = defaultdict(list)
    for gate in gates:
        rule, repeats = Rule(**gate["rule"]), gate["ab"]["repeats"]
        first = [
            replace(
                CellComparison.from_dict(c),
                a_samples=c["a_samples"][:repeats],
                b_samples=c["b_samples"][:repeats],
            )
            for c in gate["cells"]
        ]
        for cell in with_detectable_slowdowns(first, rule):
            if cell.p_adjusted is not None:
                found[cell.key].append(cell.detectable_slowdown)
    spread = {}
    for key, values in found.items():
        sized = sorted(v for v in values if v is not None)
        spread[key] = {
            "min": sized[0] if sized else None,
            "median": statistics.median(sized) if sized else None,
            "max": sized[-1] if len(sized) == len(values) else None,  # None: some gate, never
        }
    return spread


def cmd_pairing(args: argparse.Namespace) -> None:
    """Would pairing adjacent A and B processes help? Their correlation and spreads.

    ``kbench ab`` runs repeat i of a cell as A then B (B then A on odd repeats), so
    ``a_samples[i]`` and ``b_samples[i]`` ran back to back. Per cell, over every A/A gate
    (each gate's values divided by its median for the cell): the Pearson correlation of
    the two log levels, the spread of log(B/A) over adjacent pairs against the spread it
    would have unpaired, the mean log(second/first) (an order effect the alternation
    balances), and the smallest p-value an exact one-sided signed-rank test on R pairs
    can reach (2 ** -R), to set against the gate's smallest Holm bound.
    """
    from scipy import stats as scipy_stats

    gates = load_gates("aa-*.json", args.gates)
    if not gates:
        sys.exit(f"no A/A gate digests in {args.gates or DIGESTS}; run the 'aa' step first")
    logs: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for gate in gates:
        for cell in gate["cells"]:
            a, b = cell["a_samples"], cell["b_samples"]
            level = statistics.median(a + b)
            pairs = enumerate(zip(a, b, strict=True))
            logs[cell["key"]] += [(np.log(x / level), np.log(y / level), i) for i, (x, y) in pairs]
    rule = Rule(alpha=Rule().alpha / 2, looks=2)
    report: dict = {"gates": len(gates), "cells": {}}
    for key, rows in logs.items():
        la, lb, index = (np.array(v) for v in zip(*rows, strict=True))
        diff = lb - la
        second_over_first = np.where(index % 2 == 0, diff, -diff)
        report["cells"][key] = {
            "pairs": len(rows),
            "correlation": float(scipy_stats.pearsonr(la, lb).statistic),
            "sd_log_ratio_paired": float(np.std(diff, ddof=1)),
            "sd_log_ratio_unpaired": float(np.sqrt(np.var(la, ddof=1) + np.var(lb, ddof=1))),
            "mean_log_second_over_first": float(np.mean(second_over_first)),
            "order_effect_p": float(scipy_stats.wilcoxon(second_over_first).pvalue),
        }
    report["smallest_holm_bound"] = rule.alpha / len(logs)
    report["signed_rank_floor"] = {str(r): 2.0**-r for r in (5, 10, 20)}
    print(json.dumps(report, indent=2))
    _update_summary({"pairing": report}, summary_section(args.gates))


COUNTERS = ("others_share", "steal_share", "involuntary_per_step", "cpu_per_wall")


def cmd_contention(args: argparse.Namespace) -> None:
    """Do the contention counters explain the level per process? Spearman's rho, per cell.

    Reads a results file of ``kbench run --repeats R`` whose processes recorded their
    contention counters, and correlates, per cell, the per-process medians with what
    competed for the CPU while each process timed: the host's busy share by other
    processes, the hypervisor's steal share, involuntary context switches per timed step
    (per step, since a slower process takes fewer steps per second), and the process's
    own CPU seconds per wall second.
    """
    from harness.records.frames import read_run

    run = RunResult.from_dict(read_run(args.file))
    report: dict = {"file": str(args.file), "cells": {}}
    for cell in run.cells:
        processes = cell.step_time_ms.processes if cell.step_time_ms else []
        counted = [p for p in processes if p.contention is not None]
        if len(counted) < 4:
            continue
        medians = [p.median for p in counted]
        row: dict = {"processes": len(counted), "cv": stats.coefficient_of_variation(medians)}
        for name in COUNTERS:
            series = [_counter(p, name) for p in counted]
            if None in series:
                row[name] = None
                continue
            rho, pvalue = stats.rank_correlation(medians, series) or (None, None)
            row[name] = {
                "median": statistics.median(series),
                "max": max(series),
                "rho": rho,
                "p": pvalue,
            }
        report["cells"][cell.cell.key] = row
        shown = ", ".join(
            f"{n} {r['median']:.3g}"
            + (f" (rho {r['rho']:+.2f}, p {r['p']:.2g})" if r["rho"] is not None else "")
            for n, r in row.items()
            if isinstance(r, dict)
        )
        print(f"{cell.cell.key:26} CV {row['cv']:.1%}: {shown}")
    if not report["cells"]:
        sys.exit(f"no cell of {args.file} has 4 processes with contention counters")
    _update_summary({"contention": report})


def _counter(process: StepTimeStats, name: str) -> float | None:
    """One counter of a process's contention record, as ``cmd_contention`` compares it."""
    counts = process.contention
    if name == "cpu_per_wall":
        return counts.process_cpu_s / counts.wall_s if counts.wall_s > 0 else None
    if name == "involuntary_per_step":  # every pair in the loop ran N + 2N steps
        steps = 3 * process.window_steps * len(process.short_fit_s)
        return counts.involuntary_switches / steps
    return getattr(counts, name)


def _slowdown_summary(gate: dict) -> dict:
    """One slowdown gate: its repeats, whether it failed, and each cell's verdict."""
    return {
        "repeats": gate["ab"]["repeats"],
        "regressed": gate["summary"]["regressed"],
        "cells": {
            c["key"]: {"ratio": c["ratio"], "p_adjusted": c["p_adjusted"], "verdict": c["verdict"]}
            for c in gate["cells"]
        },
    }


def cmd_rescore(args: argparse.Namespace) -> None:
    """Re-decide a recorded gate from its raw fit times with the current step estimator.

    The first look uses each side's first R processes; a cell the new first look leaves
    inconclusive is confirmed on all recorded processes only if the gate ran its
    confirmation batch, else it stays inconclusive (marked so).
    """
    gate = read_comparison(args.file)
    repeats, ran_batch = gate["ab"]["repeats"], set(gate["ab"]["confirmation_batch"])
    runs = [_reestimated(RunResult.from_dict(gate["runs"][side])) for side in ("a", "b")]
    rule = Rule(**gate["rule"])  # as recorded: the rule each of the gate's looks applied
    first = compare_runs(*[_first(run, repeats) for run in runs], rule, check_fingerprint=False)
    verdicts = {c.key: c for c in first.cells}
    unsure = [c.key for c in first.cells if c.verdict == "inconclusive"]
    family = sum(c.p_value is not None for c in first.cells)
    if unsure:
        subset = [replace(r, cells=[c for c in r.cells if c.cell.key in unsure]) for r in runs]
        second = compare_runs(*subset, rule, check_fingerprint=False, family_size=family)
        for cell in second.cells:
            if cell.key in ran_batch:
                verdicts[cell.key] = replace(cell, reason=f"{cell.reason} (confirmation batch)")
            else:
                verdicts[cell.key] = replace(
                    verdicts[cell.key], reason="no confirmation batch was recorded"
                )
    print(f"{args.file}: rescored from raw fits (median over pairs), rule {rule.to_dict()}")
    for key, cell in verdicts.items():
        print(
            f"{key:26} x{cell.ratio:.2f} CI {cell.ratio_ci_low:.2f}-{cell.ratio_ci_high:.2f} "
            f"p_holm {cell.p_adjusted:.2g} n {cell.n_a}/{cell.n_b} {cell.verdict}: {cell.reason}"
        )


def _reestimated(run: RunResult) -> RunResult:
    """The run with every process's step time recomputed from its raw fits."""
    cells = []
    for cell in run.cells:
        if cell.step_time_ms is None:
            cells.append(cell)
            continue
        processes = [
            StepTimeStats.from_fits(p.short_fit_s, p.long_fit_s, p.window_steps, p.warmup_windows)
            for p in cell.step_time_ms.processes
        ]
        cells.append(replace(cell, step_time_ms=StepTimeSummary.from_processes(processes)))
    return replace(run, cells=cells)


def _first(run: RunResult, repeats: int) -> RunResult:
    """The run as the gate's first look saw it: each cell's first ``repeats`` processes."""
    cells = []
    for cell in run.cells:
        step = cell.step_time_ms
        if step is not None:
            step = StepTimeSummary.from_processes(step.processes[:repeats])
        cells.append(replace(cell, step_time_ms=step))
    return replace(run, cells=cells)


def cmd_tables(args: argparse.Namespace) -> None:
    if not SUMMARY.exists():
        sys.exit(f"no {SUMMARY}; run the 'summary' and 'power' steps first")
    print(evidence_tables.render(json.loads(SUMMARY.read_text())))


def _update_summary(update: dict, section: str | None = None) -> None:
    """Merge ``update`` into the summary JSON, at the top level or under a dotted section."""
    current = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    target = current
    for part in section.split(".") if section else []:
        target = target.setdefault(part, {})
    target.update(update)
    current["machine"] = {"cpu_count": os.cpu_count()}
    write_json_atomic(SUMMARY, current)
    print(f"written to {SUMMARY}{f' under {section}' if section else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    aa = sub.add_parser("aa")
    aa.add_argument("--gates", type=int, default=20)
    aa.add_argument("--repeats", type=int, default=5)
    slow = sub.add_parser("slowdown")
    slow.add_argument("--repeats", type=int, default=5)
    power = sub.add_parser("power")
    power.add_argument("--repeats", type=int, nargs="+", default=[5, 10])
    power.add_argument("--sims", type=int, default=2000)
    power.add_argument("--seed", type=int, default=0)
    power.add_argument("--raw-pool", action="store_true", help="pool raw values across gates")
    power.add_argument(
        "--replace", action="store_true", help="draw with replacement (an R beyond the pool)"
    )
    summary = sub.add_parser("summary")
    pairing = sub.add_parser("pairing", help="correlation of adjacent A and B processes")
    for step in (power, summary, pairing):
        step.add_argument(
            "--gates",
            type=Path,
            default=None,
            help=f"digests to read (default {DIGESTS}; a subfolder of an earlier timing "
            f"writes under {EARLIER}.<its name>)",
        )
    contention = sub.add_parser("contention", help="process medians against CPU contention")
    contention.add_argument("file", help="a results file of kbench run --repeats R")
    rescore = sub.add_parser("rescore")
    rescore.add_argument("file")
    sub.add_parser("tables", help="print the README's evidence tables from the summary JSON")
    digest_step = sub.add_parser("digest")
    digest_step.add_argument("--force", action="store_true", help="rewrite existing digests")
    args = parser.parse_args()
    steps = {
        "aa": cmd_aa,
        "slowdown": cmd_slowdown,
        "power": cmd_power,
        "summary": cmd_summary,
        "pairing": cmd_pairing,
        "contention": cmd_contention,
        "rescore": cmd_rescore,
        "digest": cmd_digest,
        "tables": cmd_tables,
    }
    try:
        steps[args.step](args)
    except HarnessError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()

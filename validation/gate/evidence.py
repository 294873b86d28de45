"""Evidence for the regression gate: false alarms, a real slowdown, and power by replay.

    python -m validation.gate.evidence aa --gates 20 --repeats 5   # A/A gates (kbench ab)
    python -m validation.gate.evidence slowdown --repeats 5        # B confined to one core
    python -m validation.gate.evidence power                       # replay recorded A/A samples
    python -m validation.gate.evidence summary                     # the A/A and slowdown figures
    python -m validation.gate.evidence pairing                     # would pairing A, B help?
    python -m validation.gate.evidence contention RUN.json         # levels vs. CPU contention
    python -m validation.gate.evidence tables                      # the evidence tables
    python -m validation.gate.evidence rescore GATE.json           # today's estimator, same fits
    python -m validation.gate.evidence digest                      # digests of recorded gates

``aa`` and ``slowdown`` run real ``kbench ab`` gates and digest them (``gate_digest``);
``power`` replays the pooled A/A samples (``gate_replay``) and also gives, per cell, the
detectable slowdown of a gate with R = 5 to 80 processes per side from the pooled spread
(the closed form, no simulation); ``pairing`` and ``contention`` look for what sets a
process's level (``gate_levels``). ``summary``, ``power`` and ``pairing`` read the committed
digests; ``--gates DIR`` reads a subfolder of an earlier timing and writes under
``earlier_timings.<its name>`` in the summary JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.gate import Rule
from harness.records import read_comparison, read_run
from validation.gate import levels as gate_levels
from validation.gate import replay as gate_replay
from validation.gate import tables as evidence_tables
from validation.gate.digest import (
    DIGESTS,
    EARLIER,
    EVIDENCE,
    SUMMARY,
    aa_summary,
    load_gates,
    next_index,
    rescore,
    slowdown_summary,
    summary_section,
    update_summary,
    write_digest,
)

CELLS = ["-p", "dense_mlp,cnn", "-b", "jax,tensorflow,torch", "--device", "cpu"]


def gate_command(out: Path, repeats: int, python_b: str | None = None) -> list[str]:
    """The ``kbench ab`` command of one evidence gate (A/A unless ``python_b`` is given), one
    process at a time as every gate of this series ran (live pairs: ``results/gates_paired``)."""
    command = [sys.executable, "-m", "harness", "ab", *CELLS, "--profile", "gate"]
    command += ["--pairing", "processes"]
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


def cmd_digest(args: argparse.Namespace) -> None:
    """Digest every gate recorded under ``results/runs/evidence/`` (those not yet digested)."""
    files = sorted(EVIDENCE.glob("*.json"))
    written = [write_digest(f) for f in files if args.force or not (DIGESTS / f.name).exists()]
    print(f"{len(written)} digest(s) written to {DIGESTS} ({len(files)} gate file(s) found)")


def _aa_gates(folder: Path | None) -> list[dict]:
    """The A/A digests a step reads; none is a one-line exit."""
    gates = load_gates("aa-*.json", folder)
    if not gates:
        sys.exit(f"no A/A gate digests in {folder or DIGESTS}; run the 'aa' step first")
    return gates


def cmd_power(args: argparse.Namespace) -> None:
    gates = _aa_gates(args.gates)
    pooled = gate_replay.pools(gates, per_gate=not args.raw_pool)
    rule = gate_replay.gate_rule()
    rng = np.random.default_rng(args.seed)
    smallest = min(len(v) for v in pooled.values())
    table = []
    for repeats in args.repeats:
        if 4 * repeats > smallest and not args.replace:
            print(f"R={repeats}: needs {4 * repeats} A/A samples per cell, a pool has {smallest}")
            table.append({"repeats": repeats, "skipped": f"pool {smallest} < {4 * repeats}"})
            continue
        for delta in gate_replay.DELTAS:
            row = gate_replay.replay_row(pooled, repeats, delta, rule, rng, args.sims, args.replace)
            print(gate_replay.row_line(row), flush=True)
            table.append(row)
    report = _power_report(args, pooled, rule, len(gates))
    report["replay"] = table
    name = "power_raw_pool" if args.raw_pool else "power"
    key = f"{name}_with_replacement" if args.replace else name
    update_summary({key: report}, summary_section(args.gates))


def _power_report(args: argparse.Namespace, pooled: dict, rule: Rule, gates: int) -> dict:
    """The power step's figures besides the replay table, printing the detectable ones."""
    detectable = gate_replay.detectable_by_repeats(pooled, rule)
    for key, row in detectable.items():
        print(gate_replay.detectable_line(key, row))
    facts = gate_replay.pool_facts(pooled)
    return {
        "detectable_by_repeats": detectable,
        **facts,
        "drawn": f"{'with' if args.replace else 'without'} replacement from the pool",
        "pool": "raw values" if args.raw_pool else "each gate's values / its median for the cell",
        "gates_pooled": gates,
        "sims": args.sims,
        "rule": rule.to_dict(),
    }


def cmd_summary(args: argparse.Namespace) -> None:
    aa = aa_summary(load_gates("aa-*.json", args.gates))
    print(json.dumps(aa, indent=2))
    summary = {"aa": aa}
    slowdowns = [slowdown_summary(g) for g in load_gates("slowdown-*.json", args.gates)]
    if slowdowns:  # else the committed figures stand
        summary["slowdown_one_core"] = slowdowns
        print(json.dumps(slowdowns, indent=2))
    update_summary(summary, summary_section(args.gates))


def cmd_pairing(args: argparse.Namespace) -> None:
    """Would pairing adjacent A and B processes help? (``gate_levels.pairing``)"""
    report = gate_levels.pairing(_aa_gates(args.gates), gate_replay.gate_rule())
    print(json.dumps(report, indent=2))
    update_summary({"pairing": report}, summary_section(args.gates))


def cmd_contention(args: argparse.Namespace) -> None:
    """Do the contention counters explain the level per process? (``gate_levels.contention``)"""
    cells = gate_levels.contention(read_run(args.file))
    for key, row in cells.items():
        print(gate_levels.contention_line(key, row))
    if not cells:
        sys.exit(f"no cell of {args.file} has 4 processes with contention counters")
    update_summary({"contention": {"file": str(args.file), "cells": cells}})


def cmd_rescore(args: argparse.Namespace) -> None:
    """Re-decide a recorded gate from its raw fit times with the current step estimator."""
    rule, verdicts = rescore(read_comparison(args.file))
    print(f"{args.file}: rescored from raw fits (median over pairs), rule {rule.to_dict()}")
    for key, cell in verdicts.items():
        print(
            f"{key:26} x{cell.ratio:.2f} CI {cell.ratio_ci_low:.2f}-{cell.ratio_ci_high:.2f} "
            f"p_holm {cell.p_adjusted:.2g} n {cell.n_a}/{cell.n_b} {cell.verdict}: {cell.reason}"
        )


def cmd_tables(args: argparse.Namespace) -> None:
    if not SUMMARY.exists():
        sys.exit(f"no {SUMMARY}; run the 'summary' and 'power' steps first")
    print(evidence_tables.render(json.loads(SUMMARY.read_text())))


STEPS = {
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


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    aa = sub.add_parser("aa", help="run A/A gates and digest them")
    aa.add_argument("--gates", type=int, default=20)
    aa.add_argument("--repeats", type=int, default=5)
    slow = sub.add_parser("slowdown", help="run a gate whose side B has one core")
    slow.add_argument("--repeats", type=int, default=5)
    _power_options(sub.add_parser("power", help="replay the pooled A/A samples"))
    summary = sub.add_parser("summary", help="the A/A and slowdown figures from the digests")
    pairing = sub.add_parser("pairing", help="correlation of adjacent A and B processes")
    for step in (summary, pairing):
        _gates_option(step)
    contention = sub.add_parser("contention", help="process medians against CPU contention")
    contention.add_argument("file", help="a results file of kbench run --repeats R")
    rescore_step = sub.add_parser("rescore", help="re-decide a gate file with today's estimator")
    rescore_step.add_argument("file")
    sub.add_parser("tables", help="print the evidence tables from the summary JSON")
    digest_step = sub.add_parser("digest", help="digest the gate files not yet digested")
    digest_step.add_argument("--force", action="store_true", help="rewrite existing digests")
    return parser


def _power_options(power: argparse.ArgumentParser) -> None:
    power.add_argument("--repeats", type=int, nargs="+", default=[5, 10])
    power.add_argument("--sims", type=int, default=2000)
    power.add_argument("--seed", type=int, default=0)
    power.add_argument("--raw-pool", action="store_true", help="pool raw values across gates")
    power.add_argument(
        "--replace", action="store_true", help="draw with replacement (an R beyond the pool)"
    )
    _gates_option(power)


def _gates_option(step: argparse.ArgumentParser) -> None:
    step.add_argument(
        "--gates",
        type=Path,
        default=None,
        help=f"digests to read (default {DIGESTS}; a subfolder of an earlier timing "
        f"writes under {EARLIER}.<its name>)",
    )


def main() -> None:
    args = build_parser().parse_args()
    try:
        STEPS[args.step](args)
    except HarnessError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()

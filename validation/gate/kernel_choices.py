"""Do fast and slow processes run different kernels? (an experiment)

    python -m validation.gate.kernel_choices --cells cnn/torch,cnn/tensorflow,cnn/jax --processes 4

Each of ``--processes`` fresh processes per cell times the plugin's steps exactly as a
``gate`` worker does (``Session.time_steps``) while its libraries say what they chose:

* oneDNN (TensorFlow's and PyTorch's CPU kernels) with ``ONEDNN_VERBOSE=profile_create``
  prints one line per primitive it creates, naming the implementation it dispatched to
  (e.g. ``brg_conv_fwd:avx512_core``); the process's set of (primitive, implementation,
  shapes) is its kernel choice.
* XLA (JAX) with ``XLA_FLAGS=--xla_dump_to=DIR`` writes each compiled module's optimized
  HLO; the process's choice is the set of hashes of those texts, with the per-process
  module numbers taken out.

A cell whose processes all made the same choices cannot owe its spread across processes
to kernel selection, and a setting that makes the choice deterministic would not narrow
it. The report per cell: the step median of each process, the number of distinct choices
among the processes, and what differed. Raw figures go to ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.records import write_json_atomic
from harness.stats import coefficient_of_variation
from validation.gate.cell import ROOT, child_env, gate_cell

ONEDNN_LINE = re.compile(r"^onednn_verbose,.*create")
CACHE_OUTCOME = re.compile(r"create:cache_(hit|miss)")
MODULE_NUMBER = re.compile(r"module_\d+|\.\d+\b")


def child(plugin_name: str, backend: str) -> dict:
    """One process: the gate profile's step timing; its median step in ms."""
    return {"step_ms": gate_cell(plugin_name, backend).time_steps()["step"].median}


def onednn_choices(stdout: str) -> list[str]:
    """The distinct primitive creations oneDNN reported, without their timings."""
    choices = set()
    for line in stdout.splitlines():
        if ONEDNN_LINE.match(line):
            fields = line.split(",")
            line = ",".join(fields[:-1])  # the last field is the creation time
            choices.add(CACHE_OUTCOME.sub("create", line))
    return sorted(choices)


def xla_choices(folder: Path) -> list[str]:
    """Hashes of the optimized HLO modules XLA wrote, module numbers masked."""
    hashes = set()
    for path in folder.glob("*after_optimizations.txt"):
        text = MODULE_NUMBER.sub("#", path.read_text())
        hashes.add(hashlib.sha256(text.encode()).hexdigest()[:16])
    return sorted(hashes)


def run_process(plugin: str, backend: str) -> dict:
    """One fresh process with its libraries reporting; its step median and choices."""
    env = child_env(backend)
    env["ONEDNN_VERBOSE"] = "profile_create"
    with tempfile.TemporaryDirectory() as dump:
        if backend == "jax":
            env["XLA_FLAGS"] = f"--xla_dump_to={dump} --xla_dump_hlo_as_text"
        command = [sys.executable, "-m", "validation.gate.kernel_choices", "--child"]
        command += ["--plugin", plugin, "--backend", backend]
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"{plugin}/{backend} failed: {done.stderr.strip().splitlines()[-1:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["onednn"] = onednn_choices(done.stdout)
        result["xla"] = xla_choices(Path(dump)) if backend == "jax" else []
    return result


def summarize_cell(rows: list[dict]) -> dict:
    """How many distinct kernel choices the processes made, and which lines differed."""
    keys = [json.dumps([r["onednn"], r["xla"]]) for r in rows]
    every = [set(r["onednn"]) | set(r["xla"]) for r in rows]
    shared = set.intersection(*every)
    return {
        "step_ms": [r["step_ms"] for r in rows],
        "cv_step": coefficient_of_variation([r["step_ms"] for r in rows]),
        "choices_per_process": [len(e) for e in every],
        "distinct_choice_sets": len(set(keys)),
        "differing": sorted(set.union(*every) - shared)[:20],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="cnn/torch,cnn/tensorflow,cnn/jax")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("results/runs/experiments/kernels.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plugin", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.child:
        print(json.dumps(child(args.plugin, args.backend)))
        return
    if args.processes < 2:
        sys.exit(f"--processes must be at least 2. Received: {args.processes}")
    report = {}
    for cell in args.cells.split(","):
        plugin, backend = cell.split("/")
        rows = [run_process(plugin, backend) for _ in range(args.processes)]
        report[cell] = {"processes": rows, **summarize_cell(rows)}
        shown = {k: v for k, v in report[cell].items() if k not in ("processes", "differing")}
        print(cell, json.dumps(shown), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, report)


if __name__ == "__main__":
    main()

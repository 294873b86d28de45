"""What stalls a worker's fit for a tenth of a second on an idle host? (an experiment)

    python -m validation.gate.stalls [--plugin dense_mlp] [--backend jax] [--processes 4]
        [--fits 120] [--steps 128] [--out FILE]

Each of ``--processes`` fresh processes sets the cell up as a ``gate`` worker does, warms it,
then times ``--fits`` fits of ``--steps`` steps each (``Session.timed_fit``: to the end of
the last step, after a barrier) in blocks of 10 that alternate Python's cyclic garbage
collector on and off (``gc.disable()``). For every fit it records the wall seconds, the
process's CPU seconds, the host's busy CPU seconds not spent by this process, and each
collection the collector ran during it (generation, seconds, from ``gc.callbacks``). A fit
is a *stall* when it takes more than ``STALL_S`` longer than the median of its process.

If the collector causes the stalls, they happen in the "on" blocks only, and the fits that
ran a generation-2 collection are the slow ones; if another process does, the host's
others-busy seconds rise in the stalled fits.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness.records import write_json_atomic
from validation.gate.cell import ROOT, child_env, gate_cell

STALL_S = 0.06  # half the 0.12 s spells the 2026-12-05 gate showed
BLOCK = 10
OUT = Path("validation/results/stalls.json")


class Collections:
    """The collector's runs, from ``gc.callbacks``: (generation, seconds) each."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.runs.append((int(info["generation"]), time.perf_counter() - self._started))

    def take(self) -> list[tuple[int, float]]:
        runs, self.runs = self.runs, []
        return runs


def _host_busy_s() -> float:
    """All cores' busy seconds since boot (/proc/stat; user+nice+system+irq+softirq)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in fields]
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]
    return busy / os.sysconf("SC_CLK_TCK")


def child(plugin: str, backend: str, fits: int, steps: int) -> dict:
    """One process: warm-up, then ``fits`` timed fits, collector on and off by blocks."""
    cell = gate_cell(plugin, backend)
    session = cell.session
    model = session.build(cell.num_classes)
    rows = steps * session.batch_size
    x, y = cell.x[:rows], cell.y[:rows]
    for _ in range(3):
        session.timed_fit(model, x, y)
    collections = Collections()
    gc.callbacks.append(collections)
    records = []
    for index in range(fits):
        collector_on = (index // BLOCK) % 2 == 0
        if collector_on:
            gc.enable()
        else:
            gc.disable()
        collections.take()
        cpu0, busy0 = time.process_time(), _host_busy_s()
        seconds = session.timed_fit(model, x, y)
        cpu, busy = time.process_time() - cpu0, _host_busy_s() - busy0
        records.append({
            "gc_on": collector_on,
            "s": seconds,
            "cpu_s": cpu,
            "others_busy_s": max(0.0, busy - cpu),
            "collections": collections.take(),
        })  # fmt: skip
    gc.enable()
    return {"fits": records, "gc_counts": gc.get_count(), "objects": len(gc.get_objects())}


def summarize(processes: list[dict]) -> dict:
    """Per collector state: fits, stalls and their share; how many stalls ran a
    generation-2 collection; the seconds the collector took in stalled and other fits."""
    out: dict = {}
    for state in (True, False):
        fits = stalls = gen2_in_stalls = 0
        gc_in_stalls, gc_elsewhere, others_stalls, others_elsewhere = [], [], [], []
        for process in processes:
            median = statistics.median(f["s"] for f in process["fits"])
            for fit in process["fits"]:
                if fit["gc_on"] is not state:
                    continue
                fits += 1
                collected = sum(s for _, s in fit["collections"])
                stalled = fit["s"] > median + STALL_S
                stalls += stalled
                gen2_in_stalls += stalled and any(g == 2 for g, _ in fit["collections"])
                (gc_in_stalls if stalled else gc_elsewhere).append(collected)
                (others_stalls if stalled else others_elsewhere).append(fit["others_busy_s"])
        out["collector on" if state else "collector off"] = {
            "fits": fits,
            "stalls": stalls,
            "stall_share": stalls / fits if fits else None,
            "stalls_with_a_gen2_collection": gen2_in_stalls,
            "gc_s_median_in_stalls": statistics.median(gc_in_stalls) if gc_in_stalls else None,
            "gc_s_median_elsewhere": statistics.median(gc_elsewhere) if gc_elsewhere else None,
            "others_busy_s_median_in_stalls": statistics.median(others_stalls)
            if others_stalls
            else None,
            "others_busy_s_median_elsewhere": statistics.median(others_elsewhere)
            if others_elsewhere
            else None,
        }
    gen2 = [s for p in processes for f in p["fits"] for g, s in f["collections"] if g == 2]
    out["gen2_collections"] = {"count": len(gen2), "median_s": statistics.median(gen2) if gen2
                               else None, "max_s": max(gen2) if gen2 else None}  # fmt: skip
    out["fit_median_s"] = [statistics.median(f["s"] for f in p["fits"]) for p in processes]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="dense_mlp")
    parser.add_argument("--backend", default="jax")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--fits", type=int, default=120)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.plugin, args.backend, args.fits, args.steps)))
        return 0
    processes = []
    for index in range(args.processes):
        command = [sys.executable, "-m", "validation.gate.stalls", "--child", "--plugin",
                   args.plugin, "--backend", args.backend, "--fits", str(args.fits),
                   "--steps", str(args.steps)]  # fmt: skip
        done = subprocess.run(command, env=child_env(args.backend), capture_output=True,
                              text=True, cwd=ROOT)  # fmt: skip
        if done.returncode != 0:
            print(f"process {index} failed: {done.stderr.strip()[-500:]}", file=sys.stderr)
            return 1
        processes.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"process {index}: {len(processes[-1]['fits'])} fits", flush=True)
    summary = summarize(processes)
    print(json.dumps(summary, indent=2))
    record = {"plugin": args.plugin, "backend": args.backend, "steps": args.steps,
              "stall_s": STALL_S, "summary": summary, "processes": processes}  # fmt: skip
    write_json_atomic(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())

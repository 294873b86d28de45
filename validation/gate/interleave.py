"""Does alternating two warm workers at a fine grain remove the level per process? (an experiment)

    python -m validation.gate.interleave --cells dense_mlp/jax,cnn/torch --process-pairs 8
    python -m validation.gate.interleave --summarize results/runs/experiments/interleave.json

A gate runs its A and B processes one after another, so a slow spell of the machine that
lasts one process (15 s here) lands on one side only. This experiment keeps one warmed-up
worker of each side alive at once, both built exactly as a ``gate`` worker builds them
(``Session``: the same model, data, seed and N), and alternates their timed windows: the
parent asks A for one N / 2N-step fit pair, waits for it, then asks B, then B, A, and so
on, so only one side computes at a time and the two sides' samples lie about a second
apart. Both sides run the same interpreter (an A/A comparison), so every difference
between them is noise.

Per cell it reports, from the same processes:

* the CV across processes of each side's per-process median (what the gate sees today);
* the sd of log(B/A) over the process pairs, paired as they ran (both alive at once) and
  unpaired (each B against the A of the next pair, as two separately run processes);
  the share of the variance of log(B/A) the pairing removes; and the robust sd (1.4826 x
  MAD) of the round-wise log(b_k / a_k) inside a pair;
* the CPU seconds the waiting side used while the other timed (its thread pools spinning
  would slow the side that computes);
* the process pairs a paired test would need to detect a 10% slowdown in 95% of gates at
  the gate's smallest per-cell level, against the processes per side of today's unpaired
  test at the same spread.

The raw per-round fit times go to ``--out``; ``--summarize FILE`` recomputes the summary.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.records import write_json_atomic
from harness.stats import coefficient_of_variation
from validation.gate.cell import PROFILE, ROOT, child_env, gate_cell

EXTRA_ROUNDS = 3  # rounds beyond the profile's minimum, so the warm-up can be dropped
ALPHA = 0.01 / 6  # the gate's alpha, Holm's bound for the first of six cells
POWER_Z = 1.645  # 95% power
SLOWDOWN = 0.10


def serve(plugin_name: str, backend: str) -> None:
    """Child side: build the cell as a gate worker does, then time a pair per request.

    Protocol (a JSON line each way): the child sends ``{"built": true}`` once its model
    has taken its first step; ``{"calibrate": true}`` gets ``{"steps": N}`` back (the
    gate's calibration, timed while the other worker waits); each request
    ``{"steps": N, "flip": bool}`` gets one short/long pair back with the process CPU time
    before and after it; ``{"stop": true}`` ends it.
    """
    from harness.worker import cycle_samples

    cell = gate_cell(plugin_name, backend)
    session, x, y = cell.session, cell.x, cell.y
    model = session.build(cell.num_classes)
    batch = session.batch_size
    session.timed_fit(model, *cycle_samples(x, y, batch), shuffle=False)
    _send({"built": True})
    sets: dict[int, tuple[Any, Any]] = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("stop"):
            return
        if request.get("calibrate"):
            _send({"steps": session.calibrate_window_steps(model, x, y)})
            continue
        steps = request["steps"]
        if steps not in sets:
            sets[steps] = (
                cycle_samples(x, y, steps * batch),
                cycle_samples(x, y, 2 * steps * batch),
            )
        short_set, long_set = sets[steps]
        cpu_before = time.process_time()
        fits = [short_set, long_set][:: -1 if request["flip"] else 1]
        seconds = [session.timed_fit(model, *data) for data in fits]
        if request["flip"]:
            seconds.reverse()
        _send(
            {
                "short_s": seconds[0],
                "long_s": seconds[1],
                "cpu_before": cpu_before,
                "cpu_after": time.process_time(),
            }
        )


def _send(message: dict) -> None:
    print(json.dumps(message), flush=True)


class Worker:
    """One serving child process, spoken to over its stdin and stdout."""

    def __init__(self, plugin: str, backend: str):
        env = child_env(backend)
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        command = [sys.executable, "-m", "validation.gate.interleave", "--serve", plugin, backend]
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def receive(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with code {self.process.wait()}")
        return json.loads(line)

    def ask(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self.receive()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write(json.dumps({"stop": True}) + "\n")
            self.process.stdin.flush()
        self.process.wait(timeout=60)


def run_pair(plugin: str, backend: str, steps: int | None, rounds: int, first: str) -> dict:
    """One process pair: both started and built at once; without ``steps``, A calibrates N
    while B waits (as a gate's first process calibrates alone); then ``rounds`` rounds of
    alternating pairs (``first`` opens round 0; the order flips every round)."""
    started = time.perf_counter()
    workers = {"a": Worker(plugin, backend), "b": Worker(plugin, backend)}
    try:
        for worker in workers.values():
            worker.receive()  # built
        steps = steps or workers["a"].ask({"calibrate": True})["steps"]
        ready = time.perf_counter()
        order = [first, "b" if first == "a" else "a"]
        fits: dict[str, list[dict]] = {"a": [], "b": []}
        for index in range(rounds):
            for side in order if index % 2 == 0 else order[::-1]:
                request = {"steps": steps, "flip": index % 2 == 1}
                fits[side].append(workers[side].ask(request))
    finally:
        for worker in workers.values():
            worker.stop()
    return {
        "steps": steps,
        "first": first,
        "start_s": ready - started,
        "wall_s": time.perf_counter() - started,
        "fits": fits,
    }


def marginal_ms(fit: dict, steps: int) -> float:
    return (fit["long_s"] - fit["short_s"]) / steps * 1000.0


def process_summary(fits: list[dict], steps: int, warmup: int) -> float:
    """A process's figure as the gate computes it: the median of the kept pairs."""
    return statistics.median(marginal_ms(f, steps) for f in fits[warmup:])


def idle_cpu_s(fits: list[dict]) -> list[float]:
    """CPU seconds a worker used between its own timed pairs (while the other timed)."""
    return [nxt["cpu_before"] - cur["cpu_after"] for cur, nxt in itertools.pairwise(fits)]


def robust_sd(values: list[float]) -> float:
    """1.4826 x the median absolute deviation: an sd that a few wild rounds do not set."""
    center = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - center) for v in values)


def n_needed(sd: float) -> float:
    """Samples of log(B/A) a normal-theory test needs to flag a 10% slowdown at ``ALPHA`` in
    95% of gates: process pairs for the paired test, or processes per side for the unpaired
    one (whose sd of log(B/A) already holds both sides' spread: var(mean B - mean A) =
    2 sigma^2 / n = sd^2 / n)."""
    z = statistics.NormalDist().inv_cdf(1 - ALPHA) + POWER_Z
    return (z * sd / math.log1p(SLOWDOWN)) ** 2


def summarize_cell(pairs: list[dict], steady_start: Any) -> dict:
    """The cell's figures from its process pairs (see the module docstring)."""
    medians: dict[str, list[float]] = {"a": [], "b": []}
    roundwise, idle = [], []
    for pair in pairs:
        steps = pair["steps"]
        series = {s: [marginal_ms(f, steps) for f in pair["fits"][s]] for s in "ab"}
        warmup = max(steady_start([v / 1000 for v in series[s]]) for s in "ab")
        for side in "ab":
            medians[side].append(process_summary(pair["fits"][side], steps, warmup))
            idle += idle_cpu_s(pair["fits"][side])
        roundwise += [
            math.log(b / a)
            for a, b in zip(series["a"][warmup:], series["b"][warmup:], strict=True)
            if a > 0 and b > 0
        ]
    a, b = medians["a"], medians["b"]
    paired = [math.log(y / x) for x, y in zip(a, b, strict=True)]
    unpaired = [math.log(y / x) for x, y in zip(a[1:] + a[:1], b, strict=True)]
    sd_paired, sd_unpaired = statistics.stdev(paired), statistics.stdev(unpaired)
    wall = statistics.fmean(p["wall_s"] for p in pairs)
    return {
        "process_pairs": len(pairs),
        "cv_a": coefficient_of_variation(a),
        "cv_b": coefficient_of_variation(b),
        "sd_log_ratio_paired": sd_paired,
        "sd_log_ratio_unpaired": sd_unpaired,
        "variance_removed": 1 - sd_paired**2 / sd_unpaired**2,
        "sd_log_ratio_roundwise": robust_sd(roundwise),
        "idle_cpu_s_median": statistics.median(idle),
        "idle_cpu_s_max": max(idle),
        "wall_s_per_process_pair": wall,
        "pairs_needed_paired": n_needed(sd_paired),
        "per_side_needed_unpaired": n_needed(sd_unpaired),
        "median_ms_a": statistics.median(a),
        "median_ms_b": statistics.median(b),
    }


def summarize(raw: dict) -> dict:
    from harness.run import get_profile

    steady_start = get_profile(PROFILE).timing.steady_start
    return {cell: summarize_cell(pairs, steady_start) for cell, pairs in raw["cells"].items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cells",
        default="dense_mlp/jax,dense_mlp/tensorflow,dense_mlp/torch,"
        "cnn/jax,cnn/tensorflow,cnn/torch",
    )
    parser.add_argument("--process-pairs", type=int, default=8)
    parser.add_argument(
        "--out", type=Path, default=Path("results/runs/experiments/interleave.json")
    )
    parser.add_argument("--summarize", type=Path, help="recompute the summary of a raw file")
    parser.add_argument("--serve", nargs=2, metavar=("PLUGIN", "BACKEND"), help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.serve:
        serve(*args.serve)
        return
    if args.summarize:
        print(json.dumps(summarize(json.loads(args.summarize.read_text())), indent=2))
        return
    if args.process_pairs < 3:
        sys.exit(f"--process-pairs must be at least 3. Received: {args.process_pairs}")
    from harness.run import get_profile

    rounds = get_profile(PROFILE).timing.min_windows + EXTRA_ROUNDS
    raw: dict[str, Any] = {"profile": PROFILE, "rounds": rounds, "cells": {}}
    for cell in args.cells.split(","):
        plugin, backend = cell.split("/")
        steps = None
        raw["cells"][cell] = []
        for index in range(args.process_pairs):
            pair = run_pair(plugin, backend, steps, rounds, first="ab"[index % 2])
            steps = pair["steps"]  # the first pair's calibration, as a gate's first process
            raw["cells"][cell].append(pair)
            a = process_summary(pair["fits"]["a"], steps, 1)
            b = process_summary(pair["fits"]["b"], steps, 1)
            print(
                f"{cell} pair {index}: A {a:.3f} B {b:.3f} ms, {pair['wall_s']:.1f} s", flush=True
            )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, raw)
    summary = summarize(raw)
    raw["summary"] = summary
    write_json_atomic(args.out, raw)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

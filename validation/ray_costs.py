"""What ``--executor ray`` costs, and what a second node buys (an experiment).

    python -m validation.ray_costs [--rounds 3] [--out FILE]

Starts Ray clusters on this machine (``ray.cluster_utils.Cluster``: a head without CPUs,
plus worker nodes) and times whole ``kbench run`` commands, alternating the executors in
each round so that drift hits all alike:

* **per-process overhead**: 24 cells that a plugin skips (no worker subprocess, so what is
  left is the executor's own cost: a Ray task's round trip, the dataset written on the
  node, the record returned) and 6; the slope of wall time against cells is the added
  seconds per process, the intercept the connection to the cluster.
* **real cells**: ``dense_mlp`` on three backends, smoke profile, 2 processes each, run
  locally, on a one-node and on a two-node cluster of this machine.

Two nodes on one machine share its cores, so the two-node figure is what this harness's
scheduling allows here, not what two machines would give.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from harness.records import write_json_atomic

SKIPPED = """
from harness.plugin import ModelPlugin


def build(input_shape, num_classes):
    raise AssertionError("never built: every cell of these plugins is skipped")


{plugins}
"""
SMOKE = ["--profile", "smoke", "--dataset", "synthetic", "--device", "cpu"]


def skipped_plugins(folder: Path, count: int) -> Path:
    """A plugin file of ``count`` plugins that skip every CPU cell."""
    lines = [
        f'P{i} = ModelPlugin("noop{i}", "lab", "skipped", "flat", build, skip={{"cpu": "lab"}})'
        for i in range(count)
    ]
    path = folder / "noop_plugins.py"
    path.write_text(textwrap.dedent(SKIPPED).format(plugins="\n".join(lines)))
    return path


def timed_run(args: list[str], out: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", *args, "--out", str(out)],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"kbench run failed: {done.stderr.strip()[-500:]}")
    return wall


def cluster(nodes: int):
    from ray.cluster_utils import Cluster

    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(nodes):
        made.add_node(num_cpus=1)
    made.wait_for_nodes()
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("validation/results/ray_costs.json"))
    args = parser.parse_args(argv)
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        noop = skipped_plugins(folder, 8)
        one, two = cluster(1), cluster(2)
        try:
            for round_ in range(args.rounds):
                for name, executor in (
                    ("local", []),
                    ("ray-1", ["--executor", "ray", "--address", one.address]),
                    ("ray-2", ["--executor", "ray", "--address", two.address]),
                ):
                    for cells, plugins in ((6, 2), (24, 8)):
                        selection = [f"noop{i}" for i in range(plugins)]
                        run = ["-p", ",".join(selection), "--plugin-path", str(noop), *SMOKE]
                        wall = timed_run([*run, *executor], folder / "r.json")
                        figures.setdefault(f"skipped-{cells}/{name}", []).append(wall)
                    real = ["-p", "dense_mlp", "--repeats", "2", *SMOKE]
                    wall = timed_run([*real, *executor], folder / "r.json")
                    figures.setdefault(f"dense_mlp-x3-r2/{name}", []).append(wall)
                print(f"round {round_ + 1}: " + json.dumps({k: v[-1] for k, v in figures.items()}))
        finally:
            one.shutdown()
            two.shutdown()
    summary = summarise(figures)
    write_json_atomic(args.out, {"created": _now(), "walls_s": figures, "summary": summary})
    for line in summary["lines"]:
        print(line)
    return 0


def summarise(figures: dict[str, list[float]]) -> dict:
    median = {key: statistics.median(values) for key, values in figures.items()}
    lines, per_process = [], {}
    for name in ("local", "ray-1", "ray-2"):
        slope = (median[f"skipped-24/{name}"] - median[f"skipped-6/{name}"]) / 18
        fixed = median[f"skipped-6/{name}"] - 6 * slope
        per_process[name] = slope
        lines.append(
            f"{name}: {slope * 1000:.0f} ms per process, {fixed:.1f} s per run "
            f"(skipped cells); dense_mlp x3 backends x2 processes: "
            f"{median[f'dense_mlp-x3-r2/{name}']:.1f} s"
        )
    return {"median_s": median, "per_process_s": per_process, "lines": lines}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


if __name__ == "__main__":
    sys.exit(main())

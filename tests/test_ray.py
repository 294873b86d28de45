"""``--executor ray`` against a real Ray cluster of two worker nodes started on this machine
(``ray.cluster_utils.Cluster``): the same plan gives the same cells as a local run, a lost
node fails its own cell only, a gate keeps each cell on one node, and Ray is needed only
when asked for.

Every test that starts the cluster is in the ``e2e`` tier (``nox -s e2e``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.records import read_run
from tests.live_workers import live_workers

ray_cluster_utils = pytest.importorskip("ray.cluster_utils")

KBENCH = [sys.executable, "-m", "harness"]
SMOKE = ["--profile", "smoke", "--dataset", "synthetic", "--device", "cpu"]
TAG = f"kbench-ray-test-{uuid.uuid4().hex}"


class TwoNodes:
    """A head without CPUs (it runs no cell) and two worker nodes of one CPU each; every
    process the cluster starts carries ``TAG`` in its environment."""

    def __init__(self) -> None:
        with tagged():
            self.cluster = ray_cluster_utils.Cluster(
                initialize_head=True, head_node_args={"num_cpus": 0}
            )
        self.workers = [self.add_node() for _ in range(2)]
        self.address = self.cluster.address

    def add_node(self):
        with tagged():
            node = self.cluster.add_node(num_cpus=1)
            self.cluster.wait_for_nodes()
        return node

    def node_of(self, pid: int):
        """The worker node whose raylet is an ancestor of ``pid``."""
        raylets = {node.all_processes["raylet"][0].process.pid: node for node in self.workers}
        while pid > 1:
            if pid in raylets:
                return raylets[pid]
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        raise AssertionError("the worker is not under a worker node's raylet")


@contextmanager
def tagged() -> Iterator[None]:
    """Processes started in the block carry ``TAG`` in their environment."""
    os.environ["KBENCH_TEST_TAG"] = TAG
    try:
        yield
    finally:
        del os.environ["KBENCH_TEST_TAG"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[TwoNodes]:
    nodes = TwoNodes()
    yield nodes
    nodes.cluster.shutdown()


ENV = {**os.environ, "COLUMNS": "200"}


def kbench(*args: str, timeout_s: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*KBENCH, *args], capture_output=True, text=True, timeout=timeout_s, env=ENV
    )


def start_kbench(args: list[str]) -> subprocess.Popen:
    """``kbench`` started in the background, its output piped."""
    return subprocess.Popen(
        [*KBENCH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )


def gone_within(pid: int, timeout_s: float) -> bool:
    """Whether worker ``pid`` is gone within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while pid in workers() and time.monotonic() < deadline:
        time.sleep(0.5)
    return pid not in workers()


def workers() -> list[int]:
    """Pids of the live worker processes the cluster started."""
    return live_workers(TAG, "harness.worker.cell")


@pytest.mark.e2e
def test_the_cluster_gives_the_cells_a_local_run_gives(cluster, tmp_path):
    local, remote = tmp_path / "local.json", tmp_path / "ray.json"
    cells = ["run", "-p", "dense_mlp", "-b", "jax,torch", *SMOKE]
    done = kbench(*cells, "--out", str(local))
    assert done.returncode == 0, done.stdout + done.stderr
    done = kbench(*cells, "--executor", "ray", "--address", cluster.address, "--out", str(remote))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ray cluster of 2 nodes" in done.stdout
    assert done.stdout.count("ran on ") == 2, done.stdout  # one line per node

    here, there = read_run(local), read_run(remote)
    assert [c.cell.key for c in there.cells] == [c.cell.key for c in here.cells]
    assert [c.status for c in there.cells] == [c.status for c in here.cells]
    assert [c.params for c in there.cells] == [c.params for c in here.cells]
    executor = there.config["executor"]
    assert executor["kind"] == "ray"
    node_ids = {node["node_id"] for node in executor["nodes"]}
    assert node_ids == {node.node_id for node in cluster.workers}
    ran_on = [c.machine["ray_node"] for c in there.cells]
    assert set(ran_on) == node_ids, "two cells, two free nodes: one cell each"
    assert all(c.machine["hostname"] and c.machine["cores"] for c in there.cells)
    assert here.config["executor"] == {"kind": "local"}


@pytest.mark.e2e
def test_a_lost_node_fails_its_cell_and_the_others_land(cluster, user_plugins, tmp_path):
    """sleepy/jax and sleepy/torch take the two nodes (and never finish building); one of
    their nodes is removed: that cell fails, the other sleepy cell times out, and both
    dense_mlp cells then run on the node that is left."""
    out = tmp_path / "run.json"
    args = [
        *["run", "-p", "sleepy", "-p", "dense_mlp", "-b", "jax,torch", *SMOKE],
        *["--plugin-path", str(user_plugins), "--timeout", "45"],
        *["--executor", "ray", "--address", cluster.address, "--out", str(out)],
    ]
    run = start_kbench(args)
    try:
        sleeper, key = _wait_for_sleepy_worker(run)
        doomed = cluster.node_of(sleeper)
        cluster.cluster.remove_node(doomed, allow_graceful=False)
        stdout, stderr = run.communicate(timeout=400)
    finally:
        run.kill()
    assert run.returncode == 1, stdout + stderr
    cells = {c.cell.key: c for c in read_run(out).cells}
    lost = cells.pop(key)
    assert lost.status.value == "failed", lost
    assert "was lost while this process ran" in lost.error
    assert lost.machine["ray_node"] == doomed.node_id
    other_sleepy = next(k for k in cells if k.startswith("sleepy/"))
    assert cells.pop(other_sleepy).status.value == "timeout"
    assert all(c.ok for c in cells.values()), cells
    assert {c.machine["ray_node"] for c in cells.values()} != {doomed.node_id}
    assert gone_within(sleeper, 30), "the lost node's worker outlived its node"
    survivor = next(n for n in cluster.workers if n is not doomed)
    cluster.workers = [survivor, cluster.add_node()]  # two nodes again


def _wait_for_sleepy_worker(run: subprocess.Popen, timeout_s: float = 120) -> tuple[int, str]:
    """The pid and cell of a worker running a sleepy cell, once one has started."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid in workers():
            try:  # a worker that ended since takes its spec file with it
                spec = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-3]
                cell = json.loads(Path(spec.decode()).read_text())["cell"]
            except (OSError, IndexError):
                continue
            if cell["plugin"] == "sleepy":
                return pid, f"{cell['plugin']}/{cell['backend']}/{cell['device']}"
        assert run.poll() is None, run.communicate()
        time.sleep(0.5)
    raise AssertionError("no sleepy cell's worker started")


@pytest.mark.e2e
def test_ctrl_c_keeps_what_finished_and_stops_the_cluster_workers(cluster, user_plugins, tmp_path):
    out = tmp_path / "run.json"
    args = [
        *["run", "-p", "dense_mlp", "-p", "sleepy", "-b", "jax", *SMOKE],
        *["--plugin-path", str(user_plugins)],
        *["--executor", "ray", "--address", cluster.address, "--out", str(out)],
    ]
    run = start_kbench(args)
    try:
        sleeper, _ = _wait_for_sleepy_worker(run)
        _wait_for_line(run, "ok dense_mlp/jax/cpu")
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 130, stdout + stderr
    assert f"kbench run --resume {out}" in stderr
    cells = {c.cell.key: c.status.value for c in read_run(out).cells}
    assert cells == {"dense_mlp/jax/cpu": "ok", "sleepy/jax/cpu": "interrupted"}
    assert gone_within(sleeper, 30), "a cancelled task's worker outlived it"


def _wait_for_line(run: subprocess.Popen, text: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = run.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"no line with {text!r} in: {''.join(seen)}")


@pytest.mark.e2e
def test_a_gate_keeps_each_cell_on_one_node(cluster, tmp_path, aa_gate_decided):
    out = tmp_path / "ab.json"
    done = kbench(
        *["ab", "-p", "dense_mlp", "-b", "jax,torch", *SMOKE, "--repeats", "2", "--no-confirm"],
        *["--executor", "ray", "--address", cluster.address, "--out", str(out)],
    )
    record = json.loads(out.read_text())
    aa_gate_decided(done.returncode, record, done.stdout + done.stderr)
    for key in ("dense_mlp/jax/cpu", "dense_mlp/torch/cpu"):
        nodes = {
            c["machine"]["ray_node"]
            for side in ("a", "b")
            for c in record["runs"][side]["cells"]
            if f"{c['plugin']}/{c['backend']}/{c['device']}" == key
        }
        assert len(nodes) == 1, f"{key} ran on {nodes}"


def test_address_needs_the_ray_executor():
    done = kbench("run", "-p", "dense_mlp", *SMOKE, "--address", "127.0.0.1:6379")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "kbench: error: --address needs --executor ray. Received: address=127.0.0.1:6379"
    ]


def test_without_ray_one_line_says_how_to_install(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from harness.cli import main\n"
        "sys.exit(main(['run', '-p', 'dense_mlp', '--profile', 'smoke', '--dataset', "
        f"'synthetic', '--executor', 'ray', '--out', {str(tmp_path / 'r.json')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'keras-backend-bench[ray]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_a_task_that_fails_fails_its_process_and_keeps_its_node(cluster, tmp_path):
    """An error inside the task (here: a side's interpreter that does not exist) is the
    process's failure, not its node's: the node stays in the cluster's pool."""
    from harness.executors.cluster import connect
    from harness.records.schema import Cell
    from harness.run.executor import WorkerJob
    from harness.run.settings import RunSettings

    data = tmp_path / "synthetic.npz"
    data.write_bytes(b"not read: the worker never starts")
    job = WorkerJob(data, "synthetic", RunSettings(profile="smoke"), python=("/no/such/python",))
    executor = connect(cluster.address)
    try:
        processes: dict = {"": {}}
        cell = Cell("dense_mlp", "jax", "cpu")
        assert executor.run_until_stopped([cell], {"": job}, processes, range(1)) is None
    finally:
        executor.close()
    (result,) = processes[""][cell.key]
    assert result.status.value == "failed"
    assert "the Ray task on" in result.error
    assert "FileNotFoundError" in result.error
    assert executor.lost == {}

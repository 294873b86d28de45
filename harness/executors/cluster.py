"""``--executor ray``: the worker processes of a run or a gate on the nodes of a Ray cluster.

Each worker process is one Ray task that starts the same fresh ``harness.worker.cell``
subprocess on its node, with the same environment settings as a local run (the task drops
the ``OMP_NUM_THREADS`` that Ray sets for its own workers). Timing isolation: a task is
pinned to its node and asks for all of the node's CPUs, so no other Ray task runs there
while a cell is timed, and this driver keeps at most one task in flight per node. A cell
keeps every process, of both sides of a gate, on one node: no cell pools the samples of
two machines. Records come back as tasks finish; a node lost mid-task fails that process
with the reason (timed work is never retried) and the other nodes go on.

Ray is imported here only, and only when ``--executor ray`` is asked for.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import signal
import sys
import tempfile
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.backends import parent as backends
from harness.errors import UsageError
from harness.records.environment import cpu_model
from harness.records.schema import Cell, CellResult, Status
from harness.run.executor import Observer, Processes, WorkerJob
from harness.run.interrupt import SIGNALS, Interrupted, interruptible
from harness.run.launch import run_process
from harness.run.processes import next_process, schedule
from harness.run.spec import Process

RAY_EXTRA = "pip install 'keras-backend-bench[ray]'"
# Set by Ray in its workers (to the task's CPU count); a local worker chooses its own.
RAY_THREAD_VARIABLES = ("OMP_NUM_THREADS",)
WAIT_S = 0.5


@dataclass(frozen=True)
class Node:
    """One alive node of the cluster, as Ray reports it."""

    node_id: str
    hostname: str
    address: str
    cpus: float
    gpus: float

    @property
    def label(self) -> str:
        return f"{self.hostname} ({self.address}, node {self.node_id[:8]})"


def connect(address: str | None) -> RayExecutor:
    """Connect to the cluster at ``address`` (none: the one ``ray start`` runs here, or a
    one-node cluster of this machine), or a one-line error."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"--executor ray needs Ray: {RAY_EXTRA}") from None
    handlers = {s: signal.getsignal(s) for s in SIGNALS}
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UsageError(f"could not connect to the Ray cluster at {address}: {first}") from None
    finally:  # ray.init installs a SIGTERM handler of its own; the run's must stay in force
        for s, handler in handlers.items():
            signal.signal(s, handler)
    nodes = alive_nodes()
    if not nodes:
        ray.shutdown()
        raise UsageError(f"the Ray cluster at {address} has no alive node with a CPU")
    return RayExecutor(address, nodes)


def alive_nodes() -> list[Node]:
    """The cluster's alive nodes that can run a worker (at least one CPU)."""
    import ray

    nodes = []
    for info in ray.nodes():
        resources = info.get("Resources", {})
        if info.get("Alive") and resources.get("CPU", 0) >= 1:
            nodes.append(
                Node(
                    info["NodeID"],
                    info.get("NodeManagerHostname", "?"),
                    info.get("NodeManagerAddress", "?"),
                    resources["CPU"],
                    resources.get("GPU", 0.0),
                )
            )
    return sorted(nodes, key=lambda n: (n.hostname, n.address, n.node_id))


@dataclass
class _Lane:
    """The cell a node is running, and the steps (side, process) it has left."""

    cell: Cell
    steps: Iterator[tuple[str, Process]]


@dataclass
class RayExecutor:
    """Cells on the nodes of a Ray cluster, one timed worker per node at a time."""

    address: str | None
    nodes: list[Node]
    placement: dict[str, str] = field(default_factory=dict)  # cell key -> its node's id
    lost: dict[str, str] = field(default_factory=dict)  # node id -> why it is out
    _in_flight: dict[Any, tuple[Node, Cell, str]] = field(default_factory=dict)

    @property
    def gpu_present(self) -> bool:
        return any(node.gpus >= 1 for node in self.nodes)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "ray",
            "address": self.address,
            "nodes": [asdict(node) for node in self.nodes],
            **({"lost": dict(self.lost)} if self.lost else {}),
        }

    def close(self) -> None:
        import ray

        ray.shutdown()

    def run_until_stopped(
        self,
        cells: Sequence[Cell],
        jobs: Mapping[str, WorkerJob],
        processes: Processes,
        repeats: range,
        observe: Observer | None = None,
    ) -> str | None:
        """Every process of ``cells`` (as :func:`harness.executors.local.run_processes` would run
        them), spread over the nodes; stopped by a signal, the tasks in flight are cancelled
        (their workers die with them) and the signal's name returned."""
        try:
            with interruptible():
                self._run(cells, jobs, processes, repeats, observe)
        except Interrupted as stop:
            self._cancel()
            return stop.name
        return None

    def _run(
        self,
        cells: Sequence[Cell],
        jobs: Mapping[str, WorkerJob],
        processes: Processes,
        repeats: range,
        observe: Observer | None,
    ) -> None:
        import ray

        sides = list(jobs)
        shared = {path: ray.put(Path(path).read_bytes()) for path in _paths(jobs)}
        data = {side: shared[str(job.dataset_path)] for side, job in jobs.items()}
        queue = deque(cells)
        lanes: dict[str, _Lane] = {}
        while True:
            for node in self._free_nodes():
                self._start_next(node, lanes, queue, sides, processes, repeats, jobs, data, observe)
            if not self._in_flight:
                break
            ready, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=WAIT_S)
            if not ready:  # back in Python now and then, so that a signal is handled
                continue
            node, cell, side = self._in_flight.pop(ready[0])
            result = self._result(ready[0], node, cell, jobs[side])
            if result is None:  # the node vanished before the task started: place it again
                lanes.pop(node.node_id, None)
                self.placement.pop(cell.key, None)
                queue.appendleft(cell)
                continue
            if node.node_id in self.lost:
                lanes.pop(node.node_id, None)
            processes[side][cell.key].append(result)
            if observe:
                observe(side, cell, result)
        for cell in queue:  # no node can run them
            _unplaceable(cell, sides, processes, jobs, self._why_unplaceable(cell), observe)

    def _free_nodes(self) -> list[Node]:
        busy = {node.node_id for node, _, _ in self._in_flight.values()}
        return [n for n in self.nodes if n.node_id not in self.lost and n.node_id not in busy]

    def _start_next(
        self,
        node: Node,
        lanes: dict[str, _Lane],
        queue: deque[Cell],
        sides: Sequence[str],
        processes: Processes,
        repeats: range,
        jobs: Mapping[str, WorkerJob],
        data: Mapping[str, Any],
        observe: Observer | None,
    ) -> None:
        """Submit the next process of the node's cell, or of the next cell it can run."""
        while True:
            lane = lanes.get(node.node_id)
            if lane is None:
                cell = next((c for c in queue if self._fits(c, node, processes)), None)
                if cell is None:
                    return
                queue.remove(cell)
                self.placement[cell.key] = node.node_id
                lane = lanes[node.node_id] = _Lane(cell, _steps(cell, sides, processes, repeats))
            step = next(lane.steps, None)
            if step is None:
                del lanes[node.node_id]
                continue
            side, process = step
            if observe:
                observe(side, lane.cell, None)
            ref = _submit(node, lane.cell, jobs[side], process, data[side])
            self._in_flight[ref] = (node, lane.cell, side)
            return

    def _fits(self, cell: Cell, node: Node, processes: Processes) -> bool:
        """Whether ``node`` may run ``cell``: a GPU for a GPU cell, and the node (or host)
        its earlier processes ran on."""
        if cell.device == "gpu" and node.gpus < 1:
            return False
        if self.placement.get(cell.key, node.node_id) != node.node_id:
            return False
        host = recorded_host(cell, processes)
        return host is None or host == node.hostname

    def _why_unplaceable(self, cell: Cell) -> tuple[Status, str]:
        placed = self.placement.get(cell.key)
        if placed in self.lost:
            return Status.FAILED, f"its node was lost: {self.lost[placed]}"
        if cell.device == "gpu" and not self.gpu_present:
            return Status.UNAVAILABLE, "no node of the Ray cluster has a GPU"
        return Status.FAILED, (
            "no alive node of the Ray cluster can run it (its earlier processes ran on "
            "another host, and a cell never pools the samples of two machines)"
        )

    def _result(self, ref: Any, node: Node, cell: Cell, job: WorkerJob) -> CellResult | None:
        """The task's record; a failed record when its node died (the node then takes no
        more cells) or the task itself failed; None when the task never started (the node
        was already gone)."""
        import ray
        from ray.exceptions import NodeDiedError, RayError, RayTaskError, TaskUnschedulableError

        try:
            return ray.get(ref)
        except TaskUnschedulableError:
            self.lost[node.node_id] = f"{node.label} left the cluster"
            return None
        except NodeDiedError:
            self.lost[node.node_id] = f"{node.label} was lost (NodeDiedError)"
            reason = (
                f"node {node.label} was lost while this process ran (NodeDiedError); "
                "timed work is not retried"
            )
        except RayTaskError as error:  # the task raised, its node is fine
            cause = error.cause if error.cause is not None else error
            reason = f"the Ray task on {node.label} failed: {type(cause).__name__}: {cause}"
        except RayError as error:  # Ray could not run the task (its worker crashed, ...)
            first = (str(error).strip().splitlines() or [""])[0]
            reason = f"Ray could not run the task on {node.label}: {type(error).__name__}: {first}"
        failed = CellResult.not_run(cell, job.dataset_name, Status.FAILED, reason)
        return replace(failed, machine=_machine_of(node))

    def _cancel(self) -> None:
        import ray

        for ref in self._in_flight:
            ray.cancel(ref, force=True)
        self._in_flight.clear()


def recorded_host(cell: Cell, processes: Processes) -> str | None:
    """The host a cell's recorded processes ran on (a resumed run), if any."""
    for side in processes.values():
        for result in side.get(cell.key, []):
            if result.machine and result.machine.get("hostname"):
                return str(result.machine["hostname"])
    return None


def _steps(
    cell: Cell, sides: Sequence[str], processes: Processes, repeats: range
) -> Iterator[tuple[str, Process]]:
    """A cell's processes in the local order (A B, B A, ...), each decided when it is due
    (after the previous one's record is in)."""
    for repeat, _, side in schedule([cell], sides, repeats):
        process = next_process(cell, side, repeat, sides, processes)
        if process is not None:
            yield side, process


def _unplaceable(
    cell: Cell,
    sides: Sequence[str],
    processes: Processes,
    jobs: Mapping[str, WorkerJob],
    why: tuple[Status, str],
    observe: Observer | None,
) -> None:
    status, reason = why
    for side in sides:
        done = processes[side].setdefault(cell.key, [])
        if not done:
            record = CellResult.not_run(cell, jobs[side].dataset_name, status, reason)
            done.append(record)
            if observe:
                observe(side, cell, record)


def _paths(jobs: Mapping[str, WorkerJob]) -> set[str]:
    """The dataset files the jobs read (their bytes go to Ray's object store once, and each
    node fetches them once)."""
    return {str(job.dataset_path) for job in jobs.values()}


@functools.cache
def _remote_task() -> Any:
    import ray

    return ray.remote(_process_on_node)


def _submit(node: Node, cell: Cell, job: WorkerJob, process: Process, data: Any) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = _remote_task().options(
        num_cpus=node.cpus,
        num_gpus=1 if cell.device == "gpu" else 0,
        max_retries=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        name=f"kbench {cell.key}",
    )
    here = job.python == (sys.executable,)  # the driver's own Python: use the node's own
    return task.remote(cell, job, process, data, here, node)


def _process_on_node(
    cell: Cell, job: WorkerJob, process: Process, data: bytes, own_python: bool, node: Node
) -> CellResult:
    """On the node: the dataset written to a temporary file, then one worker process."""
    for name in RAY_THREAD_VARIABLES:
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="kbench-ray-") as tmp:
        path = Path(tmp) / Path(job.dataset_path).name
        path.write_bytes(data)
        python = (sys.executable,) if own_python else job.python
        result = run_process(cell, replace(job, dataset_path=path, python=python), process)
    return replace(result, machine=_machine_of(node, here=True))


def _machine_of(node: Node, here: bool = False) -> dict[str, Any]:
    """Where a process ran: the host (read on it when ``here``) and its Ray node."""
    machine: dict[str, Any] = {"hostname": node.hostname}
    if here:
        machine = {
            "hostname": platform.node(),
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "gpus": list(backends.gpu_names()),
        }
    return {**machine, "ray_node": node.node_id, "ray_address": node.address}

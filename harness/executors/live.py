"""Parent: a cell's A and B workers alive at once, taking the CPU in turns (process pairs).

``kbench ab --pairing live`` runs each repeat of a cell as one *process pair*: both sides'
workers start together, build together, and then time their window pairs in turns that
this parent hands out (``harness.run.turns``), so only one side computes at a time and a
slow spell of the machine hits both. Everything else is as in ``harness.executors.local``: the
same worker module, spec, environment and records; a worker that crashes, times out or
outgrows its memory bound gets a not-run record and the other side goes on alone.
"""

from __future__ import annotations

import json
import os
import select
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.records.schema import Cell, CellResult
from harness.run.child import MEMORY_CHECK_S, Child, kill_group, outgrown_mb, start_child
from harness.run.executor import Observer, Processes, WorkerJob
from harness.run.interrupt import Interrupted
from harness.run.launch import WORKER_MODULE, WorkerLaunch, not_run_reason, record_from_outcome
from harness.run.processes import next_process
from harness.run.spec import Process
from harness.run.turns import TURNS_ENV, TurnKeeper


class LiveExecutor:
    """Every repeat of a cell as one live process pair on this machine."""

    gpu_present = None

    def run_until_stopped(
        self,
        cells: Sequence[Cell],
        jobs: Mapping[str, WorkerJob],
        processes: Processes,
        repeats: range,
        observe: Observer | None = None,
    ) -> str | None:
        """Repeat-major, then cell: one process pair each (the sides' first turn alternating
        per repeat), or as much as ran before SIGINT / SIGTERM (its name returned)."""
        sides = list(jobs)
        try:
            for repeat in repeats:
                for cell in cells:
                    order = sides if repeat % 2 == 0 else sides[::-1]
                    wanted = {s: next_process(cell, s, repeat, sides, processes) for s in order}
                    runs = {s: p for s, p in wanted.items() if p is not None}
                    results = run_process_pair(cell, jobs, runs, observe)
                    for side, result in results.items():
                        processes[side][cell.key].append(result)
                    for side, result in results.items():
                        if observe:
                            observe(side, cell, result)
        except Interrupted as stop:
            return stop.name
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": "local", "pairing": "live"}


def run_process_pair(
    cell: Cell,
    jobs: Mapping[str, WorkerJob],
    runs: Mapping[str, Process],
    observe: Observer | None = None,
) -> dict[str, CellResult]:
    """One process per side in ``runs`` (its first side takes the first window-pair turn),
    alive at once; each side's record (``observe`` is told of their start only)."""
    results: dict[str, CellResult] = {}
    live: dict[str, Process] = {}
    for side, process in runs.items():
        if observe:
            observe(side, cell, None)
        reason = not_run_reason(cell, jobs[side])
        if reason is None:
            live[side] = process
        else:
            results[side] = CellResult.not_run(cell, jobs[side].dataset_name, *reason)
    with ExitStack() as stack:
        tmps = {s: Path(stack.enter_context(tempfile.TemporaryDirectory())) for s in live}
        results.update(_run_live(cell, jobs, live, tmps))
    return {side: results[side] for side in runs}


@dataclass
class LiveWorker:
    """One side's running worker and the parent's ends of its turn pipes."""

    child: Child
    to_child: int
    from_child: int
    deadline: float
    started: float
    max_memory_mb: float | None = None
    buffer: bytes = b""
    ended: float | None = None
    finished: bool = True
    exceeded_mb: float | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)

    def read_requests(self) -> bool:
        """The complete request lines now readable; False at end of file (it exited)."""
        chunk = os.read(self.from_child, 65536)
        if not chunk:
            return False
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        self.pending += [json.loads(line) for line in lines if line.strip()]
        return True

    def answer(self, message: dict[str, Any]) -> None:
        try:
            os.write(self.to_child, (json.dumps(message) + "\n").encode())
        except BrokenPipeError:
            pass  # it has exited; its end of file follows

    def close(self) -> None:
        for fd in (self.to_child, self.from_child):
            try:
                os.close(fd)
            except OSError:
                pass


def start_live(
    module: str,
    spec: dict[str, Any],
    env: Mapping[str, str],
    tmp: Path,
    python: Sequence[str],
    timeout_s: float,
    max_memory_mb: float | None = None,
) -> LiveWorker:
    """``PYTHON -m MODULE SPEC RESULT`` started with two turn pipes (``KBENCH_TURNS``)."""
    to_child_read, to_child = os.pipe()
    from_child, from_child_write = os.pipe()
    env = {**env, TURNS_ENV: f"{to_child_read},{from_child_write}"}
    fds = (to_child_read, from_child_write)
    try:
        child = start_child(module, spec, env, tmp, python, pass_fds=fds)
    finally:
        for fd in fds:
            os.close(fd)
    now = time.perf_counter()
    return LiveWorker(child, to_child, from_child, now + timeout_s, now, max_memory_mb)


def _run_live(
    cell: Cell,
    jobs: Mapping[str, WorkerJob],
    live: Mapping[str, Process],
    tmps: Mapping[str, Path],
) -> dict[str, CellResult]:
    workers: dict[str, LiveWorker] = {}
    try:
        for side, process in live.items():
            job, launch = jobs[side], WorkerLaunch.of(cell, jobs[side], process)
            workers[side] = start_live(
                WORKER_MODULE,
                launch.spec,
                launch.env,
                tmps[side],
                job.python,
                job.settings.timeout_s,
                launch.max_memory_mb,
            )
        serve_turns(workers)
    except BaseException:
        for worker in workers.values():
            kill_group(worker.child.proc)
            worker.close()
        raise
    results = {}
    for side, worker in workers.items():
        worker.close()
        outcome = worker.child.outcome(worker.finished, worker.exceeded_mb)
        wall = (worker.ended or time.perf_counter()) - worker.started
        results[side] = record_from_outcome(cell, jobs[side], outcome, wall)
    return results


def serve_turns(workers: Mapping[str, LiveWorker]) -> None:
    """Hand out turns until every worker has exited (or been stopped at its timeout or
    memory bound)."""
    keeper = TurnKeeper(list(workers))
    running = dict(workers)
    while running:
        by_fd = {worker.from_child: side for side, worker in running.items()}
        ready, _, _ = select.select(list(by_fd), [], [], MEMORY_CHECK_S)
        for fd in ready:
            side = by_fd[fd]
            worker = running[side]
            if not worker.read_requests():
                _end(running, keeper, side)
                continue
            for request in worker.pending:
                keeper.request(side, request)
            worker.pending.clear()
        for side, worker in list(running.items()):
            _check_bounds(worker)
            if worker.ended is not None:
                _end(running, keeper, side)
        for side, answer in keeper.grants():
            workers[side].answer(answer)


def _check_bounds(worker: LiveWorker) -> None:
    """Mark the worker ended when it has exited, passed its timeout, or outgrown its
    memory bound (the last two kill it)."""
    proc = worker.child.proc
    if proc.poll() is not None:
        worker.ended = worker.ended or time.perf_counter()
        return
    now = time.perf_counter()
    if now > worker.deadline:
        worker.finished, worker.ended = False, now
        kill_group(proc)
        return
    resident = outgrown_mb(proc.pid, worker.max_memory_mb)
    if resident is not None:
        worker.exceeded_mb, worker.ended = resident, now
        kill_group(proc)


def _end(running: dict[str, LiveWorker], keeper: TurnKeeper, side: str) -> None:
    worker = running.pop(side)
    if worker.ended is None:
        worker.child.proc.wait()
        worker.ended = time.perf_counter()
    keeper.exited(side)

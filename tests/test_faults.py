"""Fault injection: signals to the parent, workers that die or grow, disks that fill up,
two writers of one file. Nothing finished is lost, every worker stops, and the user gets one
line and an exit code that says what happened.

The faults that need a cell to train first are in the ``e2e`` tier (``nox -s e2e``)."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from harness import cli
from harness.records import read_run
from tests.live_workers import live_workers

KBENCH = [sys.executable, "-m", "harness"]
SMOKE = ["--profile", "smoke", "--dataset", "synthetic", "--device", "cpu"]
THREE_CELLS = ["run", "-p", "dense_mlp", "-b", "jax,tensorflow,torch", *SMOKE]

FAULTY_PLUGINS = """
import time

from harness.plugin import ModelPlugin


def build_hog(input_shape, num_classes):
    import numpy as np

    blocks = []
    for _ in range(40):  # 200 MB a step, up to 8 GB unless the worker is stopped
        blocks.append(np.ones(25_000_000))
        time.sleep(0.05)


def build_tiny(input_shape, num_classes):
    import keras

    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Dense(num_classes)])


HOG = ModelPlugin("hog", "test", "allocates memory until stopped", "flat", build_hog)
TINY = ModelPlugin("tiny", "test", "one Dense layer", "flat", build_tiny)
"""


@pytest.fixture(scope="module")
def faulty_plugins(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faulty") / "faulty.py"
    path.write_text(textwrap.dedent(FAULTY_PLUGINS))
    return path


class Kbench:
    """``kbench`` in a subprocess, tagged so that its workers can be found in /proc."""

    def __init__(self, args: list[str]) -> None:
        self.tag = f"kbench-test-{uuid.uuid4().hex}"
        env = {**os.environ, "KBENCH_TEST_TAG": self.tag, "COLUMNS": "200"}
        self.proc = subprocess.Popen(
            [*KBENCH, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []

    def wait_for_line(self, text: str, timeout_s: float = 240.0) -> None:
        """Read stdout until a line containing ``text`` (the progress log prints one per
        finished worker)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no line with {text!r} in: {''.join(self.lines)}")

    def finish(self, timeout_s: float = 300.0) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode, "".join(self.lines) + out, err

    def workers(self) -> list[int]:
        """Pids of this run's live workers."""
        return live_workers(self.tag)


def _statuses(path: Path) -> dict[str, str]:
    return {c.cell.key: c.status.value for c in read_run(path).cells}


@pytest.mark.parametrize(
    ("sig", "code", "after"),
    [
        pytest.param(signal.SIGINT, 130, "the first cell", marks=pytest.mark.e2e),
        pytest.param(signal.SIGTERM, 143, "the first cell", marks=pytest.mark.e2e),
        (signal.SIGINT, 130, "a worker started"),  # no cell trains: seconds, in the default run
    ],
)
def test_a_signal_keeps_every_finished_cell_and_stops_every_worker(tmp_path, sig, code, after):
    out = tmp_path / "run.json"
    run = Kbench([*THREE_CELLS, "--out", str(out)])
    if after == "the first cell":
        run.wait_for_line("ok dense_mlp/jax/cpu")
        time.sleep(1.0)  # the second cell's worker is starting
    else:
        _wait_for_a_worker(run)
    run.proc.send_signal(sig)
    returncode, stdout, stderr = run.finish()
    assert returncode == code, stdout + stderr
    assert f"interrupted by {sig.name}" in stderr
    assert f"kbench run --resume {out}" in stderr
    assert run.workers() == [], "a worker outlived the parent"
    statuses = _statuses(out)
    finished = 1 if after == "the first cell" else 0
    assert list(statuses.values()).count("ok") == finished
    assert list(statuses.values()).count("interrupted") == 3 - finished
    assert read_run(out).interrupted == sig.name


def _wait_for_a_worker(run: Kbench, timeout_s: float = 120.0) -> None:
    start = time.monotonic()
    while not run.workers() and time.monotonic() < start + timeout_s and run.proc.poll() is None:
        time.sleep(0.2)
    if not run.workers():
        still_running = run.proc.poll() is None
        waited = time.monotonic() - start
        if still_running:  # stop it, so that what it printed until now can be read
            run.proc.kill()
        code, stdout, stderr = run.finish()
        state = f"still running after {waited:.0f} s" if still_running else f"exit {code}"
        raise AssertionError(f"no worker started (kbench {state}): {stdout}{stderr}")


@pytest.mark.e2e
def test_a_stopped_run_resumes_with_only_what_is_missing(tmp_path):
    out = tmp_path / "run.json"
    run = Kbench([*THREE_CELLS, "--out", str(out)])
    run.wait_for_line("ok dense_mlp/jax/cpu")
    run.proc.send_signal(signal.SIGINT)
    assert run.finish()[0] == 130
    first = read_run(out).cells[0]
    refused = subprocess.run(
        [*KBENCH, "run", "--resume", str(out), "--profile", "quick"], capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "profile" in refused.stderr
    done = subprocess.run([*KBENCH, "run", "--resume", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    resumed = read_run(out)
    assert [c.status.value for c in resumed.cells] == ["ok", "ok", "ok"]
    assert resumed.interrupted is None
    assert resumed.cells[0] == first  # the finished cell was kept, not run again
    assert done.stdout.count("ok dense_mlp/") == 2


@pytest.mark.e2e
def test_a_worker_killed_by_sigkill_fails_only_its_cell(tmp_path):
    out = tmp_path / "run.json"
    run = Kbench(["run", "-p", "dense_mlp", "-b", "jax,torch", *SMOKE, "--out", str(out)])
    _wait_for_a_worker(run)
    time.sleep(2.0)  # into the cell's import and build
    for pid in run.workers():
        os.kill(pid, signal.SIGKILL)
    returncode, stdout, stderr = run.finish()
    assert returncode == 1, stdout + stderr
    (killed, kept) = read_run(out).cells
    assert killed.status.value == "failed"
    assert "killed by SIGKILL: out of memory?" in killed.error
    assert killed.repro.startswith("kbench run -p dense_mlp -b jax --device cpu")
    assert kept.ok


@pytest.mark.e2e
def test_max_memory_gb_stops_a_worker_that_grows(tmp_path, faulty_plugins):
    out = tmp_path / "run.json"
    args = ["run", "-p", "hog,tiny", "-b", "jax", *SMOKE, "--plugin-path", str(faulty_plugins)]
    done = subprocess.run(
        [*KBENCH, *args, "--max-memory-gb", "1.5", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    hog, tiny = read_run(out).cells
    assert hog.status.value == "failed"
    assert "above --max-memory-gb 1.5" in hog.error
    assert tiny.ok


def test_an_out_that_cannot_be_written_is_refused_before_any_cell(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    start = time.monotonic()
    done = subprocess.run(
        [*KBENCH, *THREE_CELLS, "--out", str(blocker / "run.json")], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Cannot write" in done.stderr
    assert "ok " not in done.stdout
    assert time.monotonic() - start < 60  # refused up front, not after three cells


def test_a_second_writer_of_the_same_out_is_refused(tmp_path):
    out = tmp_path / "run.json"
    with (tmp_path / ".run.json.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running kbench holds it
        done = subprocess.run(
            [*KBENCH, *THREE_CELLS, "--out", str(out)], capture_output=True, text=True
        )
    assert done.returncode == 2
    assert "Another kbench is writing" in done.stderr
    assert not out.exists()


@pytest.mark.e2e
def test_a_full_disk_at_the_end_saves_the_results_elsewhere(tmp_path, faulty_plugins):
    disk = tmp_path / "small-disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(disk)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        out = disk / "run.json"
        args = ["run", "-p", "tiny", "-b", "jax", *SMOKE, "--plugin-path", str(faulty_plugins)]
        done = subprocess.run([*KBENCH, *args, "--out", str(out)], capture_output=True, text=True)
        assert not out.exists(), "a half-written results file was left in place"
        assert not any(p.name.endswith(".tmp") for p in disk.iterdir())
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "No space left on device" in done.stderr
    rescued = Path(done.stderr.split("results written to ")[1].split(" instead")[0].strip())
    assert read_run(rescued).cells[0].ok
    rescued.unlink()


def test_a_baseline_is_never_overwritten_silently(tmp_path, capsys):
    run = Path(__file__).parent / "data" / "before_layout" / "run.json"
    save = ["baseline", "save", str(run), "--name", "ref", "--dir", str(tmp_path)]
    assert cli.main(save) == 0
    capsys.readouterr()
    assert cli.main(save) == 2
    assert "--force" in capsys.readouterr().err
    assert cli.main([*save, "--force"]) == 0


def test_a_failed_cell_carries_the_command_that_reruns_it(smoke_run, crash_rerun):
    crashed = next(c for c in smoke_run.cells if c.plugin == "crashing")
    words = shlex.split(crashed.repro)
    assert words[:8] == ["kbench", "run", "-p", "crashing", "-b", "jax", "--device", "cpu"]
    assert ["--profile", "smoke"] == words[words.index("--profile") :][:2]
    done, out = crash_rerun  # kbench run with exactly those words
    assert done.returncode == 1
    (again,) = json.loads(out.read_text())["cells"]
    assert (again["plugin"], again["status"]) == ("crashing", "failed")
    assert f"rerun crashing/jax/cpu: {crashed.repro}" in done.stdout.replace("\n", " ")


@pytest.mark.e2e
def test_a_stopped_gate_resumes_in_its_own_order(tmp_path, aa_gate_decided):
    out = tmp_path / "ab.json"
    design = ["--repeats", "2", "--looks", "2", "--pairing", "processes"]
    gate = Kbench(["ab", "-p", "dense_mlp", "-b", "jax", *SMOKE, *design, "--out", str(out)])
    gate.wait_for_line("B ok dense_mlp/jax/cpu")  # repeat 0 done (A B); repeat 1 runs B A
    gate.proc.send_signal(signal.SIGTERM)
    returncode, stdout, stderr = gate.finish()
    assert returncode == 143, stdout + stderr
    assert f"resume with: kbench ab --resume {out}" in stderr
    assert gate.workers() == []
    record = json.loads(out.read_text())
    assert record["ab"]["interrupted"] == "SIGTERM"
    assert record["ab"]["planned_processes_per_side"] == [2]  # look 1 had begun, R = 2
    assert record["runs"]["a"]["cells"][0]["step_time_ms"]["n_processes"] == 1
    done = subprocess.run([*KBENCH, "ab", "--resume", str(out)], capture_output=True, text=True)
    order = [line.split()[0] for line in done.stdout.splitlines() if " ok dense_mlp/" in line]
    record = json.loads(out.read_text())
    aa_gate_decided(done.returncode, record, done.stdout + done.stderr)
    assert "interrupted" not in record["ab"]
    looks = record["ab"]["looks"]  # an unsure A/A cell gets a second look, large enough to reject
    total = looks[-1]["processes_per_side"]
    assert order == [s for k in range(1, total) for s in ("AB" if k % 2 == 0 else "BA")]
    processes = [record["runs"][s]["cells"][0]["step_time_ms"]["n_processes"] for s in "ab"]
    assert processes == [total] * 2
    planned = record["ab"]["planned_processes_per_side"]
    assert planned == [look["processes_per_side"] for look in looks]


@pytest.mark.e2e
def test_a_stopped_live_gate_kills_both_workers_and_resumes_as_pairs(tmp_path):
    out = tmp_path / "ab.json"
    design = ["--repeats", "2", "--no-confirm", "--out", str(out)]
    gate = Kbench(["ab", "-p", "dense_mlp", "-b", "jax", *SMOKE, *design])
    gate.wait_for_line("B ok dense_mlp/jax/cpu")  # the first live pair is done
    gate.proc.send_signal(signal.SIGTERM)  # the second pair's two workers are running
    returncode, stdout, stderr = gate.finish()
    assert returncode == 143, stdout + stderr
    assert gate.workers() == []
    record = json.loads(out.read_text())
    assert record["ab"]["pairing"] == "live"
    counts = [record["runs"][s]["cells"][0]["step_time_ms"]["n_processes"] for s in "ab"]
    assert counts == [1, 1]  # a pair is kept whole or not at all
    done = subprocess.run([*KBENCH, "ab", "--resume", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr  # 2 pairs cannot reject
    record = json.loads(out.read_text())
    assert record["rule"]["test"].startswith("wilcoxon-signed-rank")
    counts = [record["runs"][s]["cells"][0]["step_time_ms"]["n_processes"] for s in "ab"]
    assert counts == [2, 2]


def test_a_stopped_parity_check_leaves_no_worker(tmp_path):
    check = Kbench(["parity", "-p", "dense_mlp", "-b", "jax,torch"])
    _wait_for_a_worker(check)
    check.proc.send_signal(signal.SIGINT)
    returncode, stdout, stderr = check.finish()
    assert returncode == 130, stdout + stderr
    assert stderr.strip().splitlines() == ["kbench: interrupted by SIGINT"]
    assert check.workers() == []


@pytest.mark.e2e
def test_a_parent_killed_by_sigkill_leaves_its_finished_cells_and_no_worker(tmp_path):
    out = tmp_path / "run.json"
    run = Kbench([*THREE_CELLS, "--out", str(out)])
    run.wait_for_line("ok dense_mlp/jax/cpu")
    _wait_for_a_worker(run)  # the second cell's worker
    run.proc.kill()
    run.finish()
    deadline = time.monotonic() + 30
    while run.workers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.workers() == [], "a worker outlived a parent killed by SIGKILL"
    assert read_run(out).interrupted == "unfinished"
    assert list(_statuses(out).values()) == ["ok", "interrupted", "interrupted"]
    done = subprocess.run([*KBENCH, "run", "--resume", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(_statuses(out).values()) == ["ok", "ok", "ok"]

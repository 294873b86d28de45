"""The command line: usage errors are one line and exit 2; a real run end to end."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from harness import cli
from harness.cli.console import LOG_WIDTH, make_console
from harness.datasets import FASHION_DIR_ENV, OFFLINE_ENV


def _error_of(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--plugin", "nope"], "Unknown plugin"),
        (["run", "-b", "jax,theano"], "Unknown backend"),
        (["run", "--plugin-path", "/no/such/dir"], "does not exist"),
        (["show", "/no/such/results.json"], "Results file not found"),
    ],
)
def test_usage_errors_are_one_line(capsys, argv, expected):
    assert expected in _error_of(capsys, argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--profile", "huge"],
        ["run", "--epochs", "0"],
        ["run", "--timeout", "-3"],
        ["frobnicate"],
    ],
)
def test_argparse_errors_are_one_line_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err


def test_show_rejects_foreign_json(capsys, tmp_path):
    foreign = tmp_path / "other.json"
    foreign.write_text(json.dumps({"hello": 1}))
    assert "schema version" in _error_of(capsys, ["show", str(foreign)])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "not readable JSON" in _error_of(capsys, ["show", str(broken)])


def test_offline_fashion_mnist_fails_fast_with_instructions(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kh"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(FASHION_DIR_ENV, raising=False)
    monkeypatch.setenv(OFFLINE_ENV, "1")
    err = _error_of(capsys, ["run", "--dataset", "fashion_mnist", "-p", "dense_mlp"])
    assert "--data-dir" in err
    assert FASHION_DIR_ENV in err


def test_list_json_names_plugins_and_backends(capsys, list_describes_once):
    assert cli.main(["list", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in info["plugins"]][:2] == ["dense_mlp", "dense_dropout"]
    assert set(info["backends"]) == {"jax", "tensorflow", "torch"}


@pytest.mark.e2e
def test_kbench_run_end_to_end_with_a_batch_size_sweep(tmp_path):
    out = tmp_path / "run.json"
    command = [sys.executable, "-m", "harness", "run", "-p", "dense_mlp", "-b", "torch"]
    command += ["--profile", "smoke", "--dataset", "synthetic", "--device", "cpu"]
    command += ["--batch-size", "8,16", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dense_mlp" in done.stdout
    assert "synthetic" in done.stdout
    cells = json.loads(out.read_text())["cells"]
    assert [(c["plugin"], c["backend"], c["status"], c["batch_size"]) for c in cells] == [
        ("dense_mlp", "torch", "ok", 8),
        ("dense_mlp", "torch", "ok", 16),
    ]  # a cell, and a row, per size, each trained and timed at its size
    assert [c["fairness"]["batch_size"] for c in cells] == [8, 16]
    assert all(c["predict_step_ms"]["median"] > 0 for c in cells)
    shown = subprocess.run(
        [sys.executable, "-m", "harness", "show", str(out)], capture_output=True, text=True
    )
    assert shown.returncode == 0
    assert "472,042" in shown.stdout


def test_run_exit_code_is_1_when_a_cell_fails(crash_rerun):
    done, out = crash_rerun  # kbench run of the crashing plugin alone
    assert done.returncode == 1, done.stdout + done.stderr
    assert "crashes on purpose" in done.stdout
    assert json.loads(out.read_text())["cells"][0]["status"] == "failed"


def test_tables_written_to_a_log_keep_their_figures(monkeypatch):
    """Rich lays out 80 columns when stdout is not a terminal; a CI log would get "0.…"."""
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.delenv("COLUMNS", raising=False)
    assert make_console().width == LOG_WIDTH
    monkeypatch.setenv("COLUMNS", "90")  # the user's own width wins
    assert make_console().width == 90

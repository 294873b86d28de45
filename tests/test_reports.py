"""Reports: results as DataFrames, every chart rendered, a self-contained report.html, Markdown.

The results file comes from the shared real smoke run (tiny data); the comparison file is
written by hand in the documented format, the parity file by the real ``ParityReport``.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from harness import cli
from harness.cli import run as cli_run
from harness.errors import HarnessError
from harness.parity.checks import CheckResult, ParityReport, Tolerances
from harness.records import frames as results
from harness.report import charts, listings
from harness.report.document import Report, write_report
from harness.report.markdown import STEP_SUMMARY_ENV
from harness.run import driver as bench

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLUGINS = ("dense_mlp", "crashing", "nan_loss")  # the smoke run's plugins

COMPARISON = {
    "kind": "kbench-comparison",
    "schema_version": 1,
    "created": "2026-11-29T09:00:00+00:00",
    "rule": {
        "test": "mann-whitney-u, one-sided",
        "alpha": 0.01,
        "correction": "holm",
        "threshold": 0.05,
    },
    "a": {"label": "baseline main", "environment": {}, "config": {}},
    "b": {"label": "this branch", "environment": {}, "config": {}},
    "cells": [
        {
            **{"key": "dense_mlp/jax/cpu", "plugin": "dense_mlp", "backend": "jax"},
            **{"device": "cpu", "verdict": "same", "reason": ""},
            **{"a_median_ms": 1.0, "b_median_ms": 1.02, "ratio": 1.02},
            **{"ratio_ci_low": 0.97, "ratio_ci_high": 1.08, "p_value": 0.3, "p_adjusted": 0.9},
            **{"n_a": 10, "n_b": 10},
        },
        {
            **{"key": "dense_mlp/torch/cpu", "plugin": "dense_mlp", "backend": "torch"},
            **{"device": "cpu", "verdict": "regression", "reason": ""},
            **{"a_median_ms": 5.0, "b_median_ms": 6.0, "ratio": 1.2},
            **{"ratio_ci_low": 1.1, "ratio_ci_high": 1.3, "p_value": 1e-4, "p_adjusted": 4e-4},
            **{"n_a": 2, "n_b": 2, "a_samples": [5.0, 5.1], "b_samples": [6.0, 6.1]},
            **{"a_accuracy": 0.9, "b_accuracy": 0.9},
        },
        {
            **{"key": "cnn/jax/cpu", "plugin": "cnn", "backend": "jax"},
            **{"device": "cpu", "verdict": "new", "reason": "not in A"},
            **{"a_median_ms": None, "b_median_ms": 40.0, "ratio": None},
            **{"ratio_ci_low": None, "ratio_ci_high": None, "p_value": None, "p_adjusted": None},
            **{"n_a": 0, "n_b": 10},
        },
    ],
    "summary": {"regressed": True, "counts": {"same": 1, "regression": 1, "new": 1}},
}


@pytest.fixture(scope="module")
def results_file(smoke_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bench.save(smoke_run, tmp_path_factory.mktemp("runs") / "smoke.json")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A comparison file by hand, and a parity file from the real report class."""
    folder = tmp_path_factory.mktemp("inputs")
    comparison = folder / "comparison.json"
    comparison.write_text(json.dumps(COMPARISON))
    parity = ParityReport(
        ["jax", "torch"],
        5,
        Tolerances(),
        [
            CheckResult("dense_mlp", "forward", "jax~torch", "pass", 1.2e-7, 1e-4),
            CheckResult("dense_mlp", "training", "jax~torch", "fail", 0.06, 1e-2, "diverged"),
        ],
    )
    parity_path = folder / "parity.json"
    parity_path.write_text(json.dumps(parity.to_dict()))
    return {"comparison": comparison, "parity": parity_path}


@pytest.fixture(scope="module")
def report(results_file, inputs, tmp_path_factory: pytest.TempPathFactory) -> Report:
    out = tmp_path_factory.mktemp("report")
    return write_report(results_file, out, inputs["parity"], inputs["comparison"])


def test_load_gives_one_flat_row_per_cell(results_file, smoke_run):
    frame = results.load(results_file)
    expected = {"plugin", "backend", "device", "dataset", "status", "error", "params_total"}
    expected |= {"params_trainable", "params_non_trainable", "step_ms_median", "step_ms_ci_low"}
    expected |= {"step_ms_ci_high", "step_ms_cv", "n_processes", "samples_per_s"}
    expected |= {"test_accuracy", "test_loss", "first_step_s", "build_s", "import_s"}
    assert expected <= set(frame.columns)
    cells = smoke_run.cells
    assert list(frame["key"]) == [c.cell.key for c in cells]
    assert list(frame["status"]) == [c.status.value for c in cells]
    ok = frame[frame["status"] == "ok"]
    assert not ok.empty
    assert (ok["params_total"] == 472_042).all()
    assert ok["step_ms_median"].notna().all(), ok[["key", "step_ms_median"]]
    assert (ok["first_step_s"] > 0).all(), ok[["key", "first_step_s"]]
    crashed = frame[frame["plugin"] == "crashing"].iloc[0]
    assert crashed["status"] == "failed"
    assert pd.isna(crashed["step_ms_median"])


def test_a_report_never_imports_keras_or_the_worker():
    code = (
        "import sys, harness.report.document;"
        "sys.exit(bool({'keras', 'harness.worker.cell'} & {*sys.modules}))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_load_reads_schema_2_confidence_intervals(tmp_path):
    step = {"median": 2.0, "ci_low": 1.8, "ci_high": 2.3, "cv": 0.05, "n_processes": 5}
    step |= {"spread_of": "processes", "process_medians": [1.9, 2.0, 2.0, 2.1, 2.2]}
    cell = {"plugin": "p", "backend": "jax", "device": "cpu", "dataset": "synthetic"}
    cell |= {"status": "ok", "step_time_ms": step, "params": {"total": 10}}
    path = tmp_path / "v2.json"
    path.write_text(
        json.dumps({"schema_version": 2, "cells": [cell, {**cell, "backend": "torch"}]})
    )
    row = results.load(path).iloc[0]
    assert (row["step_ms_ci_low"], row["step_ms_ci_high"], row["n_processes"]) == (1.8, 2.3, 5)
    assert row["step_ms_cv_of"] == "processes"
    figure = charts.step_time_chart(results.load(path), "p")
    assert figure.axes[0].containers, "expected error bars for the CI"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "Results file not found"),
        ("{not json", "not readable JSON"),
        (json.dumps({"hello": 1}), "Expected a kbench results file"),
        (json.dumps({"schema_version": 99, "cells": []}), "schema version 99"),
    ],
)
def test_kbench_report_rejects_bad_files_in_one_line(capsys, tmp_path, content, expected):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_load_comparison_keeps_null_numbers_as_nan(inputs):
    frame = results.load_comparison(inputs["comparison"])
    assert list(frame["verdict"]) == ["same", "regression", "new"]
    assert frame["ratio"].isna().tolist() == [False, False, True]
    assert frame.loc[1, "a_accuracy"] == 0.9  # a producer's extra scalar field is kept
    assert "a_samples" not in frame.columns
    with pytest.raises(HarnessError, match="comparison file"):
        results.load_comparison(inputs["parity"])


def test_every_chart_is_a_valid_png_and_svg(report):
    names = {c.png.name for c in report.charts}
    assert {"dense_mlp-curves.png", "dense_mlp-step-time.png", "comparison.png"} <= names
    assert "roofline.png" in names  # the smoke run's cells were counted and measured
    for chart in report.charts:
        assert chart.png.read_bytes().startswith(PNG_SIGNATURE)
        assert ET.parse(chart.svg).getroot().tag.endswith("svg")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_report_html_is_self_contained(report):
    page = _Tags()
    page.feed(report.html.read_text())
    page.close()
    tags = [tag for tag, _ in page.tags]
    assert "script" not in tags
    assert "link" not in tags
    references = [
        v or "" for _, attrs in page.tags for k, v in attrs.items() if k in ("src", "href")
    ]
    assert not [r for r in references if r.startswith(("http:", "https:", "//"))]
    images = [attrs["src"] for tag, attrs in page.tags if tag == "img"]
    assert len(images) == len(report.charts)
    for src in images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]).startswith(PNG_SIGNATURE)
    text = " ".join(page.text)
    for expected in (*PLUGINS, "Environment", "jax~torch", "regression", "keras"):
        assert expected in text
    for expected in ("How close to the machine", "GFLOP/s (% peak)", "memory GB/s"):
        assert expected in text


def test_markdown_summary_names_every_plugin(report):
    markdown = report.markdown.read_text()
    assert markdown == report.markdown_text
    for plugin in PLUGINS:
        assert f"| {plugin} |" in markdown
    assert "**Regression**" in markdown
    assert "1 failed" in markdown  # the parity check


def test_markdown_goes_to_the_ci_job_summary(capsys, monkeypatch, results_file, tmp_path):
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv(STEP_SUMMARY_ENV, str(summary))
    argv = ["report", str(results_file), "--out", str(tmp_path / "r"), "--markdown"]
    assert cli.main(argv) == 0
    written = summary.read_text()
    assert written.startswith("# earlier step\n")
    assert all(plugin in written for plugin in PLUGINS)
    monkeypatch.delenv(STEP_SUMMARY_ENV)
    capsys.readouterr()
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("## kbench report")
    assert "report written to" in captured.err


def test_run_report_writes_the_report_after_the_results(capsys, monkeypatch, tmp_path, smoke_run):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STEP_SUMMARY_ENV, raising=False)
    monkeypatch.setattr(cli_run, "execute", lambda *args, **kwargs: smoke_run)
    argv = ["run", "-p", "dense_mlp", "-b", "jax", "--profile", "smoke", "--dataset", "synthetic"]
    argv += ["--device", "cpu", "--out", "runs/r.json", "--report"]
    assert cli.main(argv) == 1  # the smoke run holds cells that fail on purpose
    html = tmp_path / "results" / "reports" / "r" / "report.html"
    assert html.is_file()
    assert "report written to" in capsys.readouterr().out


CHROMIUM = next(
    (
        found
        for name in ("chromium", "chromium-browser", "google-chrome")
        if (found := shutil.which(name))
    ),
    None,
)


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (apt-get install chromium; .ci/run does it where it can)",
)
def test_report_html_renders_in_headless_chromium(report, tmp_path):
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"]
    command += ["--no-first-run", "--disable-background-networking", "--disable-component-update"]
    command += ["--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    command += ["--enable-logging=stderr", "--v=0", "--dump-dom", report.html.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<h1>kbench report" in done.stdout
    for plugin in PLUGINS:
        assert plugin in done.stdout
    page_messages = [
        line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
    ]
    assert not page_messages


def test_the_environment_table_names_the_malloc_setting_of_the_run():
    rows = dict(listings.environment_table({"config": {"malloc": "fixed"}}, "x").texts())
    assert rows["malloc"] == "fixed"
    older = dict(listings.environment_table({"config": {}}, "x").texts())
    assert older["malloc"] == "system"  # recorded before the setting: glibc's own thresholds

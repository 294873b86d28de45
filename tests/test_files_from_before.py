"""Files written before the harness was regrouped into subpackages (commit 39dd354: a
results file, a baseline, a comparison and a parity report) still load, show, compare,
export and report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness import cli
from harness.records import load, load_comparison, read_run

DATA = Path(__file__).resolve().parent / "data" / "before_layout"
RUN = DATA / "run.json"


def _unchanged(new: Any, old: Any, where: str = "cell") -> None:
    """``new`` holds ``old`` unchanged, at every depth; a field added since is unset."""
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        for key, value in old.items():
            _unchanged(new[key], value, f"{where}.{key}")
        added = set(new) - set(old)
        assert all(new[k] is None for k in added), f"{where}: {sorted(added)}"
    elif isinstance(old, list):
        assert isinstance(new, list), where
        for index, (n, o) in enumerate(zip(new, old, strict=True)):
            _unchanged(n, o, f"{where}[{index}]")
    else:
        assert new == old, where


def test_the_results_file_reads_back_unchanged():
    run = read_run(RUN)
    for new, old in zip(run.to_dict()["cells"], json.loads(RUN.read_text())["cells"], strict=True):
        _unchanged(new, old)
    frame = load(RUN)
    assert list(frame["key"]) == ["dense_mlp/jax/cpu", "dense_mlp/torch/cpu"]
    assert frame["predict_ms_per_batch"].notna().all()  # whole predict calls' mean, then
    assert frame["predict_ms_median"].isna().all()  # no steady-state predict time: not shown
    assert all(c.predict_step_ms is None and c.batch_size is None for c in run.cells)
    assert (frame["n_processes"] == 2).all()


def test_show_prints_its_tables(capsys):
    assert cli.main(["show", str(RUN)]) == 0
    out = capsys.readouterr().out
    assert "dense_mlp" in out
    assert "472,042" in out


def test_a_later_run_compares_with_the_old_baseline(tmp_path, capsys):
    shutil.copy(DATA / "baseline.json", tmp_path / "old.json")
    out = tmp_path / "cmp.json"
    args = ["compare", "old", str(RUN), "--dir", str(tmp_path), "--json", str(out)]
    assert cli.main(args) == 0
    verdicts = {c["key"]: c["verdict"] for c in json.loads(out.read_text())["cells"]}
    assert verdicts == {"dense_mlp/jax/cpu": "same", "dense_mlp/torch/cpu": "same"}
    assert cli.main(["baseline", "list", "--dir", str(tmp_path)]) == 0
    assert "old" in capsys.readouterr().out


def test_export_writes_pytest_benchmark_json(tmp_path):
    out = tmp_path / "bench.json"
    assert cli.main(["export", str(RUN), "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["benchmarks"]) == 2


def test_report_reads_the_old_comparison_and_parity_report(tmp_path):
    args = ["report", str(RUN), "--out", str(tmp_path)]
    args += ["--comparison", str(DATA / "cmp.json"), "--parity", str(DATA / "parity.json")]
    assert cli.main(args) == 0
    html = (tmp_path / "report.html").read_text()
    assert "Cross-backend parity" in html
    assert "Comparison" in html
    assert set(load_comparison(DATA / "cmp.json")["verdict"]) == {"same"}

"""A batch-size sweep (``--batch-size 8,64``): a cell per size whose key names it, and a run
without one planned, keyed and written as before; the predict figures beside the fit's; the
sweep's file shown, merged, compared, resumed and reported (with its scaling chart)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness import cli
from harness.cli.options import add_run_options
from harness.records import load, read_run
from harness.records.schema import Cell, CellResult, Status
from harness.records.steptime import StepTimeStats, StepTimeSummary
from harness.report import tables
from harness.run.driver import with_repro
from harness.run.plan import plan_run
from harness.run.settings import RunSettings

RUN = Path(__file__).resolve().parent / "data" / "before_layout" / "run.json"
SIZES = (8, 64)


def _predict(median_ms: float) -> dict:
    """A predict summary of one process, two window pairs of 10 and 20 batches."""
    short = [0.05, 0.05, 0.05]
    stats = StepTimeStats.from_fits(short, [s + median_ms / 100 for s in short], 10, 1)
    return StepTimeSummary.from_processes([stats]).to_dict()


def _sweep(tmp_path: Path, sizes: tuple[int, ...] = SIZES, name: str = "sweep.json") -> Path:
    """The two cells of a real results file (jax, torch) at each size: a sweep's file."""
    data = json.loads(RUN.read_text())
    cells = []
    for size in sizes:
        for slower, cell in enumerate(data["cells"], start=1):
            predict = _predict(size * slower)  # torch's twice jax's
            mine = copy.deepcopy(cell) | {"batch_size": size, "predict_step_ms": predict}
            mine["fairness"]["batch_size"] = size
            mine["step_time_ms"]["median"] *= size / 32
            cells.append(mine)
    path = tmp_path / name
    config = data["config"] | {"batch_size": list(sizes)}
    path.write_text(json.dumps(data | {"cells": cells, "config": config}))
    return path


def _parsed(*argv: str):
    parser = cli.options.Parser(prog="kbench run")
    add_run_options(parser)
    return parser.parse_args(list(argv))


def test_a_sweep_plans_a_cell_per_size_and_one_size_plans_as_before():
    assert _parsed("--batch-size", "8,64,8").batch_size == (8, 64)
    assert _parsed("--batch-size", "32").batch_size == 32
    with pytest.raises(SystemExit):
        _parsed("--batch-size", "0,8")
    swept = plan_run(RunSettings(plugins=("dense_mlp",), backends=("jax",), batch_size=SIZES))
    assert [c.key for c in swept.cells] == ["dense_mlp/jax/cpu/b8", "dense_mlp/jax/cpu/b64"]
    assert [swept.settings.for_cell(c).batch_size for c in swept.cells] == [8, 64]
    assert swept.settings.recorded()["batch_size"] == SIZES
    assert "--batch-size 8,64" in swept.settings.command_for("dense_mlp", "jax", "cpu", "x")
    one = plan_run(RunSettings(plugins=("dense_mlp",), backends=("jax",), batch_size=32))
    assert one.cells == [Cell("dense_mlp", "jax", "cpu")]
    assert one.cells[0].key == "dense_mlp/jax/cpu"
    assert one.settings.for_cell(one.cells[0]) is one.settings
    halves = [
        plan_run(RunSettings(plugins=("dense_mlp",), batch_size=SIZES, shard=f"{k}/2")).cells
        for k in (1, 2)
    ]
    whole = plan_run(RunSettings(plugins=("dense_mlp",), batch_size=SIZES)).cells
    assert sorted(c.key for half in halves for c in half) == sorted(c.key for c in whole)


def test_a_cell_outside_a_sweep_writes_no_batch_size_of_its_own():
    alone = CellResult.not_run(Cell("dense_mlp", "jax", "cpu"), "synthetic", Status.FAILED, "x")
    assert "batch_size" not in alone.to_dict()
    swept = CellResult.not_run(Cell("dense_mlp", "jax", "cpu", 8), "synthetic", Status.FAILED, "x")
    assert swept.to_dict()["batch_size"] == 8
    assert CellResult.from_dict(swept.to_dict()).cell.key == "dense_mlp/jax/cpu/b8"


def test_a_sweep_shows_a_row_per_size_with_fit_and_predict(tmp_path, capsys):
    path = _sweep(tmp_path)
    frame = load(path)
    assert list(frame["key"])[:2] == ["dense_mlp/jax/cpu/b8", "dense_mlp/torch/cpu/b8"]
    assert list(frame["sweep_batch"]) == [8, 8, 64, 64]
    assert frame["predict_ms_median"].tolist() == pytest.approx([8, 16, 64, 128])
    table = tables.results_table(frame)
    assert [c.label for c in table.columns[:6]] == [
        "plugin", "batch", "params", "jax/cpu ms", "jax/cpu predict", "jax/cpu acc"
    ]  # fmt: skip
    assert [(row[0].text, row[1].text) for row in table.rows] == [
        ("dense_mlp", "8"),
        ("dense_mlp", "64"),
    ]
    assert (table.rows[0][4].text, table.rows[0][4].style) == ("*8.00", "best")
    assert "predict: median steady-state time per predict batch" in table.caption
    assert cli.main(["show", str(path)]) == 0
    assert "predict ms/batch" in capsys.readouterr().out


def test_a_sweep_merges_compares_and_resumes_by_its_cells_keys(tmp_path, capsys):
    small, large = _sweep(tmp_path, (8,), "s1.json"), _sweep(tmp_path, (64,), "s2.json")
    for path, shard in ((small, "1/2"), (large, "2/2")):
        data = json.loads(path.read_text())
        data["config"] |= {"batch_size": list(SIZES), "shard": shard}
        path.write_text(json.dumps(data))
    merged = tmp_path / "all.json"
    assert cli.main(["merge", str(large), str(small), "--out", str(merged)]) == 0
    run = read_run(merged)
    assert [c.cell.key for c in run.cells][::2] == ["dense_mlp/jax/cpu/b8", "dense_mlp/jax/cpu/b64"]
    assert RunSettings.from_config(run.config).batch_size == SIZES  # what a resume runs with
    store = tmp_path / "baselines"
    assert cli.main(["baseline", "save", str(merged), "--name", "s", "--dir", str(store)]) == 0
    out = tmp_path / "cmp.json"
    assert cli.main(["compare", "s", str(merged), "--dir", str(store), "--json", str(out)]) == 0
    verdicts = {c["key"]: c["verdict"] for c in json.loads(out.read_text())["cells"]}
    assert set(verdicts) == {c.cell.key for c in run.cells}
    assert set(verdicts.values()) == {"same"}


def test_a_sweep_exports_a_benchmark_per_size(tmp_path):
    out = tmp_path / "bench.json"
    assert cli.main(["export", str(_sweep(tmp_path)), "--out", str(out)]) == 0
    names = [b["name"] for b in json.loads(out.read_text())["benchmarks"]]
    assert names[:2] == ["dense_mlp[jax-cpu-b8]", "dense_mlp[torch-cpu-b8]"]
    assert len(set(names)) == 4


def test_a_sweeps_report_has_its_scaling_chart(tmp_path):
    path = _sweep(tmp_path)
    assert cli.main(["report", str(path), "--out", str(tmp_path / "report")]) == 0
    charts = tmp_path / "report" / "charts"
    assert (charts / "dense_mlp-scaling.png").stat().st_size > 0
    assert (charts / "dense_mlp-b8-curves.png").exists()
    html = (tmp_path / "report" / "report.html").read_text()
    assert "dense_mlp: scaling" in html
    assert "1 / batch size" in html


def test_a_failed_sweep_cells_rerun_command_names_its_own_size():
    settings = RunSettings(batch_size=SIZES, dataset="synthetic")
    failed = CellResult.not_run(Cell("cnn", "jax", "cpu", 64), "synthetic", Status.FAILED, "x")
    repro = with_repro(failed, settings).repro
    assert "--batch-size 64" in repro
    assert "8,64" not in repro

"""Shards of a matrix (``kbench run --shard K/N``) and ``kbench merge``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import cli
from harness.errors import UsageError
from harness.records import read_run
from harness.records.schema import Cell
from harness.run.plan import plan_run
from harness.run.settings import RunSettings
from harness.run.shard import Shard, slices

RUN = Path(__file__).resolve().parent / "data" / "before_layout" / "run.json"


def test_shards_cover_the_matrix_once_and_balance_its_cost():
    cells = [Cell(p, b, "cpu") for p in ("a", "b", "c", "d", "e") for b in ("jax", "torch")]
    costs = {c.key: (1.7 if c.plugin in "de" else 1.0) for c in cells}
    parts = slices(cells, costs, 3)
    keys = [c.key for part in parts for c in part]
    assert sorted(keys) == sorted(c.key for c in cells)  # every cell exactly once
    loads = [sum(costs[c.key] for c in part) for part in parts]
    assert max(loads) - min(loads) <= max(costs.values())
    assert slices(list(reversed(cells)), costs, 3) == parts  # the same slices everywhere


def test_a_shard_of_the_default_run_is_a_balanced_slice_of_its_cells():
    whole = plan_run(RunSettings(device="cpu")).cells
    parts = [plan_run(RunSettings(device="cpu", shard=f"{k}/3")).cells for k in (1, 2, 3)]
    assert sorted(c.key for part in parts for c in part) == sorted(c.key for c in whole)
    assert [len(part) for part in parts] == [4, 4, 4]
    for bad in ("0/3", "4/3", "two/3", "3"):
        with pytest.raises(UsageError, match="--shard"):
            Shard.parse(bad)


def _shards(tmp_path: Path, seed_b: int = 0) -> tuple[Path, Path]:
    """The two cells of a real results file as two shards from two machines."""
    data = json.loads(RUN.read_text())
    a = {**data, "cells": data["cells"][:1], "config": {**data["config"], "shard": "1/2"}}
    b = {**data, "cells": data["cells"][1:], "config": {**data["config"], "shard": "2/2"}}
    b["environment"] = {**data["environment"], "hostname": "runner-2", "cpu": "Other CPU"}
    b["config"]["seed"] = seed_b
    paths = tmp_path / "s1.json", tmp_path / "s2.json"
    for path, content in zip(paths, (a, b), strict=True):
        path.write_text(json.dumps(content))
    return paths


def test_merged_shards_keep_each_cells_machine_and_work_like_any_run(tmp_path, capsys):
    s1, s2 = _shards(tmp_path)
    out = tmp_path / "all.json"
    assert cli.main(["merge", str(s1), str(s2), "--out", str(out)]) == 0
    merged = read_run(out)
    assert [c.cell.key for c in merged.cells] == ["dense_mlp/jax/cpu", "dense_mlp/torch/cpu"]
    assert [c.machine["cpu"] for c in merged.cells] == ["Intel(R) Xeon(R) Processor", "Other CPU"]
    assert merged.config["merged_from"] == [str(s1), str(s2)]
    assert cli.main(["show", str(out)]) == 0
    assert cli.main(["export", str(out), "--out", str(tmp_path / "e.json")]) == 0
    assert cli.main(["baseline", "save", str(out), "--name", "m", "--dir", str(tmp_path)]) == 0
    assert cli.main(["compare", "m", str(out), "--dir", str(tmp_path)]) == 0
    assert cli.main(["report", str(out), "--out", str(tmp_path / "report")]) == 0


def test_merge_refuses_overlapping_cells_and_other_settings(tmp_path, capsys):
    s1, s2 = _shards(tmp_path, seed_b=7)
    assert cli.main(["merge", str(s1), str(s1), "--out", str(tmp_path / "x.json")]) == 2
    assert "dense_mlp/jax/cpu is in both" in capsys.readouterr().err
    assert cli.main(["merge", str(s1), str(s2), "--out", str(tmp_path / "y.json")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "seed is 7 there" in err

"""The gate evidence (validation.gate.evidence and its modules): digests, replay, levels."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import pytest

from harness.gate import Rule
from harness.records import (
    COMPARISON_KIND,
    CellComparison,
    CellResult,
    Contention,
    Params,
    RunResult,
    Status,
    StepTimeStats,
    StepTimeSummary,
    write_json_atomic,
)
from harness.worker import HostTimes, Snapshot
from validation.gate import digest as gate_digest
from validation.gate import evidence as gate_evidence
from validation.gate import replay as gate_replay


def _gate(level: float, values: list[float]) -> dict:
    half = len(values) // 2
    scaled = [level * v for v in values]
    return {"cells": [{"key": "m/jax/cpu", "a_samples": scaled[:half], "b_samples": scaled[half:]}]}


def test_pools_divide_each_gate_by_its_own_level():
    values = [0.9, 1.0, 1.1, 0.95, 1.05, 1.0]
    gates = [_gate(1.0, values), _gate(3.0, values)]
    normalized = gate_replay.pools(gates)["m/jax/cpu"]
    raw = gate_replay.pools(gates, per_gate=False)["m/jax/cpu"]
    assert np.allclose(normalized[:6], normalized[6:])  # the sittings' levels are gone
    assert max(raw) / min(raw) > 3  # the raw pool keeps them


def test_replayed_gates_flag_a_large_slowdown_and_not_the_same_code():
    rng = np.random.default_rng(0)
    pooled = {f"c{i}/jax/cpu": list(rng.normal(1.0, 0.02, 60)) for i in range(3)}
    rule = Rule(alpha=Rule().alpha / 2, looks=2)
    same = [gate_replay.simulate_gate(pooled, 10, 0.0, rule, rng) for _ in range(50)]
    slower = [gate_replay.simulate_gate(pooled, 10, 0.5, rule, rng) for _ in range(20)]
    assert not any(any(flags.values()) for flags in same)
    assert all(all(flags.values()) for flags in slower)


def test_replay_with_replacement_draws_beyond_the_pool():
    rng = np.random.default_rng(1)
    pooled = {"m/jax/cpu": list(rng.normal(1.0, 0.02, 12))}
    rule = Rule(alpha=Rule().alpha / 2, looks=2)
    flags = gate_replay.simulate_gate(pooled, 10, 0.5, rule, rng, with_replacement=True)
    assert flags == {"m/jax/cpu": True}


def _recorded_gate(regressed: bool = False, spread: float = 0.02) -> dict:
    """A gate file as ``kbench ab --out`` writes it, cut to the fields the evidence reads."""
    rng = np.random.default_rng(0)
    a, b = (list(np.exp(spread * rng.standard_normal(6))) for _ in range(2))
    cell = CellComparison("m/jax/cpu", "m", "jax", "cpu", "same", ratio=1.01, p_adjusted=0.4)
    cell = replace(cell, a_samples=a, b_samples=b, a_accuracy=0.9, b_accuracy=0.9)
    return {
        "kind": COMPARISON_KIND,
        "rule": Rule(alpha=0.005, looks=2).to_dict(),
        "cells": [cell.to_dict()],
        "summary": {"regressed": regressed},
        "ab": {"repeats": 3, "confirmation_batch": []},
        "a": {"environment": {"load_average": [0.5, 0.5, 0.5]}},
        "runs": {"a": {"cells": [], "raw": "big"}, "b": {"cells": [], "raw": "big"}},
    }


def test_digests_keep_what_the_evidence_reads_and_drop_the_raw_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gate_digest.EVIDENCE.mkdir(parents=True)
    (gate_digest.EVIDENCE / "aa-003.json").write_text(json.dumps(_recorded_gate()))
    written = gate_digest.write_digest(gate_digest.EVIDENCE / "aa-003.json")
    stored = json.loads(written.read_text())
    assert written == gate_digest.DIGESTS / "aa-003.json"
    assert "runs" not in stored
    assert stored["cells"] == _recorded_gate()["cells"]
    assert gate_digest.load_gates("aa-*.json") == [stored]
    assert gate_digest.next_index("aa") == 4  # numbering goes on past the digests
    assert gate_digest.next_index("slowdown-one-core") == 0


def test_summary_reads_digests_and_keeps_slowdown_figures_it_has_no_gates_for(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    gate_digest.SUMMARY.parent.mkdir(parents=True)
    gate_digest.SUMMARY.write_text(json.dumps({"slowdown_one_core": [{"regressed": True}]}))
    gate_digest.DIGESTS.mkdir(parents=True, exist_ok=True)
    for index in range(2):
        digest = gate_digest.digest(_recorded_gate())
        (gate_digest.DIGESTS / f"aa-{index:03d}.json").write_text(json.dumps(digest))
    gate_evidence.cmd_summary(argparse.Namespace(gates=None))
    summary = json.loads(gate_digest.SUMMARY.read_text())
    assert summary["aa"]["gates"] == 2
    assert summary["aa"]["gates_flagging_a_regression"] == 0
    assert summary["aa"]["verdicts"] == {"same": 2}
    assert summary["slowdown_one_core"] == [{"regressed": True}]
    # 3 processes per side, both looks: detectable, from the gate's first 3 processes
    detectable = summary["aa"]["detectable_slowdown_first_look"]["m/jax/cpu"]
    assert 0.05 < detectable["min"] <= detectable["max"] < 0.5


def test_an_earlier_timing_subfolder_is_summarised_under_its_own_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    earlier = gate_digest.DIGESTS / "pairs5"
    earlier.mkdir(parents=True)
    gate_digest.SUMMARY.write_text(json.dumps({"aa": {"gates": 9}}))
    for index, spread in enumerate((0.02, 0.2)):
        digest = gate_digest.digest(_recorded_gate(spread=spread))
        (earlier / f"aa-{index:03d}.json").write_text(json.dumps(digest))
    gate_evidence.cmd_summary(argparse.Namespace(gates=earlier))
    summary = json.loads(gate_digest.SUMMARY.read_text())
    assert summary["aa"] == {"gates": 9}  # the current figures are left alone
    section = summary["earlier_timings"]["pairs5"]["aa"]
    assert section["gates"] == 2
    spread = section["detectable_slowdown_first_look"]["m/jax/cpu"]
    assert spread["min"] < spread["max"]  # the noisier gate could detect less


def test_pairing_finds_a_level_shared_by_adjacent_processes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gate_digest.DIGESTS.mkdir(parents=True)
    rng = np.random.default_rng(2)
    drift = np.exp(0.2 * rng.standard_normal(40))  # the machine's level, repeat by repeat
    a = drift * np.exp(0.02 * rng.standard_normal(40))
    b = drift * np.exp(0.02 * rng.standard_normal(40))
    gate = {"cells": [{"key": "m/jax/cpu", "a_samples": list(a), "b_samples": list(b)}]}
    (gate_digest.DIGESTS / "aa-000.json").write_text(json.dumps(gate))
    gate_evidence.cmd_pairing(argparse.Namespace(gates=None))
    pairing = json.loads(gate_digest.SUMMARY.read_text())["pairing"]
    cell = pairing["cells"]["m/jax/cpu"]
    assert cell["pairs"] == 40
    assert cell["correlation"] > 0.9
    assert cell["sd_log_ratio_paired"] < cell["sd_log_ratio_unpaired"] / 3
    assert pairing["signed_rank_floor"]["10"] == 2.0**-10


def _contended_process(others_s: float) -> StepTimeStats:
    """A process whose step time grew with the CPU time others took while it ran."""
    median_ms = 1.0 + others_s
    stats = StepTimeStats.from_fits([0.1] * 3, [0.1 + median_ms * 0.01] * 3, 10, 1)
    start = Snapshot(0.0, 0.0, 0, 0, HostTimes(busy_s=0.0, idle_s=0.0, steal_s=0.0))
    end = Snapshot(10.0, 15.0, 100, 50, HostTimes(15.0 + others_s, 0.0, 0.1 * others_s))
    return replace(stats, contention=Contention.between(start, end, cores=2))


def test_contention_correlates_process_levels_with_what_competed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    processes = [_contended_process(o) for o in (0.1, 0.5, 0.2, 0.9, 0.3, 0.7)]
    cell = CellResult(
        "m",
        "jax",
        "cpu",
        "synthetic",
        Status.OK,
        params=Params(1, 1, 0),
        step_time_ms=StepTimeSummary.from_processes(processes),
    )
    run = RunResult("now", {"cores": 2}, {"profile": "gate"}, [cell])
    write_json_atomic(tmp_path / "run.json", run.to_dict())
    gate_evidence.cmd_contention(argparse.Namespace(file=tmp_path / "run.json"))
    row = json.loads(gate_digest.SUMMARY.read_text())["contention"]["cells"]["m/jax/cpu"]
    assert row["processes"] == 6
    assert row["others_share"]["rho"] == pytest.approx(1.0)
    assert row["steal_share"]["rho"] == pytest.approx(1.0)
    same = row["involuntary_per_step"]  # the same in every process: no rank to compare
    assert same["median"] == pytest.approx(50 / 90)  # 3 pairs of 10 + 20 steps
    assert same["rho"] is None


def _side(ms_per_step: list[float]) -> dict:
    """One side's run of a gate file: one cell, a process per step time (raw fits only)."""
    processes = [
        StepTimeStats.from_fits([0.1] * 3, [0.1 + ms * 0.01] * 3, 10, 1) for ms in ms_per_step
    ]
    cell = CellResult(
        "m",
        "jax",
        "cpu",
        "synthetic",
        Status.OK,
        params=Params(1, 1, 0),
        step_time_ms=StepTimeSummary.from_processes(processes),
    )
    return RunResult("now", {"cores": 2}, {"profile": "gate"}, [cell]).to_dict()


def test_rescore_confirms_only_where_the_gate_ran_its_batch():
    fast = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99, 1.02, 0.98]
    gate = _recorded_gate()
    gate["runs"] = {"a": _side(fast), "b": _side([2 * v for v in fast])}
    gate["ab"] = {"repeats": 3, "confirmation_batch": []}
    rule, verdicts = gate_digest.rescore(gate)
    assert rule == Rule(alpha=0.005, looks=2)
    # 3 a side cannot reach the bound: inconclusive, and no batch was recorded to confirm it
    assert verdicts["m/jax/cpu"].verdict == "inconclusive"
    assert verdicts["m/jax/cpu"].reason == "no confirmation batch was recorded"
    gate["ab"]["confirmation_batch"] = ["m/jax/cpu"]
    _, verdicts = gate_digest.rescore(gate)
    assert verdicts["m/jax/cpu"].verdict == "regression"  # all 10 a side
    assert verdicts["m/jax/cpu"].n_a == 10

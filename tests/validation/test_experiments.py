"""The experiments' pure parts: the interleaving summary, the kernel-choice parsers and the
gate's replays (live-paired and unpaired); and, in the e2e tier, two experiments run with
real workers."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest

from harness.gate import Design, Rule
from harness.run import get_profile
from validation.gate import interleave, kernel_choices, paired_replay, sequential
from validation.gate.sequential import Case

STEPS = 100


def fits(levels: list[float]) -> list[dict]:
    """Fit pairs whose marginal cost per step is ``level`` ms, with CPU clocks that show
    ``0.01`` s used between pairs."""
    out, cpu = [], 0.0
    for level in levels:
        out.append(
            {
                "short_s": 0.1,
                "long_s": 0.1 + level * STEPS / 1000,
                "cpu_before": cpu,
                "cpu_after": cpu + 0.2,
            }
        )
        cpu += 0.21
    return out


def pair(a_level: float, b_level: float, rounds: int = 10) -> dict:
    return {
        "steps": STEPS,
        "wall_s": 30.0,
        "fits": {"a": fits([a_level] * rounds), "b": fits([b_level] * rounds)},
    }


def test_a_level_shared_by_both_workers_of_a_pair_cancels_when_paired():
    spells = [1.0, 1.3, 0.9, 1.2, 1.05, 0.8]
    pairs = [pair(level, level * 1.01) for level in spells]
    summary = interleave.summarize_cell(pairs, get_profile("gate").timing.steady_start)
    assert summary["sd_log_ratio_paired"] < 1e-9
    assert summary["sd_log_ratio_unpaired"] > 0.1
    assert math.isclose(summary["variance_removed"], 1.0)
    assert math.isclose(summary["idle_cpu_s_median"], 0.01)
    assert summary["pairs_needed_paired"] < 1 < summary["per_side_needed_unpaired"]


def test_levels_of_their_own_are_not_removed_by_pairing():
    a_levels = [1.0, 1.3, 0.9, 1.2, 1.05, 0.8]
    b_levels = [1.1, 0.85, 1.25, 0.95, 1.15, 1.0]
    pairs = [pair(a, b) for a, b in zip(a_levels, b_levels, strict=True)]
    summary = interleave.summarize_cell(pairs, get_profile("gate").timing.steady_start)
    assert summary["sd_log_ratio_paired"] > 0.1
    assert summary["variance_removed"] < 0.5


def test_onednn_creations_are_read_without_timings_or_cache_outcome():
    stdout = "\n".join(
        [
            "onednn_verbose,v1,info,oneDNN v3.7.1",
            "onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,"
            "brg_conv_fwd:avx512_core,forward_training,mb32_ic1oc32,0.043",
            "onednn_verbose,v1,primitive,create:cache_hit,cpu,convolution,"
            "brg_conv_fwd:avx512_core,forward_training,mb32_ic1oc32,0.001",
            '{"step_ms": 1.0}',
        ]
    )
    assert kernel_choices.onednn_choices(stdout) == [
        "onednn_verbose,v1,primitive,create,cpu,convolution,brg_conv_fwd:avx512_core,"
        "forward_training,mb32_ic1oc32"
    ]


def test_xla_modules_that_differ_only_in_their_numbers_hash_alike(tmp_path):
    first, second = tmp_path / "p1", tmp_path / "p2"
    first.mkdir(), second.mkdir()
    text = "HloModule {name}, entry_computation_layout={{(f32[32,784])->f32[32,10]}}\n"
    (first / "module_0007.jit_step.cpu_after_optimizations.txt").write_text(
        text.format(name="jit_step.7")
    )
    (second / "module_0012.jit_step.cpu_after_optimizations.txt").write_text(
        text.format(name="jit_step.12")
    )
    assert kernel_choices.xla_choices(first) == kernel_choices.xla_choices(second)


def test_kernel_sets_that_differ_are_counted_and_named():
    rows = [
        {"step_ms": 1.0, "onednn": ["conv:brg"], "xla": []},
        {"step_ms": 1.2, "onednn": ["conv:jit"], "xla": []},
        {"step_ms": 1.1, "onednn": ["conv:brg"], "xla": []},
    ]
    summary = kernel_choices.summarize_cell(rows)
    assert summary["distinct_choice_sets"] == 2
    assert summary["differing"] == ["conv:brg", "conv:jit"]


@pytest.mark.e2e
def test_a_process_reports_its_step_and_the_xla_modules_it_compiled():
    result = kernel_choices.run_process("dense_mlp", "jax")
    assert result["step_ms"] > 0
    assert result["xla"]  # JAX's dense layers compile to XLA modules, not oneDNN primitives
    assert result["onednn"] == []


@pytest.mark.e2e
def test_two_live_workers_alternate_their_timed_pairs():
    pair = interleave.run_pair("dense_mlp", "torch", steps=4, rounds=3, first="b")
    assert pair["steps"] == 4
    for side in "ab":
        fits = pair["fits"][side]
        assert len(fits) == 3
        assert all(f["long_s"] > 0 and f["short_s"] > 0 for f in fits)
        assert all(idle >= 0 for idle in interleave.idle_cpu_s(fits))


def test_the_paired_replay_reads_pairs_and_flags_only_a_real_slowdown(tmp_path):
    levels = [1.0, 1.3, 0.8, 1.1, 0.9, 1.2, 1.05, 0.95]  # a level per pair, shared by A and B
    jitter = [1.0, 1.01, 0.99, 1.005, 0.995, 1.0, 1.01, 0.99]
    raw = {
        "profile": "gate",
        "cells": {"m/jax": [pair(lv, lv * j) for lv, j in zip(levels, jitter, strict=True)]},
    }
    path = tmp_path / "interleave.json"
    path.write_text(json.dumps(raw))
    pool, costs, medians = paired_replay.load_pool([str(path), f"{path}:other/torch"])
    assert len(pool["m/jax"]) == 2 * len(levels)  # symmetrised; the second source had no such cell
    assert math.isclose(costs["m/jax"], 15.0)  # half a pair's 30 s wall
    assert max(medians["m/jax"]) / min(medians["m/jax"]) > 1.5  # unpaired, the levels stay
    case = Case(12, paired_replay.Design(1, "equal", None))
    rng = np.random.default_rng(0)
    slow = [paired_replay.replay_gate(pool, costs, case, 0.10, rng)[0]["m/jax"] for _ in range(20)]
    same = [paired_replay.replay_gate(pool, costs, case, 0.0, rng)[0]["m/jax"] for _ in range(20)]
    assert all(slow)
    assert not any(same)


def test_the_paired_pool_is_symmetrised_about_zero_the_signed_rank_null(tmp_path):
    jitter = [1.0, 1.01, 1.02, 0.99, 1.2, 1.5, 1.0]  # skewed: a long tail of slower B
    raw = {"profile": "gate", "cells": {"m/jax": [pair(1.0, j) for j in jitter]}}
    path = tmp_path / "interleave.json"
    path.write_text(json.dumps(raw))
    pool = paired_replay.load_pool([str(path)])[0]["m/jax"]
    assert len(pool) == 2 * len(jitter)  # each centred log ratio with its negative
    assert sorted(pool) == [-d for d in sorted(pool, reverse=True)]
    assert statistics.median(pool) == 0.0
    recorded = paired_replay.load_pool([str(path)], raw=True)[0]["m/jax"]
    assert recorded == pytest.approx([math.log(j) for j in jitter])


def _drafts(module, monkeypatch, asked: tuple[int, ...]) -> dict:
    """The comparisons a replayed gate's ``draft`` gives for each of ``asked`` processes per
    side, whatever sizes ``harness.gate``'s planning would have asked for."""
    drafts = {}

    def looks(keys, costs, case, rule, draft):
        drafts.update({n: draft(keys[0], n) for n in asked})
        return {}, 0.0, 0

    monkeypatch.setattr(module, "replay_looks", looks)
    return drafts


def test_a_paired_look_past_the_pairs_drawn_up_front_gets_every_pair_it_asks_for(monkeypatch):
    case = Case(4, Design(2, "obrien-fleming", 30 * 60))
    asked = (4, 2 * 4 + 5)  # a later look may add more than R: past looks x R
    drafts = _drafts(paired_replay, monkeypatch, asked)
    pool = {"m/jax": [-0.02, -0.01, 0.0, 0.01, 0.02]}
    paired_replay.replay_gate(pool, {"m/jax": 10.0}, case, 0.1, np.random.default_rng(0))
    for n in asked:
        assert len(drafts[n].a_samples) == len(drafts[n].b_samples) == n
    assert drafts[asked[1]].b_samples[:4] == drafts[4].b_samples  # a look adds to the last


def test_an_unpaired_look_past_the_processes_drawn_up_front_gets_every_one_it_asks_for(
    monkeypatch,
):
    case = Case(5, Design(2, "obrien-fleming", 30 * 60))
    asked = (5, 2 * 5 + 20, 60)  # past looks x R per side, then past the pool (100 values)
    drafts = _drafts(sequential, monkeypatch, asked)
    pool = {"m/jax": [1.0 + i / 1000 for i in range(100)]}
    rng = np.random.default_rng(0)
    sequential.replay_gate(pool, {"m/jax": 10.0}, case, 0.0, Rule(), rng)
    for n in asked:
        assert len(drafts[n].a_samples) == len(drafts[n].b_samples) == n
    assert drafts[30].a_samples[:5] == drafts[5].a_samples  # a look adds to the last
    assert len(set(drafts[30].a_samples + drafts[30].b_samples)) == 60  # distinct processes


def test_the_paired_replay_adds_budgets_and_one_look_sizes_to_the_chosen_designs():
    chosen = paired_replay.chosen_designs([3], [45, 90], [14])
    assert chosen[0] == paired_replay.DESIGNS[3]
    assert [c.design.budget_s for c in chosen[1:3]] == [45 * 60, 90 * 60]
    assert all(c.design.looks == 3 and c.repeats == 5 for c in chosen[1:3])
    assert (chosen[3].repeats, chosen[3].design.looks, chosen[3].design.budget_s) == (14, 1, None)
    assert paired_replay.chosen_designs(None, [], []) == list(paired_replay.DESIGNS)
    assert paired_replay.chosen_designs(None, [60], [], repeats=7)[0].repeats == 7

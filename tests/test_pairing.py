"""Live process pairs: who gets the CPU (pure), the turn protocol with real processes, the
paired test's statistics, and a real gate of live process pairs end to end."""

from __future__ import annotations

import itertools
import json
import math
import statistics
import sys

import numpy as np
import pytest
from scipy import stats as scipy_stats

from harness import cli
from harness.executors.live import serve_turns, start_live
from harness.run.turns import TurnKeeper
from harness.stats import MANN_WHITNEY, SIGNED_RANK, rank_sum_needed, walsh_interval

SMOKE = ["--profile", "smoke", "--dataset", "synthetic", "--device", "cpu"]


def _drive(keeper: TurnKeeper, scripts: dict[str, list[dict]]) -> list[tuple[str, dict]]:
    """Every side asks its first request at once; a side that gets a turn asks its next
    (or exits when its script is done). The grants, in order."""
    queues = {side: list(script) for side, script in scripts.items()}
    for side, queue in queues.items():
        keeper.request(side, queue.pop(0))
    granted: list[tuple[str, dict]] = []
    for _ in range(100):
        grants = keeper.grants()
        assert len(grants) <= 1
        if not grants:
            break
        ((side, answer),) = grants
        kind = keeper.states[side]
        assert kind.holding
        granted.append((side, answer))
        if queues[side]:
            keeper.request(side, queues[side].pop(0))
        else:
            keeper.exited(side)
    return granted


def test_process_pairs_alternate_a_b_b_a_after_one_side_calibrates():
    script = [{"want": "calibrate"}] + [{"want": "pair", "steps": 32}] * 4 + [{"want": "rest"}]
    granted = _drive(TurnKeeper(["A", "B"]), {"A": script, "B": script})
    assert granted[0] == ("A", {"go": True})  # A calibrates
    assert granted[1] == ("B", {"go": True, "steps": 32})  # B takes A's N
    turns = [side for side, _ in granted[2:10]]
    assert turns == ["A", "B", "B", "A", "A", "B", "B", "A"]
    assert [side for side, _ in granted[10:]] == ["A", "B"]  # rest, one side at a time


def test_no_turn_before_every_side_is_built_and_rest_waits_for_the_last_pair():
    keeper = TurnKeeper(["A", "B"])
    keeper.request("A", {"want": "pair", "steps": 8})
    assert keeper.grants() == []  # B is still building
    keeper.request("B", {"want": "pair", "steps": 8})
    assert keeper.grants() == [("A", {"go": True})]
    keeper.request("A", {"want": "rest"})
    assert keeper.grants() == [("B", {"go": True})]  # B's pair turn before A's rest
    keeper.request("B", {"want": "pair", "steps": 8})
    assert keeper.grants() == [("B", {"go": True})]  # A is done timing; B goes on alone
    keeper.exited("B")  # B crashed
    assert keeper.grants() == [("A", {"go": True})]
    with pytest.raises(ValueError, match="unknown turn request"):
        keeper.request("A", {"want": "lunch"})


CHILD = """
import json, sys, time
from harness.run.turns import turns_from_env

turns = turns_from_env()
spans = []
for _ in range(4):
    turns.take("pair", steps=1)
    start = time.monotonic()
    while time.monotonic() - start < 0.05:
        pass
    spans.append((start, time.monotonic()))
turns.take("rest")
with open(sys.argv[2], "w") as out:
    json.dump(spans, out)
"""


def test_two_real_processes_never_compute_at_once(tmp_path):
    (tmp_path / "turn_child.py").write_text(CHILD)
    env = {"PYTHONPATH": str(tmp_path)}
    workers = {}
    for side in "AB":
        (tmp_path / side).mkdir()
        workers[side] = start_live("turn_child", {}, env, tmp_path / side, [sys.executable], 60)
    serve_turns(workers)
    spans = {side: json.loads((tmp_path / side / "result.json").read_text()) for side in "AB"}
    timeline = sorted((start, end, side) for side in "AB" for start, end in spans[side])
    assert [side for _, _, side in timeline] == ["A", "B", "B", "A", "A", "B", "B", "A"]
    for (_, end, _), (start, _, _) in itertools.pairwise(timeline):
        assert end <= start  # one turn ends before the next begins
    assert all(w.child.proc.returncode == 0 for w in workers.values())


def _with_rank_sum(count: int, w: int) -> list[float]:
    """Tie-free log ratios of ``count`` process pairs with ranks 1..n whose positive ranks
    sum to ``w``."""
    signs, left = {}, w
    for rank in range(count, 0, -1):
        signs[rank] = 1.0 if rank <= left else -1.0
        left -= rank if rank <= left else 0
    assert left == 0
    return [signs[r] * r / 100 for r in range(1, count + 1)]


@pytest.mark.parametrize("count", [5, 8, 12])
@pytest.mark.parametrize("bound", [0.05, 0.01, 0.0014])
def test_the_rank_sum_needed_is_scipys_exact_critical_value(count, bound):
    needed = rank_sum_needed(count, bound)
    if needed is None:
        assert SIGNED_RANK.smallest_p(count) >= bound
        return

    def p(w: int) -> float:
        d = _with_rank_sum(count, w)
        return scipy_stats.wilcoxon(d, alternative="greater", method="exact").pvalue

    assert p(needed) < bound <= p(needed - 1)


def test_a_level_shared_by_a_process_pair_cancels_in_the_paired_test():
    a = [1.0, 1.3, 0.9, 1.6, 1.1, 1.45, 0.95, 1.25]  # a level per process pair, 60% wide
    b = [x * 1.08 for x in a]  # B 8% slower in every process pair
    assert SIGNED_RANK.p_slower(a, b) == SIGNED_RANK.smallest_p(len(a)) == 0.5**8
    assert MANN_WHITNEY.p_slower(a, b) > 0.2  # per process, the levels hide it
    assert math.isclose(SIGNED_RANK.ratio(a, b), 1.08)
    assert SIGNED_RANK.p_faster(a, b, shift=0.10) == 0.5**8  # shown below +10%
    assert SIGNED_RANK.p_faster(a, b, shift=0.05) == 1.0


def test_the_paired_effect_is_the_hodges_lehmann_estimate_with_its_exact_interval():
    d = [0.0, 0.0, 0.3]  # median 0; Walsh averages 0, 0, 0, 0.15, 0.15, 0.3
    a = [1.0] * 3
    b = [math.exp(v) for v in d]
    assert math.isclose(SIGNED_RANK.ratio(a, b), math.exp(0.075))
    # n = 11: the 95% interval runs from the 11th smallest to the 11th largest of the 66
    # Walsh averages (P(W+ <= 10) = 0.021 <= 0.025 < P(W+ <= 11) = 0.027)
    d = [float(v) for v in range(11)]
    assert walsh_interval(d) == (2.5, 7.5)
    assert walsh_interval(d[:5]) == (0.0, 4.0)  # below 6 values: the range
    assert walsh_interval([1.0]) is None
    low, high = SIGNED_RANK.ratio_ci([1.0] * 11, [math.exp(v) for v in d])
    assert math.isclose(low, math.exp(2.5))
    assert math.isclose(high, math.exp(7.5))


def test_the_exact_interval_covers_the_centre_at_least_95_percent():
    rng = np.random.default_rng(7)
    for n in (6, 9, 12):
        covered = [
            low <= 0.0 <= high
            for low, high in (walsh_interval(list(rng.standard_t(3, n))) for _ in range(2000))
        ]
        assert np.mean(covered) >= 0.94  # exact: >= 95% up to the simulation's error


def test_more_process_pairs_detect_a_smaller_slowdown():
    a = [1.0, 1.02, 0.97, 1.05, 0.99, 1.01]
    b = [1.03, 0.99, 1.0, 1.02, 1.04, 0.98]
    few = SIGNED_RANK.detectable_slowdown(a, b, 0.0014, 0.05, size=10)
    many = SIGNED_RANK.detectable_slowdown(a, b, 0.0014, 0.05, size=30)
    assert few is not None
    assert many is not None
    assert 0.05 <= many < few < 0.5
    assert SIGNED_RANK.detectable_slowdown(a, b, 0.0014, 0.05, size=6) is None  # 2^-6 > bound


@pytest.mark.e2e
def test_a_gate_of_live_process_pairs_end_to_end(tmp_path, capsys):
    out = tmp_path / "ab.json"
    args = ["ab", "-p", "dense_mlp", "-b", "torch", *SMOKE, "--repeats", "3", "--no-confirm"]
    assert cli.main([*args, "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "live process pairs" in shown
    assert "signed-rank" in shown
    record = json.loads(out.read_text())
    assert record["rule"]["test"].startswith("wilcoxon-signed-rank")
    assert record["ab"]["pairing"] == "live"
    (cell,) = record["cells"]
    assert cell["n_a"] == cell["n_b"] == 3
    assert cell["verdict"] in ("same", "slower", "faster", "inconclusive")
    sides = [record["runs"][s]["cells"][0] for s in ("a", "b")]
    windows = {p["window_steps"] for side in sides for p in side["step_time_ms"]["processes"]}
    assert len(windows) == 1  # B's first process took A's calibrated N
    assert all(side["metrics"]["test_accuracy"] >= 0 for side in sides)  # each side trained
    d = [math.log(b / a) for a, b in zip(cell["a_samples"], cell["b_samples"], strict=False)]
    walsh = sorted((x + y) / 2 for i, x in enumerate(d) for y in d[i:])
    assert math.isclose(cell["ratio"], math.exp(statistics.median(walsh)))  # Hodges-Lehmann


def test_live_pairing_with_a_ray_cluster_is_a_one_line_error(capsys):
    args = ["ab", "-p", "dense_mlp", "-b", "jax", *SMOKE, "--executor", "ray"]
    assert cli.main([*args, "--pairing", "live"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--pairing processes" in err


def test_signed_rank_p_is_exact_with_and_without_ties():
    rng = np.random.default_rng(1)
    for n in (3, 7, 12):
        d = list(rng.normal(0.02, 0.05, n))
        tests = (("greater", SIGNED_RANK.p_slower), ("less", SIGNED_RANK.p_faster))
        for alternative, ours in tests:
            expected = scipy_stats.wilcoxon(d, alternative=alternative, method="exact").pvalue
            assert math.isclose(ours([1.0] * n, list(np.exp(d))), expected)
    b = [2.0, 0.5, 4.0, 4.0, 8.0, 0.25]  # |log(B/A)|: 1, 1, 2, 2, 3, 2 x log 2, tied
    tied = [math.log(v) for v in b]
    ranks = scipy_stats.rankdata(np.abs(tied))
    observed = sum(r for r, v in zip(ranks, tied, strict=True) if v > 0)
    patterns = itertools.product((0, 1), repeat=len(tied))  # count the sign patterns
    sums = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in patterns]
    expected = sum(w >= observed - 1e-9 for w in sums) / len(sums)
    assert math.isclose(SIGNED_RANK.p_slower([1.0] * 6, b), expected)

"""The gate's group-sequential looks: alpha spending, which cells go on, the budget (pure)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.gate.sequential import (
    SPENDING,
    Design,
    LaterLook,
    Room,
    SoFar,
    clearly_within,
    could_reject,
    fewest_to_reject,
    futility_level,
    look_level,
    look_levels,
    next_look_cost,
    next_look_size,
    plan_later_look,
    spent,
    unsure,
)
from harness.records import CellComparison
from harness.stats import MANN_WHITNEY, SIGNED_RANK


@pytest.mark.parametrize("spending", SPENDING)
@pytest.mark.parametrize("looks", [1, 2, 3, 5])
def test_the_looks_spend_exactly_alpha(spending, looks):
    levels = look_levels(0.01, looks, spending)
    assert len(levels) == looks
    assert all(level >= 0 for level in levels)
    assert sum(levels) == pytest.approx(0.01, rel=1e-12)


def test_each_spending_function_has_its_shape():
    fleming = look_levels(0.01, 3, "obrien-fleming")
    assert fleming[0] < 1e-4 < fleming[1] < fleming[2]  # most alpha kept for the last look
    pocock = look_levels(0.01, 3, "pocock")
    assert pocock[0] > pocock[1] > pocock[2]  # more alpha early
    assert look_levels(0.01, 4, "equal") == pytest.approx([0.0025] * 4)
    assert spent(0.01, 0.0, "pocock") == 0.0
    assert spent(0.01, 1.0, "obrien-fleming") == pytest.approx(0.01)
    with pytest.raises(ValueError, match="spending"):
        spent(0.01, 0.5, "linear")


def _cell(verdict: str, a: list[float], b: list[float]) -> CellComparison:
    return CellComparison("m/jax/cpu", "m", "jax", "cpu", verdict, a_samples=a, b_samples=b)


def test_a_cell_is_clearly_within_the_threshold_only_when_the_test_says_so():
    rng = np.random.default_rng(3)
    a = list(1.0 + 0.01 * rng.standard_normal(8))
    assert clearly_within(_cell("same", a, [v * 0.99 for v in a[::-1]]), 0.05, MANN_WHITNEY)
    assert not clearly_within(_cell("same", a, [v * 1.04 for v in a[::-1]]), 0.05, MANN_WHITNEY)
    assert not clearly_within(_cell("same", a[:2], a[:2]), 0.05, MANN_WHITNEY)  # p >= 1/6


def test_unsure_cells_go_on_and_decided_ones_stop():
    rng = np.random.default_rng(4)
    a = list(1.0 + 0.01 * rng.standard_normal(8))
    tight_same = _cell("same", a, [v * 0.99 for v in a[::-1]])
    wide_same = _cell("same", a, [v * (1.0 + 0.2 * (-1) ** i) for i, v in enumerate(a)])
    assert not unsure(tight_same, 0.05, MANN_WHITNEY)
    assert unsure(wide_same, 0.05, MANN_WHITNEY)
    assert unsure(_cell("inconclusive", a, a), 0.05, MANN_WHITNEY)
    for verdict in ("regression", "slower", "faster", "missing", "new"):
        assert not unsure(_cell(verdict, a, a), 0.05, MANN_WHITNEY)


def test_a_looks_cost_is_both_sides_of_each_cell_that_goes_on():
    seconds = {"x": 10.0, "y": 20.0, "z": 40.0}
    assert next_look_cost(seconds, ["x", "y"], repeats=5) == 2 * 5 * 30.0
    assert next_look_cost(seconds, [], repeats=5) == 0.0


def test_a_later_look_shrinks_so_that_the_looks_left_fit_in_the_budget():
    seconds = {"x": 10.0, "y": 20.0}  # one more process a side of both: 60 s
    assert next_look_size(seconds, ["x", "y"], repeats=5, remaining_s=None, looks_left=2) == 5
    assert next_look_size(seconds, ["x", "y"], repeats=5, remaining_s=3600, looks_left=2) == 5
    assert next_look_size(seconds, ["x", "y"], repeats=5, remaining_s=250, looks_left=2) == 2
    assert next_look_size(seconds, ["x", "y"], repeats=5, remaining_s=250, looks_left=1) == 4
    assert next_look_size(seconds, ["x", "y"], repeats=5, remaining_s=59, looks_left=1) == 0
    assert next_look_size(seconds, ["x", "y"], repeats=5, remaining_s=-10, looks_left=1) == 0


def test_a_look_that_cannot_reject_carries_its_alpha_to_the_next():
    alpha, looks = 0.01, 3
    increments = look_levels(alpha, looks, "obrien-fleming")
    first = look_level(alpha, looks, "obrien-fleming", 1, 0.0)
    assert math.isclose(first, increments[0])
    # 5 a side: p >= 1/252, far above its Holm bound
    assert not could_reject(5, 6, first, MANN_WHITNEY)
    second = look_level(alpha, looks, "obrien-fleming", 2, 0.0)  # look 1 spent nothing
    assert math.isclose(second, increments[0] + increments[1])
    assert could_reject(10, 6, second, MANN_WHITNEY)
    last = look_level(alpha, looks, "obrien-fleming", 3, second)
    assert math.isclose(second + last, alpha)  # what could reject adds up to alpha
    assert not could_reject(9, 6, alpha, SIGNED_RANK)  # 2^-9 > 0.01 / 6 (process pairs)
    assert could_reject(10, 6, alpha, SIGNED_RANK)


def test_a_later_look_spends_at_its_information_fraction_not_at_k_over_looks():
    design, alpha = Design(3, "obrien-fleming"), 0.01

    def plan(number, done, room, fixed=None, most=None, family=6):
        look = LaterLook(number, SoFar(done, 0.0), family, room, fixed, most)
        return plan_later_look(design, alpha, SIGNED_RANK, look)

    # 5 process pairs done; the whole budget left affords 6 more (full information: 11)
    second = plan(2, 5, Room(3, 6))
    assert (second.size, second.last) == (3, False)
    assert math.isclose(second.level, spent(alpha, 8 / 11, "obrien-fleming"))
    assert not math.isclose(second.level, sum(look_levels(alpha, 3, "obrien-fleming")[:2]))
    assert not could_reject(8, 6, second.level, SIGNED_RANK)  # a futility-only look
    assert plan(2, 5, Room(0, 0), fixed=3, most=11) == second  # a resumed gate's look
    third = plan(3, 8, Room(3, 3), most=11)  # look 2 spent nothing: all of alpha is left
    assert (third.size, third.last) == (3, True)
    assert math.isclose(third.level, alpha)
    assert could_reject(11, 6, third.level, SIGNED_RANK)
    early = plan(2, 5, Room(5, 15), most=20, family=3)  # fewer cells, more room
    assert math.isclose(early.level, spent(alpha, 10 / 20, "obrien-fleming"))
    full = plan(2, 5, Room(6, 6))  # the whole room at once: full information, the last look
    assert full.last
    assert math.isclose(full.level, alpha)


def test_a_last_look_too_small_to_reject_is_raised_past_the_budget_to_the_fewest_that_can():
    """A sitting of 2026-12-07: 5 pairs, then 1, then 2 (the budget's room) left all three
    looks of six cells below the Holm bound: 8 pairs cannot give p < 0.01 / 6."""
    design, alpha = Design(3, "obrien-fleming"), 0.01
    fewest = fewest_to_reject(6, alpha, SIGNED_RANK)
    assert fewest == 10  # 2^-10 < 0.01 / 6 < 2^-9
    second = plan_later_look(
        design, alpha, SIGNED_RANK, LaterLook(2, SoFar(5, 0.0), 6, Room(1, 3), fewest=fewest)
    )
    assert (second.size, second.last, second.past_budget) == (1, False, False)
    third = plan_later_look(
        design, alpha, SIGNED_RANK, LaterLook(3, SoFar(6, 0.0), 6, Room(2, 2), most=10, fewest=10)
    )
    assert (third.size, third.last, third.past_budget) == (4, True, True)
    assert math.isclose(third.level, alpha)
    assert could_reject(6 + third.size, 6, third.level, SIGNED_RANK)
    broke = plan_later_look(  # the budget affords not one more pair: the last look, raised
        design, alpha, SIGNED_RANK, LaterLook(2, SoFar(5, 0.0), 6, Room(0, 0), fewest=10)
    )
    assert (broke.size, broke.last, broke.past_budget) == (5, True, True)
    resumed = plan_later_look(  # a resumed gate's recorded size is kept
        design, alpha, SIGNED_RANK, LaterLook(3, SoFar(6, 0.0), 6, Room(2, 2), 2, 10, 10)
    )
    assert (resumed.size, resumed.past_budget) == (2, False)
    assert fewest_to_reject(6, alpha, MANN_WHITNEY) == 6  # 1 / C(12, 6) < 0.01 / 6 < 1 / C(10, 5)


def test_the_futility_rule_splits_its_error_over_the_looks_that_can_stop_a_cell():
    assert futility_level(1) == pytest.approx(0.05)
    assert futility_level(2) == pytest.approx(0.05)
    assert futility_level(3) == pytest.approx(0.025)
    a = [1.0, 1.1, 0.9, 1.2, 1.05, 0.95, 1.15, 0.85]
    b = [v * 0.97 for v in a]  # 3% faster in every pair: p_faster vs +5% is 2^-8
    assert clearly_within(_cell("same", a, b), 0.05, SIGNED_RANK, level=0.005)
    assert not clearly_within(_cell("same", a, b), 0.05, SIGNED_RANK, level=0.5**8)
    assert unsure(_cell("same", a, b), 0.05, SIGNED_RANK, level=0.5**8)

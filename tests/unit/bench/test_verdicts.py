"""bench/verdicts.py: a goal is MET or MISSED only when the rounds say so."""

import math

import pytest
from verdicts import MET, MISSED, OPEN, Goal, difference, judge, percentile, relative_change


def mean_of(values: list[float]):
    return lambda rounds: sum(values[r] for r in rounds) / len(rounds)


def test_the_nearest_rank_percentile_counts_errors_as_the_slowest_answers() -> None:
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([1.0] * 98 + [math.inf] * 2, 99) == math.inf
    assert percentile([1.0] * 99 + [math.inf], 99) == 1.0


def test_rounds_that_agree_give_a_verdict_and_rounds_that_straddle_the_limit_leave_it_open() -> None:
    rounds = list(range(7))
    assert judge(Goal("low", mean_of([1, 2, 1, 2, 1, 2, 1]), 5.0), rounds).word == MET
    assert judge(Goal("high", mean_of([9, 8, 9, 8, 9, 8, 9]), 5.0), rounds).word == MISSED
    straddling = judge(Goal("both", mean_of([1, 9, 2, 8, 1, 9, 5]), 5.0), rounds)
    assert straddling.word == OPEN
    assert straddling.low < 5.0 < straddling.high
    assert judge(Goal("at least", mean_of([96, 97, 98, 96, 97, 98, 97]), 95.0, at_least=True), rounds).word == MET


def test_the_same_results_give_the_same_interval() -> None:
    goal = Goal("x", mean_of([1, 9, 2, 8, 1, 9, 5]), 5.0)
    assert judge(goal, list(range(7))) == judge(goal, list(range(7)))


def test_a_difference_with_a_base_that_failed_is_never_judged_met() -> None:
    assert math.isnan(difference(3.0, math.inf)) and math.isnan(relative_change(4.0, math.inf))
    assert math.isnan(difference(math.inf, math.inf)) and math.isnan(relative_change(4.0, 0.0))
    assert difference(3.0, 1.0) == 2.0 and relative_change(11.0, 10.0) == pytest.approx(10.0)
    goal = Goal("added p99", lambda rounds: difference(1.0, math.inf if 0 in rounds else 2.0), 1.0)
    assert judge(goal, [0, 1, 2]).word == OPEN


def test_a_value_that_failed_against_a_base_that_did_not_is_worse_than_any() -> None:
    assert difference(math.inf, 3.0) == math.inf and relative_change(math.inf, 4.0) == math.inf
    failing = [5.0, math.inf, 5.0, math.inf, 5.0, math.inf, 5.0]
    goal = Goal("added p99", lambda rounds: max(difference(failing[r], 4.0) for r in rounds), 1.0)
    assert judge(goal, list(range(7))).word == MISSED

"""Benchmark goals judged on evidence, not on one number.

A goal's figure is computed from a set of rounds (each round measured every path once, interleaved, so within a round
the paths are like for like). Its interval comes from resampling whole rounds with replacement (a bootstrap over
rounds, which keeps each round's pairing of paths), and the verdict says where the interval lies against the goal's
limit: MET when all of it meets the goal, MISSED when none of it does, OPEN when the rounds cannot tell. A p99 is
pooled over the requests of the rounds drawn, which resolves the tail far better than a median of per-round p99s
(one stall of 100 ms moves a 2,000-request p99 by tens of ms).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MET, MISSED, OPEN = "MET", "MISSED", "OPEN"


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q% of the values at or below it (inf when more
    than 100 - q% of them are errors, counted as inf)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def difference(value: float, base: float) -> float:
    """value - base. A p99 is infinite when more than 1% of its requests failed: against a base that failed nothing
    can be told (NaN), and a value that failed against a base that did not is worse than any finite one (inf)."""
    if not math.isfinite(base):
        return math.nan
    return value - base


def relative_change(value: float, base: float) -> float:
    """(value / base - 1) in %; NaN when the base is infinite or zero, inf when only the value is infinite."""
    if not math.isfinite(base) or not base:
        return math.nan
    return (value / base - 1) * 100


@dataclass(frozen=True)
class Goal:
    """`figure(rounds)` is the goal's value over those rounds (a round may come more than once); the goal is met when
    the value is at most `limit` (at least, with `at_least`)."""

    text: str
    figure: Callable[[Sequence[int]], float]
    limit: float
    at_least: bool = False

    def met_by(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit


@dataclass(frozen=True)
class Verdict:
    goal: Goal
    value: float  # over every round
    low: float  # the interval's ends
    high: float

    @property
    def word(self) -> str:
        if math.isnan(self.low) or math.isnan(self.high):
            return OPEN
        low_met, high_met = self.goal.met_by(self.low), self.goal.met_by(self.high)
        if low_met and high_met:
            return MET
        if not low_met and not high_met:
            return MISSED
        return OPEN


def judge(goal: Goal, rounds: Sequence[int], *, draws: int = 1000, confidence: float = 0.90, seed: int = 0) -> Verdict:
    """The goal's value over all `rounds`, and its `confidence` interval from `draws` resamplings of the rounds
    (seeded: the same results give the same verdict). A figure that cannot be told in some draw (NaN: e.g. a p99
    compared with a base that failed more than 1% of its requests) leaves the interval undefined, so the goal OPEN."""
    rng = random.Random(seed)
    values = [goal.figure(rng.choices(rounds, k=len(rounds))) for _ in range(draws)]
    if any(math.isnan(v) for v in values):
        return Verdict(goal, goal.figure(rounds), math.nan, math.nan)
    values.sort()
    tail = (1 - confidence) / 2
    low = values[int(tail * draws)]
    high = values[min(draws - 1, math.ceil((1 - tail) * draws) - 1)]
    return Verdict(goal, goal.figure(rounds), low, high)

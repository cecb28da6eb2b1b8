"""The confidence sequences under the gates: valid under continuous monitoring (a bound misses the truth at any look
with probability <= alpha), powerful against the alternatives the gates exist for, and sound for many classes."""

from __future__ import annotations

import math
import random

import pytest

from visionroll.rollout.sequential import (
    binomial_bounds,
    cdf_band,
    divergence_bounds,
    log_evidence,
    lower_bound,
    plug_in_bias,
    rate_bounds,
    slower_share,
    slower_share_bounds,
    upper_bound,
)
from visionroll.rollout.stats import js_divergence


def _ever_misses(p: float, *, runs: int, looks: int, every: int, alpha: float, seed: int) -> float:
    """Share of simulated streams in which the bounds exclude the true p at some look (checked every `every`)."""
    rng = random.Random(seed)
    missed = 0
    for _ in range(runs):
        hits = 0
        for look in range(1, looks + 1):
            hits += sum(rng.random() < p for _ in range(every))
            lo, hi = binomial_bounds(hits, look * every, alpha=alpha, prior_mean=0.01, prior_strength=100)
            if not lo <= p <= hi:
                missed += 1
                break
    return missed / runs


def test_looking_after_every_interval_does_not_inflate_the_error_rate() -> None:
    # 60 looks per stream; a fixed-sample 95% interval looked at this often misses far more than 5% of the time.
    assert _ever_misses(0.01, runs=300, looks=60, every=50, alpha=0.05, seed=1) <= 0.05
    assert _ever_misses(0.03, runs=300, looks=60, every=50, alpha=0.05, seed=2) <= 0.05


def test_a_naive_fixed_sample_interval_looked_at_repeatedly_does_miss() -> None:
    # The contrast the sequence exists for: a Wald interval checked at every look misses well above its 5%.
    rng = random.Random(3)
    missed = 0
    for _ in range(300):
        hits = 0
        for look in range(1, 61):
            hits += sum(rng.random() < 0.03 for _ in range(50))
            n = look * 50
            half = 1.96 * math.sqrt(max(hits / n * (1 - hits / n), 1e-9) / n)
            if abs(hits / n - 0.03) > half:
                missed += 1
                break
    assert missed / 300 > 0.15


def test_bounds_hold_the_estimate_and_shrink_with_evidence() -> None:
    lo1, hi1 = binomial_bounds(10, 1000, alpha=0.05)
    lo2, hi2 = binomial_bounds(100, 10000, alpha=0.05)
    assert lo1 <= 0.01 <= hi1 and lo2 <= 0.01 <= hi2
    assert hi2 - lo2 < hi1 - lo1
    assert binomial_bounds(0, 0, alpha=0.05) == (0.0, 1.0)
    assert binomial_bounds(0, 500, alpha=0.05)[0] == 0.0
    assert binomial_bounds(500, 500, alpha=0.05)[1] == 1.0
    with pytest.raises(ValueError, match="alpha"):
        binomial_bounds(1, 2, alpha=1.5)


def test_power_against_a_class_swap_and_twice_the_error_limit() -> None:
    # 20% disagreement against a 3% limit: the upper bound on agreement falls below 0.97 within ~60 comparisons.
    lo, hi = binomial_bounds(48, 60, alpha=0.05, prior_mean=0.97, prior_strength=100)
    assert hi < 0.97
    # Twice a 1% error limit is proven above it within a few thousand requests.
    lo, hi = binomial_bounds(60, 3000, alpha=0.05, prior_mean=0.01, prior_strength=100)
    assert lo > 0.01


def _classes(rng: random.Random, k: int, n: int) -> dict[str, float]:
    counts: dict[str, float] = {}
    for _ in range(n):
        c = str(rng.randrange(k))
        counts[c] = counts.get(c, 0) + 1
    return counts


def test_identical_class_mixes_over_1000_classes_never_prove_drift() -> None:
    rng = random.Random(4)
    for n in (200, 2000, 20000):
        cand, stable = _classes(rng, 1000, n), _classes(rng, 1000, 10 * n)
        raw = js_divergence(cand, stable)
        lo, hi, k = divergence_bounds(cand, stable, alpha=0.05)
        assert lo == 0.0 <= hi
        if n == 200:
            assert raw > 0.1  # the raw divergence would have failed a healthy candidate
            assert raw == pytest.approx(plug_in_bias(k, n, 10 * n), rel=0.5)


def test_identical_class_mixes_with_100_classes_do_not_fail_at_200_samples() -> None:
    rng = random.Random(5)
    cand, stable = _classes(rng, 100, 200), _classes(rng, 100, 4000)
    assert js_divergence(cand, stable) > 0.1
    lo, _, _ = divergence_bounds(cand, stable, alpha=0.05)
    assert lo <= 0.1


def test_a_collapsed_class_mix_is_proven_to_drift() -> None:
    cand = {"0": 800.0, **{str(c): 20.0 for c in range(1, 11)}}
    stable = {str(c): 1000.0 for c in range(11)}
    lo, hi, _ = divergence_bounds(cand, stable, alpha=0.05)
    assert lo > 0.1 and lo <= js_divergence(cand, stable) <= hi


def _lognormal_cdf(bounds: list[float], median: float, sigma: float) -> list[float]:
    return [0.5 * (1 + math.erf((math.log(b) - math.log(median)) / (sigma * math.sqrt(2)))) for b in bounds]


BOUNDS = [0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1]


def test_slower_share_is_one_half_for_identical_histograms_and_grows_with_slowness() -> None:
    same = _lognormal_cdf(BOUNDS, 0.02, 0.3)
    assert slower_share(same, same) == pytest.approx(0.5)
    slower = _lognormal_cdf(BOUNDS, 0.03, 0.3)
    assert slower_share(slower, same) > 0.75


def test_slower_share_bounds_bracket_the_truth_and_decide_with_evidence() -> None:
    stable = [4000 * f for f in _lognormal_cdf(BOUNDS, 0.02, 0.3)]
    cand = [400 * f for f in _lognormal_cdf(BOUNDS, 0.02, 0.3)]
    lo, hi = slower_share_bounds(cand, 400, stable, 4000, alpha=0.05)
    assert lo < 0.5 < hi
    slow = [400 * f for f in _lognormal_cdf(BOUNDS, 0.03, 0.3)]
    lo, _ = slower_share_bounds(slow, 400, stable, 4000, alpha=0.05)
    assert lo > 0.6


def test_cdf_bands_are_monotone() -> None:
    lows, highs = cdf_band([10, 5, 50, 90], 100, alpha=0.05)  # a non-monotone input still yields monotone bands
    assert lows == sorted(lows) and highs == sorted(highs)
    assert all(lo <= hi for lo, hi in zip(lows, highs, strict=True))


def _first_verdict(p: float, limit: float, *, seed: int, every: int = 50, most: int = 20000) -> tuple[str, int]:
    """Look every `every` requests until the one-sided bounds decide p against `limit` (at most `most` requests)."""
    rng = random.Random(seed)
    hits = n = 0
    while n < most:
        hits += sum(rng.random() < p for _ in range(every))
        n += every
        lo, hi = rate_bounds(hits, n, alpha=0.05)
        if lo > limit or hi <= limit:
            return ("fail" if lo > limit else "pass"), n
    return "none", n


def test_each_one_sided_sequence_misses_at_most_its_alpha_under_continuous_monitoring() -> None:
    # At the boundary (true rate = the tested rate) a side is rejected with probability <= alpha / 2 over all looks.
    missed = {}
    for p, seed in ((0.01, 4), (0.3, 5)):
        rng = random.Random(seed)
        above = below = 0
        for _ in range(200):
            hits = 0
            for look in range(1, 41):
                hits += sum(rng.random() < p for _ in range(50))
                lo, hi = rate_bounds(hits, look * 50, alpha=0.05)
                if lo > p or hi < p:
                    above, below = above + (lo > p), below + (hi < p)
                    break
        missed[p] = (above / 200, below / 200)
    assert all(a <= 0.025 + 0.02 and b <= 0.025 + 0.02 for a, b in missed.values()), missed


def test_the_one_sided_tests_decide_twice_and_half_the_limit() -> None:
    # Twice the limit fails and half of it passes, never the other way round; Wald's sequential test needs about
    # ln(1 / alpha) / KL requests for 2% against 1% (~950 at alpha / 2 = 0.025), a mixture a little more.
    twice = [_first_verdict(0.02, 0.01, seed=s) for s in range(40)]
    assert all(v == "fail" for v, _ in twice)
    assert sorted(n for _, n in twice)[20] < 1400
    half = [_first_verdict(0.005, 0.01, seed=100 + s) for s in range(20)]
    assert all(v == "pass" for v, _ in half)


def test_one_sided_bounds_shrink_to_the_estimate_and_mirror_each_other() -> None:
    assert lower_bound(0, 1000, alpha=0.05) == 0.0 and upper_bound(1000, 1000, alpha=0.05) == 1.0
    assert lower_bound(0, 0, alpha=0.05) == 0.0 and upper_bound(0, 0, alpha=0.05) == 1.0
    assert upper_bound(30, 1000, alpha=0.05) == pytest.approx(1 - lower_bound(970, 1000, alpha=0.05))
    lo, hi = rate_bounds(9_000, 1_000_000, alpha=0.05)
    assert 0.0085 < lo < 0.009 < hi < 0.0095  # a rate just inside a 1% limit passes with enough evidence
    # The evidence against "at most q" falls as q grows, which makes the bound a single crossing.
    assert log_evidence(30, 1000, 0.01) > log_evidence(30, 1000, 0.02) > log_evidence(30, 1000, 0.03)
    with pytest.raises(ValueError):
        lower_bound(1, 2, alpha=0)

"""The statistics under the gates, checked against values computed by hand or by scipy's definitions."""

from __future__ import annotations

import math

import pytest

from visionroll.rollout.stats import js_divergence, two_proportion_z, wilson_interval, z_quantile


def test_z_quantiles() -> None:
    assert z_quantile(0.95) == pytest.approx(1.6449, abs=1e-4)
    assert z_quantile(0.99) == pytest.approx(2.3263, abs=1e-4)
    with pytest.raises(ValueError):
        z_quantile(1.0)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (0, 200, 0.0, 0.01335),  # z^2 / (n + z^2) with z = 1.645
        (10, 100, 0.06072, 0.16036),  # reference values: scipy binomtest(...).proportion_ci(0.90, "wilson")
        (50, 100, 0.41885, 0.58115),
        (100, 100, 0.97366, 1.0),
    ],
)
def test_wilson_bounds(successes: int, trials: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(successes, trials, z=z_quantile(0.95))
    assert lo == pytest.approx(low, abs=2e-4)
    assert hi == pytest.approx(high, abs=2e-4)


def test_wilson_without_trials_knows_nothing() -> None:
    assert wilson_interval(0, 0, z=1.645) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4, z=1.645)


def test_two_proportion_z() -> None:
    # p1 = 0.1, p2 = 0.05, pooled 0.075: z = 0.05 / sqrt(0.075 * 0.925 * (2/1000)) = 4.2448
    assert two_proportion_z(100, 1000, 50, 1000) == pytest.approx(4.2448, abs=1e-3)
    assert two_proportion_z(50, 1000, 100, 1000) == pytest.approx(-4.2448, abs=1e-3)
    assert two_proportion_z(0, 100, 0, 100) == 0.0
    assert two_proportion_z(1, 0, 1, 10) == 0.0


def test_js_divergence_bounds_and_symmetry() -> None:
    p = {"0": 50.0, "1": 30.0, "2": 20.0}
    assert js_divergence(p, p) == 0.0
    assert js_divergence(p, {k: v * 7 for k, v in p.items()}) == pytest.approx(0.0)  # counts, not probabilities
    assert js_divergence({"a": 1.0}, {"b": 1.0}) == pytest.approx(1.0)
    q = {"0": 10.0, "1": 10.0, "3": 80.0}
    assert js_divergence(p, q) == pytest.approx(js_divergence(q, p))


def test_js_divergence_by_hand() -> None:
    # P = (1/2, 1/2), Q = (1, 0): M = (3/4, 1/4); JS = 1/2 KL(P||M) + 1/2 KL(Q||M)
    kl_p = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_q = math.log2(1 / 0.75)
    assert js_divergence({"a": 1, "b": 1}, {"a": 5}) == pytest.approx(0.5 * kl_p + 0.5 * kl_q)
    assert js_divergence({"a": 1, "b": 1}, {"a": 5}) == pytest.approx(0.3113, abs=1e-4)


def test_js_divergence_needs_data() -> None:
    with pytest.raises(ValueError):
        js_divergence({}, {"a": 1.0})

"""Judging one analysis: each gate's verdict, threshold text and sample count."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from support.rollout_sim import make_spec
from visionroll.api import GateResult
from visionroll.rollout.analysis import judge, overall, summary, thresholds
from visionroll.rollout.types import Measurement, Measurements


def _judge(
    gates: dict[str, Any], stage: str = "canary", **values: tuple[float | None, int] | str
) -> dict[str, GateResult]:
    strategy = "shadow" if "agreement" in gates else "canary"
    spec = make_spec(strategy, gates=gates, minSamples=100)
    ms = tuple(
        Measurement(gate=k.replace("_", "."), value=None, samples=0, error=v)
        if isinstance(v, str)
        else Measurement(gate=k.replace("_", "."), value=v[0], samples=v[1])
        for k, v in values.items()
    )
    results = judge(spec.rollout.analysis, stage, Measurements(time=datetime.now(UTC), window_seconds=20, values=ms))
    return {r.name: r for r in results}


@pytest.mark.parametrize(
    ("errors", "n", "verdict"),
    [
        (0, 500, "pass"),
        (5, 500, "pass"),  # 1.0% observed at max 1%: not evidence of exceeding it
        (7, 500, "pass"),  # 1.4%: lower bound 0.0076 still below max
        (9, 500, "fail"),  # 1.8%: lower bound 0.0105 > max
        (2, 100, "pass"),
        (0, 99, "inconclusive"),
    ],
)
def test_error_rate_uses_a_one_sided_wilson_bound(errors: int, n: int, verdict: str) -> None:
    r = _judge({"errorRate": {"max": 0.01}}, errorRate=(errors / n, n))["errorRate"]
    assert r.verdict == verdict
    assert r.threshold == "<= 0.01 (95% one-sided Wilson)"
    assert r.samples == n


def test_a_higher_confidence_needs_more_evidence_to_fail() -> None:
    assert _judge({"errorRate": {"max": 0.01}}, errorRate=(0.018, 1000))["errorRate"].verdict == "fail"
    strict = _judge({"errorRate": {"max": 0.01, "confidence": 0.999}}, errorRate=(0.018, 1000))["errorRate"]
    assert strict.verdict == "pass"


def test_latency_absolute_and_ratio() -> None:
    gates = {"latencyP99": {"maxMs": 150, "maxRatioToStable": 1.2}}
    ok = _judge(gates, latencyP99=(120.0, 300), latencyP99_stable=(110.0, 3000))
    assert (ok["latencyP99"].verdict, ok["latencyP99Ratio"].verdict) == ("pass", "pass")
    assert ok["latencyP99Ratio"].value == pytest.approx(120 / 110)
    slow = _judge(gates, latencyP99=(160.0, 300), latencyP99_stable=(100.0, 3000))
    assert (slow["latencyP99"].verdict, slow["latencyP99Ratio"].verdict) == ("fail", "fail")
    assert slow["latencyP99"].threshold == "<= 150ms"


@pytest.mark.parametrize(
    "values",
    [{}, {"drift": (None, 0)}, {"drift": "HTTPConnectionPool: refused"}, {"drift": (0.01, 99)}],
    ids=["not measured", "no data", "query error", "too few samples"],
)
def test_no_evidence_is_inconclusive(values: dict[str, Any]) -> None:
    r = _judge({"drift": {"max": 0.1}}, **values)["drift"]
    assert r.verdict == "inconclusive" and r.message


def test_agreement_only_on_shadow_traffic() -> None:
    assert _judge({"agreement": {"min": 0.97}}, "shadow", agreement=(0.96, 400))["agreement"].verdict == "fail"
    assert "agreement" not in _judge({"agreement": {"min": 0.97}}, "canary", agreement=(0.96, 400))


def test_custom_gate_bounds() -> None:
    gates = {"custom": [{"name": "queue", "query": "x", "min": 1, "max": 5}]}
    assert _judge(gates, **{"custom:queue": (3.0, 200)})["custom:queue"].verdict == "pass"
    r = _judge(gates, **{"custom:queue": (6.0, 200)})["custom:queue"]
    assert (r.verdict, r.threshold) == ("fail", ">= 1 and <= 5")


def test_overall_and_summary() -> None:
    results = _judge({"drift": {"max": 0.1}, "errorRate": {"max": 0.01}}, drift=(0.3, 500), errorRate="down")
    assert overall(results.values()) == "fail"
    assert overall([results["errorRate"]]) == "inconclusive"
    assert overall([]) == "inconclusive"  # no gate judged is no evidence, never a pass
    text = summary(results.values())
    assert "drift=0.3 (<= 0.1, n=500) fail" in text and "errorRate=n/a" in text and "[down]" in text


def test_thresholds_are_the_numeric_limits_of_gates_that_have_exactly_one() -> None:
    gates = {
        "latencyP99": {"maxMs": 150, "maxRatioToStable": 1.5},
        "errorRate": {"max": 0.01, "confidence": 0.95},
        "drift": {"max": 0.1},
        "custom": [{"name": "low", "query": "q", "min": 0.9}, {"name": "band", "query": "q", "min": 1, "max": 5}],
    }
    limits = thresholds(make_spec("canary", gates=gates).rollout.analysis.gates)
    # errorRateVsStable (a z test) and a custom band have no single limit: never the 95 of "(95% one-sided z)".
    assert limits == {"latencyP99": 150, "latencyP99Ratio": 1.5, "errorRate": 0.01, "drift": 0.1, "custom:low": 0.9}

"""Judging one analysis: each gate's verdict from its bounds, threshold text, samples; the catalogue drives
required_measurements, judge and thresholds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from support.rollout_sim import make_spec, measurement
from visionroll.api import GateResult, VisionModelStatus
from visionroll.rollout import gates as g
from visionroll.rollout.analysis import counts_as_inconclusive, judge, lacks_evidence, overall, summary, thresholds
from visionroll.rollout.catalogue import CATALOGUE, Scope, entries
from visionroll.rollout.types import Measurements


def _judge(
    gates: dict[str, Any], stage: str = "canary", **values: tuple[float | None, int] | str
) -> dict[str, GateResult]:
    strategy = "shadow" if "agreement" in gates else "canary"
    spec = make_spec(strategy, gates=gates, minSamples=100)
    ms = tuple(measurement(k.replace("_", "."), v) for k, v in values.items())
    results = judge(spec.rollout.analysis, stage, Measurements(time=datetime.now(UTC), window_seconds=20, values=ms))
    return {r.name: r for r in results}


@pytest.mark.parametrize(
    ("errors", "n", "verdict"),
    [
        (0, 1000, "pass"),  # upper bound 0.005 <= 0.01
        (5, 500, "inconclusive"),  # 1.0% observed at max 1%: neither bound is beyond
        (20, 4000, "pass"),  # half the limit, with enough evidence
        (60, 2000, "fail"),  # 3%: lower bound above 1%
        (0, 150, "inconclusive"),  # too little evidence to clear 1% either way
        (0, 99, "inconclusive"),  # below minSamples: no bounds at all
    ],
)
def test_error_rate_is_judged_by_its_confidence_sequence(errors: int, n: int, verdict: str) -> None:
    r = _judge({"errorRate": {"max": 0.01}}, errorRate=(errors / n, n))["errorRate"]
    assert r.verdict == verdict
    assert r.threshold == "<= 0.01 (95% confidence sequence)"
    assert r.samples == n
    if n >= 100:
        assert r.lower is not None and r.upper is not None and r.lower <= errors / n <= r.upper
    else:
        assert r.lower is None and r.upper is None


def test_a_higher_confidence_needs_more_evidence_to_fail() -> None:
    assert _judge({"errorRate": {"max": 0.01}}, errorRate=(0.02, 2000))["errorRate"].verdict == "fail"
    strict = _judge({"errorRate": {"max": 0.01, "confidence": 0.9999}}, errorRate=(0.02, 2000))["errorRate"]
    assert strict.verdict == "inconclusive"


def test_latency_tail_share_at_the_bucket_bounds() -> None:
    gates = {"latencyP99": {"maxMs": 150}}
    ok = _judge(gates, latency=(20.0, 2000))["latencyP99"]  # p99 ~40 ms
    assert ok.verdict == "pass" and ok.value == pytest.approx(40, rel=0.1)
    slow = _judge(gates, latency=(120.0, 2000))["latencyP99"]  # p99 ~240 ms: 23% slower than 150 ms
    assert slow.verdict == "fail" and slow.threshold == "<= 150ms (share slower <= 1%)"
    near = _judge(gates, latency=(70.0, 300))["latencyP99"]  # p99 ~140 ms, 300 requests: cannot tell yet
    assert near.verdict == "inconclusive" and near.upper is not None


def test_latency_vs_stable_is_a_mann_whitney_comparison() -> None:
    gates = {"latencyP99": {"maxRatioToStable": 1.2}}
    same = _judge(gates, latency=(20.0, 3000), latency_stable=(20.0, 30000))["latencyVsStable"]
    assert same.verdict == "pass" and same.value == pytest.approx(0.5, abs=0.01)
    slower = _judge(gates, latency=(30.0, 3000), latency_stable=(20.0, 30000))["latencyVsStable"]
    assert slower.verdict == "fail" and slower.lower is not None and slower.lower > 0.6
    few = _judge(gates, latency=(20.0, 3000), latency_stable=(20.0, 50))["latencyVsStable"]
    assert few.verdict == "inconclusive" and "minSamples" in few.message  # stable's sample size is checked too


def test_drift_uses_bounds_not_the_raw_divergence() -> None:
    gates = {"drift": {"max": 0.1}}
    healthy = _judge(gates, predictions=(0.0, 3000), predictions_stable=(0.0, 30000))["drift"]
    assert healthy.verdict == "pass" and healthy.upper is not None and healthy.upper <= 0.1
    shifted = _judge(gates, predictions=(0.8, 1000), predictions_stable=(0.0, 30000))["drift"]
    assert shifted.verdict == "fail" and shifted.lower is not None and shifted.lower > 0.1
    young = _judge(gates, predictions=(0.0, 120), predictions_stable=(0.0, 30000))["drift"]
    assert young.verdict == "inconclusive" and "sampling bias" in young.message


@pytest.mark.parametrize(
    "values",
    [{}, {"predictions": (None, 0)}, {"predictions": "HTTPConnectionPool: refused"}],
    ids=["not measured", "no data", "query error"],
)
def test_no_evidence_is_inconclusive_without_bounds(values: dict[str, Any]) -> None:
    r = _judge({"drift": {"max": 0.1}}, predictions_stable=(0.0, 3000), **values)["drift"]
    assert r.verdict == "inconclusive" and r.message and r.lower is None
    assert lacks_evidence([r])


def test_samples_short_of_min_samples_are_evidence_accumulating() -> None:
    """A 5% canary step of 80 req/s gets 200 samples in 50 s: until the stage is out of time, a gate short of
    minSamples is waited for, not counted against inconclusiveLimit (found applying examples/canary.yaml on real
    pods: three 10 s analyses short of 200 samples rolled a healthy candidate back)."""
    r = _judge({"drift": {"max": 0.1}}, predictions_stable=(0.0, 3000), predictions=(0.0, 99))["drift"]
    assert r.verdict == "inconclusive" and "minSamples" in (r.message or "") and r.lower is None
    assert not lacks_evidence([r])
    assert counts_as_inconclusive([r], out_of_time=True) and not counts_as_inconclusive([r], out_of_time=False)


def test_agreement_on_shadow_traffic_and_on_paired_copies() -> None:
    assert _judge({"agreement": {"min": 0.97}}, "shadow", agreement=(0.8, 400))["agreement"].verdict == "fail"
    assert _judge({"agreement": {"min": 0.97}}, "shadow", agreement=(0.995, 3000))["agreement"].verdict == "pass"
    assert "agreement" not in _judge({"agreement": {"min": 0.97}}, "canary", agreement=(0.8, 400))
    paired = {"agreement": {"min": 0.97, "pairedPercent": 50}}
    assert _judge(paired, "canary", agreement=(0.8, 400))["agreement"].verdict == "fail"


def test_custom_gate_bounds() -> None:
    gates = {"custom": [{"name": "queue", "query": "x", "min": 1, "max": 5}]}
    assert _judge(gates, **{"custom:queue": (3.0, 200)})["custom:queue"].verdict == "pass"
    r = _judge(gates, **{"custom:queue": (6.0, 200)})["custom:queue"]
    assert (r.verdict, r.threshold) == ("fail", ">= 1 and <= 5")


def test_overall_summary_and_what_counts_as_inconclusive() -> None:
    results = _judge(
        {"drift": {"max": 0.1}, "errorRate": {"max": 0.01}},
        predictions=(0.8, 1000),
        predictions_stable=(0.0, 30000),
        errorRate="down",
    )
    assert overall(results.values()) == "fail"
    assert overall([results["errorRate"]]) == "inconclusive"
    assert overall([]) == "inconclusive"  # no gate judged is no evidence, never a pass
    text = summary(results.values())
    assert "drift=" in text and "fail" in text and "errorRate=n/a" in text and "[down]" in text
    accumulating = _judge({"errorRate": {"max": 0.01}}, errorRate=(0.0, 150))["errorRate"]
    assert not counts_as_inconclusive([accumulating], out_of_time=False)
    assert counts_as_inconclusive([accumulating], out_of_time=True)
    assert counts_as_inconclusive([results["errorRate"]], out_of_time=False)


def test_thresholds_are_the_numeric_limits_of_gates_that_have_exactly_one() -> None:
    gates = {
        "latencyP99": {"maxMs": 150, "maxRatioToStable": 1.5},
        "errorRate": {"max": 0.01, "confidence": 0.95},
        "drift": {"max": 0.1},
        "custom": [{"name": "low", "query": "q", "min": 0.9}, {"name": "band", "query": "q", "min": 1, "max": 5}],
    }
    limits = thresholds(make_spec("canary", gates=gates).rollout.analysis.gates)
    assert limits == {"latencyP99": 150, "latencyVsStable": 0.6, "errorRate": 0.01, "drift": 0.1, "custom:low": 0.9}


def test_the_catalogue_declares_each_gate_once_and_drives_the_measurements() -> None:
    names = [e.name for e in CATALOGUE]
    assert len(names) == len(set(names))
    assert all(e.measures and e.test and e.panel and e.queries for e in CATALOGUE)
    spec = make_spec("split", gates={"errorRate": {"max": 0.01}, "drift": {"max": 0.1}})
    analysis = spec.rollout.analysis
    scope = Scope(gates=analysis.gates, stage="split", vs_stable=True, min_samples=100)
    expected: list[str] = []
    for e in entries(scope):
        expected.extend(m for m in e.measurements if m not in expected)
    assert g.required_measurements(analysis, "split") == tuple(expected)
    assert g.required_measurements(analysis, "split") == (
        g.ERROR_RATE,
        g.ERROR_RATE_STABLE,
        g.PREDICTIONS,
        g.PREDICTIONS_STABLE,
    )
    judged = judge(analysis, "split", Measurements(time=datetime.now(UTC), window_seconds=20))
    assert [r.name for r in judged] == [e.name for e in entries(scope)]
    # At a canary step of 100% nothing compares with stable.
    assert g.required_measurements(analysis, "canary", vs_stable=False) == (g.ERROR_RATE,)


def test_latency_is_compared_with_stable_only_at_equal_load() -> None:
    """A 5% candidate's batches wait longer for company than the stable's: its latency is compared with stable's
    only once it serves at least the stable's share (found on real pods: P(slower) 0.73 at 5% for the same model)."""

    def status(stage: str, candidate: int = 0, mirror: int = 0) -> VisionModelStatus:
        weights = {"stable": 100 - candidate, "candidate": candidate}
        return VisionModelStatus.model_validate({"stage": stage, "weights": weights, "mirrorPercent": mirror})

    assert [g.equal_load(status("canary", w)) for w in (5, 25, 50, 100)] == [False, False, True, True]
    assert g.equal_load(status("split", 50)) and not g.equal_load(status("split", 10))
    assert g.equal_load(status("shadow", mirror=100)) and not g.equal_load(status("shadow", mirror=20))
    gates = {"latencyP99": {"maxRatioToStable": 1.2}}
    spec = make_spec(gates=gates)
    names = {r.name for r in judge(spec.rollout.analysis, "canary", {}, equal_load=False)}
    assert g.LATENCY_VS_STABLE not in names
    assert g.LATENCY_VS_STABLE in {r.name for r in judge(spec.rollout.analysis, "canary", {}, equal_load=True)}

"""Split: fixed weights for a duration, the variants compared; the winner is promoted, or a person decides."""

from __future__ import annotations

from support.rollout_sim import CAND, STABLE, make_spec, run, script, stable_status, tick, with_rollout
from visionroll.rollout.types import Controls


def test_split_holds_fixed_weights_and_promotes_a_candidate_that_wins() -> None:
    result = run(make_spec("split"), stable_status())
    assert result.outcomes == [(0, "started"), (60, "promoted")]
    assert {(d.status.weights.stable, d.status.weights.candidate) for d in result.decisions[:-1]} == {(50, 50)}
    gates = {x.name for x in result.status.analysis.gates}  # type: ignore[union-attr]
    assert {"errorRateVsStable", "latencyVsStable", "errorRate"} <= gates
    assert result.status.stable == CAND and "won the split" in result.status.history[-1].reason


def test_a_candidate_worse_than_stable_loses_even_below_the_absolute_limit() -> None:
    # 1.5% errors passes errorRate max 0.02, but is worse than stable's 0.1% by more than max / 2.
    spec = make_spec("split", failureLimit=10, gates={"errorRate": {"max": 0.02}, "latencyP99": {"maxMs": 500}})
    worse = script(errorRate=(0.015, 50000), errorRate_stable=(0.001, 50000))
    result = run(spec, stable_status(), measure=worse)
    assert result.outcomes[-1] == (60, "rolled-back")
    assert result.status.stable == STABLE and "stable won the split" in result.status.history[-1].reason


def test_split_latency_must_not_be_worse_without_a_configured_ratio() -> None:
    # Without maxRatioToStable a split still compares latency with stable: 1.5x slower (a candidate request is
    # slower than a stable one ~83% of the time) is beyond P(slower) <= 0.6.
    spec = make_spec("split", failureLimit=10, gates={"latencyP99": {"maxMs": 500}})
    slow = script(latency=(30.0, 4000), latency_stable=(20.0, 8000))
    result = run(spec, stable_status(), measure=slow)
    assert result.outcomes[-1][1] == "rolled-back"
    assert "latencyVsStable" in result.status.history[-1].reason


def test_split_is_not_decided_by_a_small_latency_difference() -> None:
    # A median 5% above stable's: a candidate request is slower than a stable one ~55% of the time, within 0.6.
    spec = make_spec("split", failureLimit=10, gates={"latencyP99": {"maxMs": 500}})
    noisy = script(latency=(21.0, 8000), latency_stable=(20.0, 8000))
    result = run(spec, stable_status(), measure=noisy)
    assert result.outcomes[-1] == (60, "promoted")


def test_manual_split_waits_in_paused_for_a_person() -> None:
    spec = with_rollout(make_spec("split"), split={"weights": [80, 20], "duration": "60s", "decide": "manual"})
    result = run(spec, stable_status(), until=300)
    s = result.status
    assert (s.phase, s.pause_reason, s.candidate) == ("Paused", "decision", CAND)
    assert (s.weights.stable, s.weights.candidate) == (80, 20)
    assert "candidate is ahead" in s.message
    aborted = tick(spec, s, 400, controls=Controls(abort=CAND.revision))
    assert aborted.outcome == "aborted" and aborted.status.stable == STABLE
    assert aborted.status.weights.stable == 100


def test_inconclusive_at_the_end_of_a_split_does_not_promote() -> None:
    spec = make_spec("split", inconclusiveLimit=100)
    result = run(spec, stable_status(), measure=script(errorRate_stable=(0.0, 10)), until=200)
    assert result.status.candidate == CAND and all(o != "promoted" for _, o in result.outcomes)

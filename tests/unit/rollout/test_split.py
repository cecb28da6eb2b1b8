"""Split: fixed weights for a duration, the variants compared; the winner is promoted, or a person decides."""

from __future__ import annotations

from support.rollout_sim import CAND, STABLE, make_spec, run, script, stable_status, tick, with_rollout
from visionroll.rollout.types import Controls


def test_split_holds_fixed_weights_and_promotes_a_candidate_that_wins() -> None:
    result = run(make_spec("split"), stable_status())
    assert result.outcomes == [(0, "started"), (60, "promoted")]
    assert {(d.status.weights.stable, d.status.weights.candidate) for d in result.decisions[:-1]} == {(50, 50)}
    gates = {x.name for x in result.status.analysis.gates}  # type: ignore[union-attr]
    assert {"errorRateVsStable", "latencyP99Ratio", "errorRate"} <= gates
    assert result.status.stable == CAND and "won the split" in result.status.history[-1].reason


def test_a_candidate_worse_than_stable_loses_even_below_the_absolute_limit() -> None:
    # 0.8% errors passes errorRate max 0.01, but is significantly worse than stable's 0.1%.
    spec = make_spec("split", failureLimit=10)
    result = run(spec, stable_status(), measure=script(errorRate=(0.008, 5000), errorRate_stable=(0.001, 5000)))
    assert result.outcomes[-1] == (60, "rolled-back")
    assert result.status.stable == STABLE and "stable won the split" in result.status.history[-1].reason


def test_split_latency_must_not_be_worse_without_a_configured_ratio() -> None:
    # Without maxRatioToStable the split compares medians: 30 ms vs 20 ms is beyond 1.2x + 2 ms.
    spec = make_spec("split", failureLimit=10, gates={"latencyP99": {"maxMs": 500}})
    slow = script(latencyP50=(30.0, 500), latencyP50_stable=(20.0, 4000))
    result = run(spec, stable_status(), measure=slow)
    assert result.outcomes[-1] == (60, "rolled-back")
    assert "latencyP50VsStable" in result.status.history[-1].reason


def test_split_is_not_decided_by_tail_noise_when_medians_agree() -> None:
    # Tails 2x apart (scheduling noise on a busy node) with equal medians: the candidate is not slower.
    spec = make_spec("split", failureLimit=10, gates={"latencyP99": {"maxMs": 500}})
    noisy = script(latencyP99=(46.5, 1000), latencyP50=(9.0, 1000), latencyP50_stable=(8.5, 1000))
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

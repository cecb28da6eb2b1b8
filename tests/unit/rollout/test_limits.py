"""No evidence, no promotion: missing data, too few samples and query errors are inconclusive; limits end a rollout."""

from __future__ import annotations

import pytest

from support.rollout_sim import CAND, STABLE, make_spec, run, script, stable_status, tick, with_rollout
from visionroll.api import parse_duration
from visionroll.rollout.strategies import seconds
from visionroll.rollout.types import Controls

NEVER_MEASURABLE = {
    "no data": script(errorRate=(None, 0)),
    "prometheus error": script(errorRate="connection refused", latencyP99="connection refused"),
}


@pytest.mark.parametrize("measure", NEVER_MEASURABLE.values(), ids=NEVER_MEASURABLE.keys())
def test_inconclusive_never_promotes_and_rolls_back_at_the_limit(measure: object) -> None:
    result = run(make_spec(), stable_status(), measure=measure)  # type: ignore[arg-type]
    assert [o for _, o in result.outcomes] == ["started", "rolled-back"]
    assert result.times[-1] == 30  # analyses at 10, 20, 30 s; inconclusiveLimit 3
    s = result.status
    assert (s.phase, s.stable, s.candidate) == ("RolledBack", STABLE, None)
    assert (s.weights.stable, s.weights.candidate) == (100, 0)
    assert s.inconclusive_checks == 3 and s.failed_checks == 0
    assert s.rolled_back is not None and (s.rolled_back.revision, s.rolled_back.generation) == (CAND.revision, 2)
    assert "inconclusive" in s.history[-1].reason
    assert result.reasons().count("AnalysisInconclusive") == 3


def test_too_few_samples_never_promote_and_roll_back_once_the_stage_is_out_of_time() -> None:
    """Samples short of minSamples are evidence still accumulating: waited for until the stage's duration plus
    progressDeadline, then counted against inconclusiveLimit like no data."""
    spec = make_spec()
    result = run(spec, stable_status(), measure=script(errorRate=(0.0, 99)), until=4 * 3600)  # type: ignore[arg-type]
    assert [o for _, o in result.outcomes] == ["started", "rolled-back"]
    patience = seconds(spec, "canary") + parse_duration(spec.rollout.progress_deadline)
    assert patience < result.times[-1] <= patience + 4 * 10  # three analyses past it, at a 10 s interval
    assert result.status.inconclusive_checks == 3 and "inconclusive" in result.status.history[-1].reason


def test_too_few_samples_reports_value_and_reason() -> None:
    spec = make_spec()
    status = tick(spec, stable_status(), 0).status
    gate = {g.name: g for g in tick(spec, status, 10, measure=script(errorRate=(0.0, 99))).status.analysis.gates}  # type: ignore[union-attr]
    assert gate["errorRate"].verdict == "inconclusive"
    assert gate["errorRate"].samples == 99 and "minSamples 100" in gate["errorRate"].message
    assert gate["drift"].verdict == "pass"


def test_inconclusive_limit_pauses_when_asked() -> None:
    spec = make_spec(onInconclusive="pause")
    result = run(spec, stable_status(), measure=script(errorRate="timeout"), until=120)
    s = result.status
    assert (s.phase, s.pause_reason, s.candidate) == ("Paused", "inconclusive", CAND)
    assert result.outcomes[-1] == (30, "paused")
    # A hold waits for a person: no analysis, no promotion, no rollback, however long.
    assert all(d.outcome is None for d in result.decisions[7:])
    promoted = tick(spec, s, 200, controls=Controls(promote=CAND.revision))
    assert promoted.outcome == "promoted" and promoted.status.stable == CAND


def test_failure_limit_rolls_back_and_counts_failures_apart() -> None:
    result = run(make_spec(), stable_status(), measure=script(errorRate=(0.2, 500)))
    assert [o for _, o in result.outcomes] == ["started", "rolled-back"]
    assert result.times[-1] == 20  # failureLimit 2
    s = result.status
    assert (s.failed_checks, s.inconclusive_checks) == (2, 0)
    assert s.phase == "RolledBack" and s.weights.stable == 100 and s.candidate is None
    assert "errorRate=0.2" in s.history[-1].reason and s.history[-1].outcome == "rolled-back"


def test_failures_are_cumulative_within_a_step_inconclusive_consecutive() -> None:
    spec = with_rollout(make_spec(failureLimit=2, inconclusiveLimit=2), canary={"steps": [10], "stepDuration": "100s"})
    status = tick(spec, stable_status(), 0).status
    bad, unknown = script(errorRate=(0.3, 500)), script(errorRate=(None, 0))
    for t, measure in [(10, bad), (20, unknown), (30, script()), (40, unknown)]:
        status = tick(spec, status, t, measure=measure).status
    assert (status.failed_checks, status.inconclusive_checks, status.phase) == (1, 1, "Progressing")
    status = tick(spec, status, 50, measure=bad).status  # the second failure, though passes came between
    assert status.phase == "RolledBack"


def test_a_failure_outweighs_missing_data_in_the_same_analysis() -> None:
    spec = make_spec()
    status = tick(spec, stable_status(), 0).status
    after = tick(spec, status, 10, measure=script(errorRate=(0.5, 500), drift="no data")).status
    assert after.analysis is not None and after.analysis.verdict == "fail"
    assert (after.failed_checks, after.inconclusive_checks) == (1, 0)


def test_a_stable_without_data_makes_the_ratio_inconclusive_not_pass() -> None:
    spec = make_spec(gates={"latencyP99": {"maxRatioToStable": 1.2}})
    status = tick(spec, stable_status(), 0).status
    status = status.model_copy(update={"weights": status.weights.model_copy(update={"stable": 50, "candidate": 50})})
    after = tick(spec, status, 10, measure=script(latency_stable=(None, 0))).status
    assert after.analysis is not None and after.analysis.gates[0].verdict == "inconclusive"

"""Canary: step through the weights, judge every interval, advance on time + a passing analysis, promote at the end."""

from __future__ import annotations

import pytest

from support.rollout_sim import CAND, STABLE, at, make_spec, run, script, stable_status, tick
from visionroll.rollout import analysis_due
from visionroll.rollout.clock import parse
from visionroll.rollout.types import Measurements


def test_rollout_starts_at_the_first_step() -> None:
    decision = tick(make_spec(), stable_status(), 0)
    s = decision.status
    assert (s.phase, s.stage, s.step, s.candidate, s.stable) == ("Progressing", "canary", 0, CAND, STABLE)
    assert (s.weights.stable, s.weights.candidate) == (90, 10)
    assert decision.outcome == "started"
    assert [e.reason for e in decision.events] == ["RolloutStarted", "CandidateReady"]


def test_first_analysis_waits_one_interval_into_the_step() -> None:
    spec = make_spec()
    status = tick(spec, stable_status(), 0).status
    assert not analysis_due(spec, status, at(9.9))
    assert analysis_due(spec, status, at(10))


def test_healthy_candidate_is_promoted_through_every_step() -> None:
    result = run(make_spec(), stable_status())
    assert result.outcomes == [(0, "started"), (30, "advanced"), (60, "advanced"), (90, "promoted")]
    weights = [(d.status.weights.stable, d.status.weights.candidate) for d in result.decisions]
    assert weights[0] == (90, 10) and (50, 50) in weights and (0, 100) in weights and weights[-1] == (100, 0)
    s = result.status
    assert (s.phase, s.stable, s.candidate, [r.revision for r in s.retiring]) == (
        "Stable",
        CAND,
        None,
        [STABLE.revision],
    )
    assert s.history[-1].outcome == "promoted" and "errorRate" in s.history[-1].reason
    assert s.analysis is not None and s.analysis.verdict == "pass"
    # The last step is 100%: the stable answers no client, so the comparisons with it do not apply there.
    assert {g.name for g in s.analysis.gates} == {"latencyP99", "errorRate"}
    shared = [d.status.analysis for d in result.decisions if d.status.analysis and d.status.weights.stable == 50]
    assert {g.name for g in shared[-1].gates} == {"latencyP99", "latencyVsStable", "errorRate", "drift"}


def test_step_waits_for_a_passing_analysis_after_the_duration() -> None:
    # 30 s step, analyses at 10, 20, 30 s: the step cannot end before its duration even if every analysis passes.
    result = run(make_spec(), stable_status(), every=1.0, until=35)
    advanced = [t for t, o in result.outcomes if o == "advanced"]
    assert advanced == [30.0]


def test_a_failed_latest_analysis_holds_the_step() -> None:
    spec = make_spec(failureLimit=5)
    status = run(spec, stable_status(), until=25).status  # analyses at 10 and 20 pass
    held = tick(spec, status, 30, measure=script(errorRate=(0.2, 500)))
    assert held.outcome is None and held.status.step == 0 and held.status.failed_checks == 1
    # The next analysis passes: the step ends then.
    moved = tick(spec, held.status, 40)
    assert moved.outcome == "advanced" and moved.status.step == 1
    assert moved.status.failed_checks == 0  # counters restart with the step


@pytest.mark.parametrize("steps", [[100], [1, 2, 3, 4, 5, 100], [50]])
def test_any_step_list_ends_promoted(steps: list[int]) -> None:
    from support.rollout_sim import with_rollout

    spec = with_rollout(make_spec(), canary={"steps": steps, "stepDuration": "20s"})
    result = run(spec, stable_status())
    assert result.outcomes[-1][1] == "promoted"
    assert sum(1 for _, o in result.outcomes if o == "advanced") == len(steps) - 1


def test_time_alone_never_promotes_a_canary_without_gates() -> None:
    spec = make_spec(gates={})
    assert analysis_due(spec, tick(spec, stable_status(), 0).status, at(10))  # judged by the default gates
    starved = run(
        spec, stable_status(), measure=lambda _s, _st, now: Measurements(time=now, window_seconds=10), until=600
    )
    assert "promoted" not in [o for _, o in starved.outcomes]
    healthy_run = run(spec, stable_status())
    assert healthy_run.outcomes[-1][1] == "promoted"


def test_requeue_after_points_at_the_next_useful_tick() -> None:
    spec = make_spec()
    started = tick(spec, stable_status(), 0)
    assert started.requeue_after == pytest.approx(10.0)
    promoted = run(spec, stable_status()).decisions[-1]
    assert promoted.requeue_after == pytest.approx(1.0)  # the next tick starts the drain of the former stable
    draining = tick(spec, promoted.status, 91)
    assert draining.requeue_after == pytest.approx(20.0)
    assert parse(draining.status.retiring[0].retire_at) == at(111)

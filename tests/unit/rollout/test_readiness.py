"""A candidate gets no traffic (live or mirrored) until the reconcile reports ready pods for it."""

from __future__ import annotations

from support.rollout_sim import CAND, at, make_spec, run, stable_status, tick
from visionroll.rollout import analysis_due, strategies


def test_candidate_waits_without_traffic_until_its_pods_are_ready() -> None:
    for strategy in ("canary", "shadow", "split"):
        spec = make_spec(strategy)
        waiting = run(spec, stable_status(), ready=False, until=120).status
        assert (waiting.phase, waiting.candidate, waiting.step_started_at) == ("Progressing", CAND, None)
        assert (waiting.weights.stable, waiting.weights.candidate, waiting.mirror_percent) == (100, 0, 0)
        assert "waiting for candidate" in waiting.message
        assert not analysis_due(spec, waiting, at(500))


def test_first_stage_begins_at_the_tick_that_sees_ready_pods() -> None:
    spec = make_spec()
    waiting = run(spec, stable_status(), ready=False, until=20).status
    began = tick(spec, waiting, 25, ready=1)
    assert [e.reason for e in began.events] == ["CandidateReady"]
    assert (began.status.weights.candidate, began.status.step_started_at) == (10, "2024-05-01T12:00:25.000Z")
    result = run(spec, began.status, start=30)
    assert result.outcomes == [(55, "advanced"), (85, "advanced"), (115, "promoted")]


def test_a_candidate_never_ready_is_rolled_back_at_the_progress_deadline() -> None:
    spec = make_spec()  # progressDeadline 30m
    result = run(spec, stable_status(), ready=False, every=60, until=4000)
    assert result.outcomes[-1] == (1800, "rolled-back")
    assert "progressDeadline" in result.status.history[-1].reason


def test_pause_and_resume_while_waiting_keep_waiting() -> None:
    from visionroll.rollout.types import Controls

    spec = make_spec()
    waiting = run(spec, stable_status(), ready=False, until=10).status
    paused = tick(spec, waiting, 15, ready=False, controls=Controls(paused=True)).status
    resumed = tick(spec, paused, 20, ready=False).status
    assert (resumed.phase, resumed.step_started_at, resumed.weights.candidate) == ("Progressing", None, 0)


def test_a_shadow_mirrors_only_once_the_candidate_has_as_many_pods_as_the_stable() -> None:
    """A 100% mirror to one candidate pod while the stable answers on two would judge the candidate at twice the
    stable's load per pod (real pods rolled back a re-export of the stable's own model on latency that way)."""
    spec = make_spec("shadow")
    started = tick(spec, stable_status(), 0, ready=0, stable_ready=2).status  # the stable is held at 2
    assert (started.held_replicas, strategies.candidate_floor(started, spec)) == (2, 2)
    one = tick(spec, started, 5, ready=1, stable_ready=2)
    assert (one.status.step_started_at, one.status.mirror_percent) == (None, 0)
    assert "1 of 2 candidate replicas ready" in one.status.message
    two = tick(spec, one.status, 10, ready=2, stable_ready=2)
    assert [e.reason for e in two.events] == ["CandidateReady"]
    assert two.status.mirror_percent == 100 and strategies.candidate_floor(two.status, spec) == 2


def test_a_candidate_is_sized_for_its_share_of_the_held_stable() -> None:
    """A canary's first step of 10% or a split's 50% of a stable held at 2 needs one pod; the floor follows the
    stage's share (rounded up), and a candidate that never gets its pods is rolled back at the deadline."""
    for strategy, floor in (("canary", 1), ("split", 1), ("shadow", 2)):
        spec = make_spec(strategy)
        started = tick(spec, stable_status(), 0, ready=0, stable_ready=2).status
        assert strategies.candidate_floor(started, spec) == floor, strategy
    spec = make_spec("shadow")
    result = run(spec, stable_status(), ready=1, stable_ready=2, every=60, until=4000)
    assert result.outcomes[-1] == (1800, "rolled-back")
    assert "1 of 2 ready replicas needed" in result.status.history[-1].reason

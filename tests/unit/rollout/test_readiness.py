"""A candidate gets no traffic (live or mirrored) until the reconcile reports ready pods for it."""

from __future__ import annotations

from support.rollout_sim import CAND, at, make_spec, run, stable_status, tick
from visionroll.rollout import analysis_due


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

"""A new version mid-rollout restarts analysis; a rolled-back version is not retried until the generation changes."""

from __future__ import annotations

from support.rollout_sim import CAND, OTHER, STABLE, make_spec, run, script, stable_status, tick
from visionroll.rollout.clock import parse


def test_new_version_mid_rollout_supersedes_the_candidate_and_restarts() -> None:
    spec = make_spec()
    mid = run(spec, stable_status(), until=40).status  # step 2 (50%), one failed check carried
    mid = tick(spec, mid, 45, measure=script(errorRate=(0.5, 500))).status
    decision = tick(spec, mid, 47, desired=OTHER, generation=3)
    s = decision.status
    assert [e.reason for e in decision.events] == ["Superseded", "RolloutStarted", "CandidateReady"]
    assert decision.outcome == "started"
    assert (s.candidate, s.stable, s.stage, s.step, s.weights.candidate) == (OTHER, STABLE, "canary", 0, 10)
    assert (s.failed_checks, s.inconclusive_checks, s.analysis) == (0, 0, None)
    assert parse(s.step_started_at) == parse(s.rollout_started_at)
    assert (s.history[-1].revision, s.history[-1].outcome) == (CAND.revision, "superseded")


def test_spec_returned_to_stable_cancels_the_candidate() -> None:
    mid = run(make_spec(), stable_status(), until=40).status
    decision = tick(make_spec(), mid, 45, desired=STABLE, generation=3)
    s = decision.status
    assert (s.phase, s.candidate, s.weights.stable, decision.outcome) == ("Stable", None, 100, "superseded")


def test_changing_strategy_mid_rollout_restarts_it() -> None:
    mid = run(make_spec(), stable_status(), until=40).status
    decision = tick(make_spec("shadow"), mid, 45, generation=3)
    assert [e.reason for e in decision.events] == ["Superseded", "RolloutStarted", "CandidateReady"]
    assert (decision.status.stage, decision.status.weights.candidate) == ("shadow", 0)


def test_rolled_back_version_is_not_retried_until_the_generation_changes() -> None:
    spec = make_spec()
    gone = run(spec, stable_status(), measure=script(errorRate=(0.5, 500))).status
    assert gone.rolled_back is not None and gone.rolled_back.generation == 2
    same = run(spec, gone, start=100, until=400)  # the same spec re-applied: no-op (generation unchanged)
    assert all(d.outcome is None for d in same.decisions) and same.status.phase == "RolledBack"
    retried = tick(spec, gone, 500, generation=3)
    assert retried.outcome == "started" and retried.status.candidate == CAND and retried.status.rolled_back is None


def test_returning_to_stable_after_a_rollback_clears_the_marker() -> None:
    gone = run(make_spec(), stable_status(), measure=script(errorRate=(0.5, 500))).status
    back = tick(make_spec(), gone, 100, desired=STABLE, generation=3).status
    assert (back.phase, back.rolled_back) == ("Stable", None)


def test_history_is_bounded() -> None:
    status = stable_status()
    for generation in range(3, 30):
        status = tick(
            make_spec("immediate"),
            status,
            generation * 100,
            desired=(CAND, OTHER)[generation % 2],
            generation=generation,
        ).status
    assert len(status.history) == 10 and status.history[-1].time.startswith("2024-05-01T12:48")

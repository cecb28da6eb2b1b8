"""Manual control through annotations: pause, resume, promote and abort (the last two name the candidate)."""

from __future__ import annotations

from support.rollout_sim import CAND, OTHER, STABLE, make_spec, run, script, stable_status, tick
from visionroll.rollout import analysis_due
from visionroll.rollout.clock import parse
from visionroll.rollout.types import Controls, spent_controls, spent_resume
from visionroll.vocabulary import ANNOTATION_ABORT, ANNOTATION_PAUSED, ANNOTATION_PROMOTE, ANNOTATION_RESUME


def _in_step_one(t: float = 20) -> object:
    return run(make_spec(), stable_status(), until=t).status


def test_pause_freezes_weights_and_analysis() -> None:
    spec = make_spec()
    status = _in_step_one()
    paused = tick(spec, status, 25, controls=Controls(paused=True))  # type: ignore[arg-type]
    s = paused.status
    assert (s.phase, s.pause_reason, s.weights.candidate) == ("Paused", "manual", 10)
    assert paused.outcome == "paused" and [e.reason for e in paused.events] == ["Paused"]
    assert not analysis_due(spec, s, parse(s.step_started_at).replace(year=2030))  # type: ignore[union-attr]
    later = run(spec, s, start=30, until=300, controls=Controls(paused=True))
    assert all(d.outcome is None for d in later.decisions) and later.status.step == 0


def test_resume_restarts_the_step_clock() -> None:
    spec = make_spec()
    paused = tick(spec, _in_step_one(), 25, controls=Controls(paused=True)).status  # type: ignore[arg-type]
    resumed = tick(spec, paused, 200)
    assert resumed.outcome == "resumed" and resumed.status.phase == "Progressing"
    assert parse(resumed.status.step_started_at) == parse("2024-05-01T12:03:20Z")
    result = run(spec, resumed.status, start=205)
    assert result.outcomes[0] == (230, "advanced")  # the full 30 s step again, judged on fresh analyses


def test_promote_annotation_for_the_candidate_promotes_now() -> None:
    decision = tick(make_spec(), _in_step_one(), 25, controls=Controls(promote=CAND.revision))  # type: ignore[arg-type]
    s = decision.status
    assert decision.outcome == "promoted" and (s.stable, s.weights.stable) == (CAND, 100)
    assert [r.revision for r in s.retiring] == [STABLE.revision]
    assert s.history[-1].reason == "promoted by annotation"


def test_abort_annotation_rolls_back_with_traffic_on_stable() -> None:
    decision = tick(make_spec(), _in_step_one(), 25, controls=Controls(abort=CAND.revision, paused=True))  # type: ignore[arg-type]
    s = decision.status
    assert decision.outcome == "aborted" and s.phase == "RolledBack"
    assert (s.stable, s.candidate, s.weights.stable, s.weights.candidate) == (STABLE, None, 100, 0)
    assert s.history[-1].outcome == "aborted"


def test_stale_annotations_naming_another_revision_are_ignored() -> None:
    stale = Controls(promote=OTHER.revision, abort=OTHER.revision)
    decision = tick(make_spec(), _in_step_one(), 25, controls=stale)  # type: ignore[arg-type]
    assert decision.outcome is None and decision.status.candidate == CAND


def test_pause_then_resume_releases_an_inconclusive_hold() -> None:
    spec = make_spec(onInconclusive="pause")
    held = run(spec, stable_status(), measure=script(errorRate="timeout"), until=60).status
    assert (held.phase, held.pause_reason) == ("Paused", "inconclusive")
    manual = tick(spec, held, 70, controls=Controls(paused=True)).status
    assert manual.pause_reason == "manual"
    resumed = tick(spec, manual, 80)
    # The stage starts afresh: its clock and both counters, so one more inconclusive analysis does not pause it again.
    assert resumed.outcome == "resumed" and resumed.status.inconclusive_checks == 0
    assert parse(resumed.status.step_started_at) == parse("2024-05-01T12:01:20Z")
    again = tick(spec, resumed.status, 90, measure=script(errorRate="timeout")).status
    assert (again.phase, again.inconclusive_checks) == ("Progressing", 1)


def test_resume_annotation_restarts_a_stage_the_analysis_paused() -> None:
    spec = make_spec(onInconclusive="pause")
    held = run(spec, stable_status(), measure=script(errorRate="timeout"), until=60).status
    assert (held.phase, held.pause_reason, held.inconclusive_checks) == ("Paused", "inconclusive", 3)
    assert tick(spec, held, 70, controls=Controls(resume=OTHER.revision)).status.phase == "Paused"  # stale
    resumed = tick(spec, held, 70, controls=Controls(resume=CAND.revision))
    s = resumed.status
    assert resumed.outcome == "resumed" and (s.phase, s.pause_reason, s.inconclusive_checks) == ("Progressing", None, 0)
    assert (s.failed_checks, parse(s.step_started_at)) == (0, parse("2024-05-01T12:01:10Z"))
    result = run(spec, s, start=75)  # healthy from now on: the full 30 s step on fresh analyses, then onwards
    assert result.outcomes[0] == (100, "advanced") and result.outcomes[-1][1] == "promoted"
    assert spent_resume({ANNOTATION_RESUME: CAND.revision}, s)  # acted on: removed after the status is written
    assert not spent_resume({ANNOTATION_RESUME: CAND.revision}, held)


def test_controls_without_a_rollout_do_nothing() -> None:
    everything = Controls(paused=True, promote=CAND.revision, abort=CAND.revision)
    decision = tick(make_spec(), stable_status(), 0, desired=STABLE, controls=everything)
    assert decision.outcome is None and decision.status.phase == "Stable"


def test_a_promote_or_abort_is_spent_once_its_revision_is_not_in_flight() -> None:
    both = {ANNOTATION_PROMOTE: "r2", ANNOTATION_ABORT: "r2", ANNOTATION_PAUSED: "true"}
    assert spent_controls(both, "r2") == ()  # still the candidate: not acted on yet
    assert spent_controls(both, None) == (ANNOTATION_PROMOTE, ANNOTATION_ABORT)  # acted on: the rollout ended
    assert spent_controls({ANNOTATION_ABORT: "r1"}, "r2") == (ANNOTATION_ABORT,)  # names another revision
    assert spent_controls({ANNOTATION_PAUSED: "true"}, None) == ()  # pause is a state, removed by a person

"""Users are never routed to what cannot serve them: readiness per revision, handovers, held stable, drains."""

from __future__ import annotations

import typing

from support.rollout_sim import CAND, OTHER, STABLE, at, make_spec, run, script, stable_status, tick, with_rollout
from visionroll.api import VisionModelSpec, VisionModelStatus
from visionroll.api.status import Phase
from visionroll.rollout.clock import parse
from visionroll.rollout.types import Controls


def _scaled(strategy: str = "canary", **rollout: typing.Any) -> VisionModelSpec:
    spec = make_spec(strategy)
    wire = spec.wire()
    wire["autoscaling"] = {"minReplicas": 1, "maxReplicas": 5}
    wire["rollout"].update(rollout)
    return VisionModelSpec.model_validate(wire)


def _weights(status: VisionModelStatus) -> tuple[int, int]:
    return status.weights.stable, status.weights.candidate


def _retiring(status: VisionModelStatus) -> list[str]:
    return [r.revision for r in status.retiring]


def test_a_superseding_candidate_starts_from_zero_until_its_own_pods_are_ready() -> None:
    spec = make_spec()
    in_flight = run(spec, stable_status(), desired=OTHER, until=20).status
    assert (in_flight.candidate, _weights(in_flight)) == (OTHER, (90, 10))
    # The spec names CAND: OTHER's pods are ready, CAND's are not (its Deployment does not even exist yet).
    switched = tick(spec, in_flight, 25, ready=0)
    s = switched.status
    assert (s.candidate, _weights(s), s.mirror_percent, s.step_started_at) == (CAND, (100, 0), 0, None)
    assert _retiring(s) == [OTHER.revision]  # the superseded candidate drains, it is not cut off
    began = tick(spec, s, 30, ready=1)
    assert _weights(began.status) == (90, 10) and [e.reason for e in began.events] == ["CandidateReady"]


def test_immediate_waits_for_ready_pods_then_switches_and_drains_the_old_stable() -> None:
    spec = make_spec("immediate")
    waiting = run(spec, stable_status(), ready=0, until=60).status
    assert (waiting.phase, waiting.stable, waiting.candidate, _weights(waiting)) == (
        "Progressing",
        STABLE,
        CAND,
        (100, 0),
    )
    assert "waiting for candidate" in waiting.message
    done = tick(spec, waiting, 65, ready=1)
    s = done.status
    assert (done.outcome, s.phase, s.stable, s.candidate, _weights(s)) == ("replaced", "Stable", CAND, None, (100, 0))
    assert _retiring(s) == [STABLE.revision] and s.retiring[0].retire_at is None
    assert parse(tick(spec, s, 66).status.retiring[0].retire_at) == at(86)
    never = run(spec, stable_status(), ready=0, every=60, until=4000)
    assert never.outcomes[-1] == (1800, "rolled-back") and never.status.stable == STABLE


TWO_STEPS = {"steps": [10, 50], "stepDuration": "30s"}


def test_promotion_waits_until_the_candidate_can_carry_all_the_traffic() -> None:
    spec = _scaled(canary=TWO_STEPS)
    # The stable carries the traffic with 3 pods; the candidate was sized for its share.
    status = run(spec, stable_status(), stable_ready=3, ready=1, until=55).status
    assert (status.step, status.held_replicas) == (1, 3)
    scaling = tick(spec, status, 60, stable_ready=3, ready=1)
    s = scaling.status
    assert (scaling.outcome, s.phase, s.candidate, _weights(s)) == (None, "Promoting", CAND, (50, 50))
    assert s.handover is not None and s.handover.replicas == 3
    assert "ScalingCandidate" in [e.reason for e in scaling.events]
    still = tick(spec, s, 65, stable_ready=3, ready=2).status
    assert (still.phase, still.stable, _weights(still)) == ("Promoting", STABLE, (50, 50))
    done = tick(spec, still, 70, stable_ready=3, ready=3)
    assert (done.outcome, done.status.stable, done.status.handover) == ("promoted", CAND, None)
    assert "canary passed" in done.status.history[-1].reason


def test_a_handover_that_never_gets_its_replicas_rolls_back_at_the_progress_deadline() -> None:
    spec = _scaled(canary=TWO_STEPS, progressDeadline="2m")
    status = run(spec, stable_status(), stable_ready=3, ready=1, until=60).status
    assert status.phase == "Promoting"
    result = run(spec, status, start=65, stable_ready=3, ready=2, until=400)
    assert result.outcomes[-1] == (180, "rolled-back")
    assert result.status.stable == STABLE and "2 of 3 ready replicas" in result.status.history[-1].reason


def test_a_handover_waiting_for_capacity_says_why_and_the_rollback_names_it() -> None:
    spec = _scaled(canary=TWO_STEPS, progressDeadline="2m")
    status = run(spec, stable_status(), stable_ready=3, ready=1, until=60).status
    why = {CAND.revision: "pod digits-2-0-x unschedulable: 0/1 nodes are available: 1 Insufficient cpu."}
    waiting = tick(spec, status, 65, stable_ready=3, ready=2, unscheduled=why).status
    assert waiting.phase == "Promoting" and waiting.message.endswith("waiting on: " + why[CAND.revision])
    again = tick(spec, waiting, 70, stable_ready=3, ready=2, unscheduled=why).status
    assert again.message == waiting.message  # said once, not appended at every tick
    result = run(spec, waiting, start=70, stable_ready=3, ready=2, until=400, unscheduled=why)
    assert result.outcomes[-1] == (180, "rolled-back") and "Insufficient cpu" in result.status.history[-1].reason


def test_a_manual_promote_scales_the_candidate_first() -> None:
    spec = _scaled()
    status = run(spec, stable_status(), stable_ready=4, ready=1, until=20).status
    asked = tick(spec, status, 25, stable_ready=4, ready=1, controls=Controls(promote=CAND.revision)).status
    assert (asked.phase, _weights(asked), asked.handover.replicas if asked.handover else None) == (
        "Promoting",
        (90, 10),
        4,
    )
    done = tick(spec, asked, 30, stable_ready=4, ready=4)
    assert done.outcome == "promoted" and done.status.history[-1].reason == "promoted by annotation"


def test_a_canary_step_of_100_percent_begins_only_once_the_candidate_is_scaled() -> None:
    spec = _scaled(canary={"steps": [10, 100], "stepDuration": "30s"})
    status = run(spec, stable_status(), stable_ready=2, ready=1, until=25).status
    scaling = tick(spec, status, 30, stable_ready=2, ready=1).status
    assert (scaling.phase, scaling.step, _weights(scaling)) == ("Progressing", 0, (90, 10))
    assert scaling.handover is not None and scaling.handover.step == 1
    began = tick(spec, scaling, 35, stable_ready=2, ready=2)
    assert (began.outcome, began.status.step, _weights(began.status)) == ("advanced", 1, (0, 100))
    # The 100% step is judged like any other, then the candidate is promoted without a second scale-up.
    result = run(spec, began.status, start=40, stable_ready=2, ready=2)
    assert result.outcomes[-1] == (65, "promoted")


def test_a_split_winner_is_scaled_before_it_takes_all_the_traffic() -> None:
    spec = _scaled("split")
    status = run(spec, stable_status(), stable_ready=2, ready=1, until=55).status
    won = tick(spec, status, 60, stable_ready=2, ready=1).status
    assert (won.phase, _weights(won)) == ("Promoting", (50, 50))
    assert tick(spec, won, 65, stable_ready=2, ready=2).outcome == "promoted"


def test_the_stable_is_held_at_its_replicas_for_the_whole_rollout() -> None:
    spec = _scaled()
    started = tick(spec, stable_status(), 0, stable_ready=3).status
    assert started.held_replicas == 3
    # Later the stable's HPA would scale it down (it carries less); the hold is what it had at the start.
    later = run(spec, started, start=5, stable_ready=1, until=50).status
    assert later.held_replicas == 3
    rolled = tick(spec, later, 55, stable_ready=1, controls=Controls(abort=CAND.revision)).status
    assert rolled.held_replicas is None  # the rollout is over: the stable's HPA has its full range again


def test_rollback_drains_the_candidate_before_its_objects_go() -> None:
    spec = make_spec()
    failing = run(spec, stable_status(), measure=script(errorRate=(0.5, 500)), until=60)
    s = failing.status
    assert failing.outcomes[-1] == (20, "rolled-back") and _weights(s) == (100, 0) and s.candidate is None
    # Its drain clock starts at the next tick, once the routing that leaves it out is written.
    assert _retiring(s) == [CAND.revision] and s.retiring[0].retire_at is None
    s = tick(spec, s, 21, desired=CAND).status
    assert parse(s.retiring[0].retire_at) == at(41)
    assert _retiring(tick(spec, s, 40.9, desired=CAND).status) == [CAND.revision]
    gone = tick(spec, s, 41, desired=CAND)
    assert _retiring(gone.status) == [] and [e.reason for e in gone.events] == ["Retired"]


def test_a_candidate_whose_pods_failed_for_good_is_rolled_back_with_the_reason() -> None:
    spec = make_spec()
    reason = "archive digits.mar has model version 1.0, spec.model.version is 2.0"
    waiting = run(spec, stable_status(), ready=0, until=10).status
    failed = tick(spec, waiting, 15, ready=0, failures={CAND.revision: reason})
    assert failed.outcome == "rolled-back" and failed.status.phase == "RolledBack"
    assert reason in failed.status.history[-1].reason and reason in failed.events[-1].message
    # A failure of another revision (the stable's pods) is not the candidate's.
    other = tick(spec, waiting, 15, ready=0, failures={STABLE.revision: reason})
    assert other.status.phase == "Progressing"


def test_every_phase_in_the_schema_is_reached() -> None:
    spec = _scaled(canary=TWO_STEPS, analysis={**make_spec().rollout.analysis.wire(), "onInconclusive": "pause"})
    reached: set[str] = {VisionModelStatus().phase}
    runs = [
        run(spec, stable_status(), stable_ready=3, until=200),  # Progressing, Promoting, Stable
        run(spec, stable_status(), measure=script(errorRate=(0.5, 500)), until=100),  # RolledBack
        run(spec, stable_status(), measure=script(errorRate="timeout"), until=100),  # Paused (inconclusive)
    ]
    for result in runs:
        reached |= {d.status.phase for d in result.decisions}
    assert reached == set(typing.get_args(Phase))


def test_with_rollout_keeps_the_sim_spec_valid() -> None:
    assert with_rollout(make_spec(), progressDeadline="1m").rollout.progress_deadline == "1m"


def test_a_canary_step_of_100_percent_is_judged_on_the_candidate_s_own_gates() -> None:
    spec = make_spec()  # steps 10, 50, 100; gates latencyP99 (maxMs + ratio), errorRate, drift
    # The stable answers nobody at 100%: its measurements are empty, and the comparisons with it must not hold up
    # (nor fake) a verdict; the candidate's own maxMs and error rate still judge the step.
    starved_stable = script(latencyP99_stable=(None, 0), drift=(None, 0))
    result = run(
        spec,
        stable_status(),
        measure=lambda s, st, now: (script() if st.weights.stable else starved_stable)(s, st, now),
    )
    assert result.outcomes[-1] == (90, "promoted")
    failing = run(
        spec,
        stable_status(),
        measure=lambda s, st, now: (script() if st.weights.stable else script(errorRate=(0.4, 500)))(s, st, now),
    )
    assert failing.outcomes[-1][1] == "rolled-back" and failing.status.stable == STABLE


def test_the_default_gates_are_named_where_kubectl_describe_shows_them() -> None:
    started = tick(make_spec(gates={}), stable_status(), 0)
    text = " ".join(e.message for e in started.events)
    assert "default gates in force" in text and "errorRate <= 0.01" in text
    assert "default gates" not in " ".join(e.message for e in tick(make_spec(), stable_status(), 0).events)


def test_the_thresholds_of_an_analysis_that_rolls_back_are_those_of_its_stage() -> None:
    spec = make_spec("shadow", failureLimit=1)
    result = run(spec, stable_status(), measure=script(agreement=(0.5, 4000)))
    last = result.decisions[-1]
    assert last.outcome == "rolled-back" and last.status.stage is None
    assert last.thresholds.get("agreement") == 0.95  # the dashboards' threshold line of the gate that failed

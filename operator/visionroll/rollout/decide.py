"""The rollout decision: `decide(...)` maps (spec, status, measurements, controls, now) to the whole next status.

A pure function of its arguments: the operator restarted between two ticks calls it again with the status it wrote
last and reaches the same outcome. The order within a tick:

1. drop a retiring former stable whose drain time has passed;
2. no stable yet: the desired revision becomes stable (first deploy, no analysis);
3. the desired revision is stable: end any candidate (superseded) and settle in phase Stable;
4. the desired revision was rolled back at this generation: hold in RolledBack (not retried until the spec changes);
5. `immediate`: replace stable at once;
6. a different candidate (or strategy) is in flight: supersede it and start over for the desired revision;
7. the candidate's rollout: abort, promote, pause/resume (annotations), then analysis and limits, then advance.
"""

from __future__ import annotations

from datetime import datetime

from visionroll.api import Revision, VisionModelSpec, VisionModelStatus, Weights, parse_duration
from visionroll.rollout import transitions as t
from visionroll.rollout.analysis import thresholds
from visionroll.rollout.clock import elapsed, parse, stamp
from visionroll.rollout.progress import Step, advance_if_done, has_gates, record, stage_seconds
from visionroll.rollout.types import Controls, Decision, Event, Measurements


def analysis_due(spec: VisionModelSpec, status: VisionModelStatus, now: datetime) -> bool:
    """True when a rollout is progressing and an analysis interval has passed since the stage began and since the
    last analysis (so the first window of a stage covers the stage's own traffic)."""
    if status.candidate is None or status.phase != "Progressing" or not has_gates(spec, status.stage):
        return False
    if status.step_started_at is None:
        return False  # the candidate has no ready pods yet, so no traffic
    interval = parse_duration(spec.rollout.analysis.interval)
    since_stage = elapsed(status.step_started_at, now)
    since_last = elapsed(status.last_analysis_at, now)
    return (since_stage is not None and since_stage >= interval) and (since_last is None or since_last >= interval)


def decide(
    *,
    spec: VisionModelSpec,
    status: VisionModelStatus,
    generation: int,
    desired: Revision,
    measurements: Measurements | None,
    controls: Controls,
    now: datetime,
) -> Decision:
    current, retired = t.retire_expired(status, now)
    step = _decide(spec, current, generation, desired, measurements, controls, now)
    final = step.status.model_copy(update={"observed_generation": generation})
    return Decision(
        status=final,
        events=(*retired, *step.events),
        outcome=step.outcome,
        requeue_after=_requeue(spec, final, now),
        thresholds=thresholds(spec.rollout.analysis.gates),
    )


def _decide(
    spec: VisionModelSpec,
    status: VisionModelStatus,
    generation: int,
    desired: Revision,
    measurements: Measurements | None,
    controls: Controls,
    now: datetime,
) -> Step:
    if status.stable is None:
        new = status.model_copy(
            update={"phase": "Stable", "stable": desired, "weights": Weights(), "message": f"serving {desired.version}"}
        )
        return Step(
            new, (Event("Normal", "Deployed", f"{desired.version} ({desired.revision}) is stable"),), "deployed"
        )
    if desired.revision == status.stable.revision:
        events: tuple[Event, ...] = ()
        outcome = None
        if status.candidate is not None:
            status, event = t.supersede(status, f"spec returned to stable {desired.version}", now)
            events, outcome = (event,), "superseded"
        if status.phase != "Stable" or status.rolled_back is not None:
            status = status.model_copy(
                update={"phase": "Stable", "rolled_back": None, "message": f"serving {desired.version}"}
            )
        return Step(status, events, outcome)
    held = status.rolled_back
    if (
        held is not None
        and status.candidate is None
        and (held.revision, held.generation) == (desired.revision, generation)
    ):
        return Step(status)
    events = ()
    if status.candidate is not None and (
        status.candidate.revision != desired.revision or status.strategy != spec.rollout.strategy
    ):
        reason = (
            f"spec changed to {desired.version} ({desired.revision})"
            if status.candidate.revision != desired.revision
            else f"strategy changed to {spec.rollout.strategy}"
        )
        status, event = t.supersede(status, reason, now)
        events = (event,)
    if spec.rollout.strategy == "immediate":
        new, event = t.replace(status, spec, desired, now)
        return Step(new, (*events, event), "replaced")
    if status.candidate is None:
        new, event = t.start(status, spec, desired, now)
        step = _in_flight(spec, new, generation, None, controls, now)
        return Step(step.status, (*events, event, *step.events), step.outcome or "started")
    step = _in_flight(spec, status, generation, measurements, controls, now)
    return Step(step.status, (*events, *step.events), step.outcome)


def _in_flight(
    spec: VisionModelSpec,
    status: VisionModelStatus,
    generation: int,
    measurements: Measurements | None,
    controls: Controls,
    now: datetime,
) -> Step:
    cand = status.candidate
    assert cand is not None
    if controls.abort == cand.revision:
        new, event = t.rollback(status, generation, "aborted by annotation", now, outcome="aborted")
        return Step(new, (event,), "aborted")
    if controls.promote == cand.revision:
        new, event = t.promote(status, spec, "promoted by annotation", now)
        return Step(new, (event,), "promoted")
    if controls.paused:
        if status.phase == "Paused" and status.pause_reason == "manual":
            return Step(status)
        new = status.model_copy(
            update={
                "phase": "Paused",
                "pause_reason": "manual",
                "message": f"paused by annotation: {t.describe(status)}",
            }
        )
        return Step(new, (Event("Normal", "Paused", f"rollout of {cand.version} paused by annotation"),), "paused")
    if status.phase == "Paused":
        if status.pause_reason != "manual":
            return Step(status)  # an inconclusive or split-decision hold waits for promote or abort
        # Resume: the step starts over, so its full duration is judged on fresh analyses (unless still waiting).
        restart = stamp(now) if status.step_started_at is not None else None
        new = status.model_copy(update={"phase": "Progressing", "pause_reason": None, "step_started_at": restart})
        new = new.model_copy(update={"message": t.describe(new)})
        return Step(new, (Event("Normal", "Resumed", f"rollout of {cand.version} resumed: {new.message}"),), "resumed")
    if status.step_started_at is None:
        return _await_ready(spec, status, generation, now)
    events: tuple[Event, ...] = ()
    if measurements is not None:
        step = record(status, spec, generation, measurements, now)
        if step.status.candidate is None or step.status.phase != "Progressing":
            return step
        status, events = step.status, step.events
    step = advance_if_done(status, spec, generation, now)
    return Step(step.status, (*events, *step.events), step.outcome)


def _await_ready(spec: VisionModelSpec, status: VisionModelStatus, generation: int, now: datetime) -> Step:
    """Before its first stage the candidate gets no traffic; it starts once the reconcile reports ready pods (in
    `status.replicas`, written after the candidate was named) and is rolled back at the progress deadline."""
    if status.replicas.candidate > 0:
        new, event = t.activate(status, spec, now)
        return Step(new, (event,))
    waited = elapsed(status.rollout_started_at, now) or 0.0
    deadline = parse_duration(spec.rollout.progress_deadline)
    if waited >= deadline:
        reason = f"candidate had no ready pods within progressDeadline {spec.rollout.progress_deadline}"
        new, event = t.rollback(status, generation, reason, now)
        return Step(new, (event,), "rolled-back")
    return Step(status)


def _requeue(spec: VisionModelSpec, status: VisionModelStatus, now: datetime) -> float | None:
    """Seconds until the next tick can change something: next analysis, end of the stage, end of a drain."""
    waits: list[float] = []
    if status.candidate is not None and status.phase == "Progressing" and status.step_started_at is None:
        waits.append(2.0)  # waiting for ready pods: poll
    elif status.candidate is not None and status.phase == "Progressing":
        interval = parse_duration(spec.rollout.analysis.interval)
        since_last = elapsed(status.last_analysis_at, now)
        since_stage = elapsed(status.step_started_at, now) or 0.0
        waits.append(interval - min(since_last if since_last is not None else since_stage, since_stage))
        waits.append(stage_seconds(spec, status.stage) - since_stage)
    retire_at = parse(status.retire_at)
    if retire_at is not None:
        waits.append((retire_at - now).total_seconds())
    return max(0.5, min(waits)) if waits else None

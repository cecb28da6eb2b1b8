"""The rollout decision: `decide(context)` maps one tick's `Context` to the whole next status.

A pure function of its argument: the operator restarted between two ticks calls it again with the status it wrote
last and reaches the same outcome. The order within a tick:

1. drop retiring revisions whose drain time has passed;
2. no stable yet: the desired revision becomes stable (first deploy, no analysis);
3. the desired revision is stable: end any candidate (superseded, it drains) and settle in phase Stable;
4. the desired revision was rolled back at this generation: hold in RolledBack (not retried until the spec changes);
5. a different candidate (or strategy) is in flight: supersede it and start over for the desired revision, from zero;
6. the candidate's rollout: abort, promote, pause/resume (annotations), a candidate whose pods failed for good,
   waiting for ready pods of its own revision, a handover (scaling the candidate before it takes all the traffic),
   then analysis and limits, then advance. `immediate` is a rollout with no stage: it waits for ready pods, scales
   the candidate to carry everything, then switches, like a Deployment's rolling update.

`step(context, measure)` is the one tick loop body shared by the reconcile, the test simulator and the rollback
benchmark: measure if an analysis is due, then decide.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from visionroll.api import VisionModelSpec, VisionModelStatus, Weights, parse_duration
from visionroll.rollout import strategies
from visionroll.rollout import transitions as t
from visionroll.rollout.analysis import thresholds
from visionroll.rollout.clock import elapsed, parse
from visionroll.rollout.defaults import effective_gates
from visionroll.rollout.progress import advance_if_done, has_gates, record
from visionroll.rollout.strategies import canary, immediate
from visionroll.rollout.types import Context, Decided, Decision, Event, Measurements, Step


def analysis_due(spec: VisionModelSpec, status: VisionModelStatus, now: datetime) -> bool:
    """True when a rollout is progressing and an analysis interval has passed since the stage began and since the
    last analysis (so the first window of a stage covers the stage's own traffic)."""
    if status.candidate is None or status.phase != "Progressing" or not has_gates(spec, status.stage):
        return False
    if status.step_started_at is None or status.handover is not None:
        return False  # no ready pods yet (no traffic), or the stage is over and the candidate is being scaled
    interval = parse_duration(spec.rollout.analysis.interval)
    since_stage = elapsed(status.step_started_at, now)
    since_last = elapsed(status.last_analysis_at, now)
    return (since_stage is not None and since_stage >= interval) and (since_last is None or since_last >= interval)


def step(ctx: Context, measure: Callable[[Context], Measurements | None]) -> Decision:
    """One tick: `measure(ctx)` when an analysis is due, then `decide`."""
    due = analysis_due(ctx.spec, ctx.status, ctx.now)
    return decide(dataclasses.replace(ctx, measurements=measure(ctx) if due else None))


def decide(ctx: Context) -> Decision:
    current, retired = t.retire_expired(t.start_drains(ctx.status, ctx.spec, ctx.now), ctx.now)
    result = _decide(dataclasses.replace(ctx, status=current))
    final = result.status.model_copy(update={"observed_generation": ctx.generation})
    judged = ctx.status.stage or final.stage
    return Decision(
        status=final,
        events=(*retired, *result.events),
        outcome=result.outcome,
        requeue_after=_requeue(ctx.spec, final, ctx.now),
        # The limits of the gates of the stage the analysis judged (a rollback in the same tick clears the stage).
        thresholds=thresholds(effective_gates(ctx.spec.rollout.analysis, judged), judged),
    )


def _decide(ctx: Context) -> Step:
    spec, status, desired, now = ctx.spec, ctx.status, ctx.desired, ctx.now
    if status.stable is None:
        new = status.model_copy(
            update={
                "phase": "Stable",
                "stable": desired,
                "weights": Weights(),
                "retiring": t.undrain(status, desired),
                "message": f"serving {desired.version}",
            }
        )
        return Step(
            new, (Event("Normal", "Deployed", f"{desired.version} ({desired.revision}) is stable"),), "deployed"
        )
    if desired.revision == status.stable.revision:
        events: tuple[Event, ...] = ()
        outcome: Decided | None = None
        if status.candidate is not None:
            status, event = t.supersede(status, spec, f"spec returned to stable {desired.version}", now)
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
        and (held.revision, held.generation) == (desired.revision, ctx.generation)
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
        status, event = t.supersede(status, spec, reason, now)
        events = (event,)
    if status.candidate is None:
        first = None if spec.rollout.strategy == immediate.STRATEGY else spec.rollout.strategy
        new, event = t.start(status, spec, desired, ctx.observed.ready_of(status.stable), now, stage=first)
        result = _in_flight(dataclasses.replace(ctx, status=new, measurements=None))
        return Step(result.status, (*events, event, *result.events), result.outcome or "started")
    result = _in_flight(dataclasses.replace(ctx, status=status))
    return Step(result.status, (*events, *result.events), result.outcome)


def _in_flight(ctx: Context) -> Step:
    spec, status, controls, now = ctx.spec, ctx.status, ctx.controls, ctx.now
    cand = status.candidate
    assert cand is not None
    if controls.abort == cand.revision:
        new, event = t.rollback(status, spec, ctx.generation, "aborted by annotation", now, outcome="aborted")
        return Step(new, (event,), "aborted")
    failure = ctx.observed.failures.get(cand.revision)
    if failure is not None:
        new, event = t.rollback(status, spec, ctx.generation, f"candidate pods failed: {failure}", now)
        return Step(new, (event,), "rolled-back")
    if controls.promote == cand.revision and status.handover is None:
        new, event = t.hand_over(status, spec, "promoted by annotation", ctx.observed.ready_of(status.stable), now)
        return _begin_handover(ctx, Step(new, (event,)))
    if controls.paused:
        if status.phase == "Paused" and status.pause_reason == "manual":
            return Step(status)
        new = status.model_copy(
            update={
                "phase": "Paused",
                "pause_reason": "manual",
                "handover": None,
                "message": f"paused by annotation: {t.describe(status)}",
            }
        )
        return Step(new, (Event("Normal", "Paused", f"rollout of {cand.version} paused by annotation"),), "paused")
    if status.phase == "Paused":
        resumed = status.pause_reason == "manual" or (
            status.pause_reason == "inconclusive" and controls.resume == cand.revision
        )
        if not resumed:
            return Step(status)  # an inconclusive or split-decision hold waits for promote, abort (or resume)
        # Resume: the stage starts afresh (clock and counters), judged on fresh analyses only.
        fresh = t.step_begins(now) if status.step_started_at is not None else {}
        new = status.model_copy(update={"phase": "Progressing", "pause_reason": None, **fresh})
        new = new.model_copy(update={"message": t.describe(new)})
        return Step(new, (Event("Normal", "Resumed", f"rollout of {cand.version} resumed: {new.message}"),), "resumed")
    if status.handover is not None:
        return _finish_handover(ctx)
    if status.step_started_at is None:
        return _await_ready(ctx)
    events: tuple[Event, ...] = ()
    if ctx.measurements is not None:
        result = record(status, spec, ctx.generation, ctx.measurements, now)
        if result.status.candidate is None or result.status.phase != "Progressing":
            return result
        status, events = result.status, result.events
    result = advance_if_done(status, spec, ctx.generation, ctx.observed.ready_of(status.stable), now)
    if result.status.handover is not None:
        result = _begin_handover(ctx, result)
    return Step(result.status, (*events, *result.events), result.outcome)


def _begin_handover(ctx: Context, begun: Step) -> Step:
    """A handover begun in `begun` completes at once when the candidate already has the replicas (then it is no news
    of its own), else waits with `begun`'s events."""
    done = _finish_handover(dataclasses.replace(ctx, status=begun.status))
    if done.status.handover is None:
        return done
    return Step(done.status, (*begun.events, *done.events), done.outcome)


def _finish_handover(ctx: Context) -> Step:
    """Move all the traffic once the candidate has the replicas to carry it; roll back at the progress deadline."""
    status, spec, now = ctx.status, ctx.spec, ctx.now
    handover = status.handover
    assert handover is not None and status.candidate is not None
    ready = ctx.observed.ready_of(status.candidate)
    if ready >= handover.replicas:
        if handover.step is None:
            return t.promote(status, spec, handover.reason, now)
        return canary.begin_step(status, spec, handover.step, handover.reason, now)
    waited = elapsed(handover.since, now) or 0.0
    why = ctx.observed.unscheduled.get(status.candidate.revision)
    if waited >= parse_duration(spec.rollout.progress_deadline):
        reason = (
            f"candidate had {ready} of {handover.replicas} ready replicas needed for all the traffic within "
            f"progressDeadline {spec.rollout.progress_deadline}" + (f" ({why})" if why else "")
        )
        new, event = t.rollback(status, spec, ctx.generation, reason, now)
        return Step(new, (event,), "rolled-back")
    return Step(_waiting_because(status, why))


def _waiting_because(status: VisionModelStatus, why: str | None) -> VisionModelStatus:
    """The status message of a rollout waiting for candidate pods says what holds them, when the scheduler says."""
    base = status.message.split("; waiting on: ")[0]
    message = f"{base}; waiting on: {why}" if why else base
    return status if message == status.message else status.model_copy(update={"message": message})


def _await_ready(ctx: Context) -> Step:
    """Before its first stage the candidate gets no traffic; it starts once it has the ready pods of its own revision
    sized for the stage's share (`strategies.candidate_floor`: a shadow of 100% needs as many as the stable) and the
    traffic provider is ready, and is rolled back at the progress deadline."""
    status, spec, now = ctx.status, ctx.spec, ctx.now
    ready, needed = ctx.observed.ready_of(status.candidate), strategies.candidate_floor(status, spec) or 1
    if ready >= needed and ctx.observed.traffic_ready:
        if status.strategy == immediate.STRATEGY:
            new, event = immediate.when_ready(status, spec, ctx.observed.ready_of(status.stable), now)
            return _begin_handover(ctx, Step(new, (event,)))
        new, event = t.activate(status, spec, strategies.enter(spec, status.stage or canary.STAGE, now))
        return Step(new, (event,))
    waited = elapsed(status.rollout_started_at, now) or 0.0
    deadline = parse_duration(spec.rollout.progress_deadline)
    why = ctx.observed.unscheduled.get(status.candidate.revision) if status.candidate else None
    if why is None and 0 < ready < needed:
        why = f"{ready} of {needed} candidate replicas ready (sized for its share of the stage)"
    if waited >= deadline:
        pods = "no ready pods" if ready == 0 else f"{ready} of {needed} ready replicas needed"
        reason = f"candidate had {pods} within progressDeadline {spec.rollout.progress_deadline}" + (
            f" ({why})" if why else ""
        )
        new, event = t.rollback(status, spec, ctx.generation, reason, now)
        return Step(new, (event,), "rolled-back")
    return Step(_waiting_because(status, why))


def _requeue(spec: VisionModelSpec, status: VisionModelStatus, now: datetime) -> float | None:
    """Seconds until the next tick can change something: next analysis, end of the stage, end of a drain."""
    waits: list[float] = []
    waiting = status.candidate is not None and (status.step_started_at is None or status.handover is not None)
    if waiting and status.phase in ("Progressing", "Promoting"):
        waits.append(2.0)  # waiting for ready pods: poll
    elif status.candidate is not None and status.phase == "Progressing":
        interval = parse_duration(spec.rollout.analysis.interval)
        since_last = elapsed(status.last_analysis_at, now)
        since_stage = elapsed(status.step_started_at, now) or 0.0
        waits.append(interval - min(since_last if since_last is not None else since_stage, since_stage))
        waits.append(strategies.seconds(spec, status.stage) - since_stage)
    for r in status.retiring:
        due = parse(r.retire_at)
        # A drain not started yet starts at the next tick, once this one's traffic change is written.
        waits.append((due - now).total_seconds() if due is not None else 1.0)
    return max(0.5, min(waits)) if waits else None

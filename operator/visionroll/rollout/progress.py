"""One tick of a rollout in flight: record an analysis, apply the limits, and advance when a stage is done.

Counters (documented in docs/rollout.md):
- `failedChecks` is cumulative within a stage/step: every failed analysis counts, passes in between do not forgive it.
  A failing candidate is rolled back after `failureLimit` failures even if it flickers.
- `inconclusiveChecks` is consecutive: a conclusive analysis (pass or fail) resets it, so a slow start with too few
  samples does not add up across the step, but a candidate that never yields data hits `inconclusiveLimit`.
Both reset when a step or stage begins. A stage is done when its duration has elapsed since `stepStartedAt` and the
latest analysis taken *after* the stage began passed; a fail or an inconclusive latest analysis keeps it waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from visionroll.api import AnalysisRecord, VisionModelSpec, VisionModelStatus, parse_duration
from visionroll.api.status import Verdict
from visionroll.rollout import transitions as t
from visionroll.rollout.analysis import judge, overall, summary
from visionroll.rollout.clock import elapsed, parse, stamp
from visionroll.rollout.gates import required_measurements, stable_serves
from visionroll.rollout.types import Event, Measurements


@dataclass(frozen=True)
class Step:
    status: VisionModelStatus
    events: tuple[Event, ...] = ()
    outcome: str | None = None


def stage_seconds(spec: VisionModelSpec, stage: str | None) -> float:
    if stage == "shadow":
        return parse_duration(t.shadow_of(spec).duration)
    if stage == "split":
        return parse_duration(t.split_of(spec).duration)
    return parse_duration(t.canary_of(spec).step_duration)


def has_gates(spec: VisionModelSpec, stage: str | None) -> bool:
    return bool(required_measurements(spec.rollout.analysis, stage))


def record(
    status: VisionModelStatus, spec: VisionModelSpec, generation: int, measurements: Measurements, now: datetime
) -> Step:
    """Judge the gates, update the counters, and roll back or pause at a limit."""
    analysis = spec.rollout.analysis
    results = judge(analysis, status.stage, measurements, vs_stable=stable_serves(status))
    verdict: Verdict = overall(results)
    failed = status.failed_checks + (verdict == "fail")
    inconclusive = status.inconclusive_checks + 1 if verdict == "inconclusive" else 0
    new = status.model_copy(
        update={
            "analysis": AnalysisRecord(time=stamp(now), gates=list(results), verdict=verdict),
            "last_analysis_at": stamp(now),
            "failed_checks": failed,
            "inconclusive_checks": inconclusive,
        }
    )
    text = summary(results)
    events: tuple[Event, ...] = ()
    if verdict == "fail":
        events = (Event("Warning", "AnalysisFailed", f"failed check {failed}/{analysis.failure_limit}: {text}"),)
    elif verdict == "inconclusive":
        limit = analysis.inconclusive_limit
        events = (Event("Warning", "AnalysisInconclusive", f"inconclusive check {inconclusive}/{limit}: {text}"),)
    if failed >= analysis.failure_limit:
        done, event = t.rollback(
            new, spec, generation, f"{failed} failed analyses (failureLimit {analysis.failure_limit}): {text}", now
        )
        return Step(done, (*events, event), "rolled-back")
    if inconclusive >= analysis.inconclusive_limit:
        reason = (
            f"{inconclusive} inconclusive analyses in a row (inconclusiveLimit {analysis.inconclusive_limit}): {text}"
        )
        if analysis.on_inconclusive == "pause":
            paused = new.model_copy(
                update={"phase": "Paused", "pause_reason": "inconclusive", "message": f"paused: {reason}"}
            )
            return Step(
                paused, (*events, Event("Warning", "Paused", f"{reason}; promote or abort to continue")), "paused"
            )
        done, event = t.rollback(new, spec, generation, reason, now)
        return Step(done, (*events, event), "rolled-back")
    return Step(new, events)


def latest_verdict(status: VisionModelStatus, spec: VisionModelSpec) -> Verdict | None:
    """The verdict of the latest analysis taken after the current stage began; pass when no gate applies."""
    if not has_gates(spec, status.stage):
        return "pass"
    record_ = status.analysis
    started = parse(status.step_started_at)
    taken = parse(record_.time) if record_ else None
    if record_ is None or taken is None or started is None or taken <= started:
        return None
    return record_.verdict


def advance_if_done(
    status: VisionModelStatus, spec: VisionModelSpec, generation: int, stable_ready: int, now: datetime
) -> Step:
    """The stage is over and passed: the next stage or step begins, or a handover to the candidate starts (a promotion,
    or a canary step of 100%: the candidate is scaled to carry all the traffic before it moves)."""
    spent = elapsed(status.step_started_at, now)
    if spent is None or spent < stage_seconds(spec, status.stage):
        return Step(status)
    verdict = latest_verdict(status, spec)
    evidence = summary(status.analysis.gates if status.analysis else ())
    if status.stage == "split" and verdict in ("pass", "fail"):
        return _finish_split(status, spec, generation, verdict == "pass", evidence, stable_ready, now)
    if verdict != "pass":
        return Step(status)
    if status.stage == "shadow" and t.shadow_of(spec).then_promote == "canary":
        new = status.model_copy(update=t.enter_stage(spec, "canary", now))
        new = new.model_copy(update={"message": t.describe(new)})
        note = t.gates_note(spec, "canary")
        return Step(
            new,
            (Event("Normal", "StepAdvanced", f"shadow passed, canary begins: {new.message}; {evidence}{note}"),),
            "advanced",
        )
    if status.stage == "canary":
        steps = t.canary_of(spec).steps
        nxt = min(status.step or 0, len(steps) - 1) + 1
        if nxt < len(steps) and steps[nxt] >= 100:
            reason = f"canary step {nxt} passed: {evidence}"
            new, event = t.hand_over(status, spec, reason, stable_ready, now, step=nxt)
            return Step(new, (event,))
        if nxt < len(steps):
            new = status.model_copy(update=t.canary_step(spec, nxt) | t.step_begins(now))
            new = new.model_copy(update={"message": t.describe(new)})
            return Step(
                new,
                (Event("Normal", "StepAdvanced", f"{new.message} (step {nxt + 1}/{len(steps)}); {evidence}"),),
                "advanced",
            )
    new, event = t.hand_over(status, spec, f"{status.stage} passed: {evidence}", stable_ready, now)
    return Step(new, (event,))


def _finish_split(
    status: VisionModelStatus,
    spec: VisionModelSpec,
    generation: int,
    candidate_wins: bool,
    evidence: str,
    stable_ready: int,
    now: datetime,
) -> Step:
    winner = "candidate" if candidate_wins else "stable"
    if t.split_of(spec).decide == "manual":
        message = f"split finished, {winner} is ahead ({evidence}); awaiting promote or abort"
        new = status.model_copy(update={"phase": "Paused", "pause_reason": "decision", "message": message})
        return Step(new, (Event("Normal", "SplitDecisionNeeded", message),), "paused")
    if candidate_wins:
        new, event = t.hand_over(status, spec, f"candidate won the split: {evidence}", stable_ready, now)
        return Step(new, (event,))
    done, event = t.rollback(status, spec, generation, f"stable won the split: {evidence}", now)
    return Step(done, (event,), "rolled-back")

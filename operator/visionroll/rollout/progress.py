"""One tick of a rollout in flight: record an analysis, apply the limits, and advance when a stage is done.

Counters (documented in docs/rollout.md):
- `failedChecks` is cumulative within a stage/step: every failed analysis counts, passes in between do not forgive it.
  A failing candidate is rolled back after `failureLimit` failures even if it flickers.
- `inconclusiveChecks` is consecutive: it counts analyses that lack evidence (no data, failed query, too few
  samples), and, once the stage's duration plus progressDeadline have passed, analyses whose evidence is still short
  of a verdict; anything else resets it (evidence accumulating towards its bounds is not a failure to measure).
Both reset when a step or stage begins. A stage is done when its duration has elapsed since `stepStartedAt` and the
latest analysis taken *after* the stage began passed; a fail or an inconclusive latest analysis keeps it waiting.
"""

from __future__ import annotations

from datetime import datetime

from visionroll.api import AnalysisRecord, VisionModelSpec, VisionModelStatus, parse_duration
from visionroll.api.status import Verdict
from visionroll.rollout import strategies
from visionroll.rollout import transitions as t
from visionroll.rollout.analysis import counts_as_inconclusive, judge, overall, summary
from visionroll.rollout.clock import elapsed, parse, stamp
from visionroll.rollout.gates import equal_load, required_measurements, stable_serves
from visionroll.rollout.types import Event, Measurements, Step


def has_gates(spec: VisionModelSpec, stage: str | None) -> bool:
    return bool(required_measurements(spec.rollout.analysis, stage))


def record(
    status: VisionModelStatus, spec: VisionModelSpec, generation: int, measurements: Measurements, now: datetime
) -> Step:
    """Judge the gates, update the counters, and roll back or pause at a limit."""
    analysis = spec.rollout.analysis
    results = judge(
        analysis, status.stage, measurements, vs_stable=stable_serves(status), equal_load=equal_load(status)
    )
    verdict: Verdict = overall(results)
    failed = status.failed_checks + (verdict == "fail")
    # Evidence still accumulating is not a failure to measure, until the stage's duration + progressDeadline pass.
    patience = strategies.seconds(spec, status.stage) + parse_duration(spec.rollout.progress_deadline)
    out_of_time = (elapsed(status.step_started_at, now) or 0.0) >= patience
    counted = counts_as_inconclusive(results, out_of_time=out_of_time)
    inconclusive = status.inconclusive_checks + 1 if counted else 0
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
    elif counted:
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
    """When the stage's duration is over, its strategy says what follows the latest verdict: the next stage or step,
    a handover to the candidate (a promotion, or a canary step of 100%), a decision, or more waiting."""
    spent = elapsed(status.step_started_at, now)
    if spent is None or spent < strategies.seconds(spec, status.stage):
        return Step(status)
    evidence = summary(status.analysis.gates if status.analysis else ())
    return strategies.after(status, spec, generation, latest_verdict(status, spec), evidence, stable_ready, now)

"""Split: live traffic divided by fixed weights (A/B) for `duration`; at the end the latest analysis decides. The
candidate wins when it passed every gate, comparisons with stable included: it is promoted (`decide: auto`, after a
handover) or the rollout waits for a person (`decide: manual`, phase Paused, pauseReason decision). Otherwise stable
stays and the candidate is rolled back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from visionroll.api import VisionModelSpec, VisionModelStatus, Weights, parse_duration
from visionroll.api.spec import Split
from visionroll.api.status import Verdict
from visionroll.rollout import transitions as t
from visionroll.rollout.types import Event, Step

STAGE = "split"


def settings(spec: VisionModelSpec) -> Split:
    return spec.rollout.split or Split()


def seconds(spec: VisionModelSpec) -> float:
    return parse_duration(settings(spec).duration)


def enter(spec: VisionModelSpec, now: datetime) -> dict[str, Any]:
    stable, candidate = settings(spec).weights
    return {
        "stage": STAGE,
        "step": None,
        "weights": Weights(stable=stable, candidate=candidate),
        "mirror_percent": 0,
    } | t.step_begins(now)


def after(
    status: VisionModelStatus,
    spec: VisionModelSpec,
    generation: int,
    verdict: Verdict | None,
    evidence: str,
    stable_ready: int,
    now: datetime,
) -> Step:
    if verdict not in ("pass", "fail"):
        return Step(status)  # no conclusive analysis yet: the split goes on (the limits end it otherwise)
    winner = "candidate" if verdict == "pass" else "stable"
    if settings(spec).decide == "manual":
        message = f"split finished, {winner} is ahead ({evidence}); awaiting promote or abort"
        new = status.model_copy(update={"phase": "Paused", "pause_reason": "decision", "message": message})
        return Step(new, (Event("Normal", "SplitDecisionNeeded", message),), "paused")
    if verdict == "pass":
        new, event = t.hand_over(status, spec, f"candidate won the split: {evidence}", stable_ready, now)
        return Step(new, (event,))
    done, event = t.rollback(status, spec, generation, f"stable won the split: {evidence}", now)
    return Step(done, (event,), "rolled-back")

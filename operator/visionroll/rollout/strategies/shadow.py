"""Shadow: clients keep getting stable's answers while `mirrorPercent` of live requests are copied to the candidate,
whose answers are compared with stable's and thrown away; after `duration` and a passing analysis the candidate is
promoted (`thenPromote: direct`) or continues as a canary (`thenPromote: canary`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from visionroll.api import VisionModelSpec, VisionModelStatus, Weights, parse_duration
from visionroll.api.spec import Shadow
from visionroll.rollout import transitions as t
from visionroll.rollout.strategies import canary
from visionroll.rollout.types import Event, Step

STAGE = "shadow"


def settings(spec: VisionModelSpec) -> Shadow:
    return spec.rollout.shadow or Shadow()


def seconds(spec: VisionModelSpec) -> float:
    return parse_duration(settings(spec).duration)


def enter(spec: VisionModelSpec, now: datetime) -> dict[str, Any]:
    return {
        "stage": STAGE,
        "step": None,
        "weights": Weights(stable=100, candidate=0),
        "mirror_percent": settings(spec).mirror_percent,
    } | t.step_begins(now)


def after(status: VisionModelStatus, spec: VisionModelSpec, evidence: str, stable_ready: int, now: datetime) -> Step:
    if settings(spec).then_promote == "canary":
        new = status.model_copy(update=canary.enter(spec, now))
        new = new.model_copy(update={"message": t.describe(new)})
        note = t.gates_note(spec, canary.STAGE)
        message = f"shadow passed, canary begins: {new.message}; {evidence}{note}"
        return Step(new, (Event("Normal", "StepAdvanced", message),), "advanced")
    new, event = t.hand_over(status, spec, f"shadow passed: {evidence}", stable_ready, now)
    return Step(new, (event,))

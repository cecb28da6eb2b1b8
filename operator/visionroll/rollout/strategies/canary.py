"""Canary: the candidate takes the weight of each step in turn (`canary.steps`, percent of live traffic), each judged
for at least `stepDuration`; the last step passed promotes. A step of 100% begins only once the candidate has the
replicas to carry all the traffic (a handover)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from visionroll.api import VisionModelSpec, VisionModelStatus, Weights, parse_duration
from visionroll.api.spec import Canary
from visionroll.rollout import transitions as t
from visionroll.rollout.types import Event, Step

STAGE = "canary"


def settings(spec: VisionModelSpec) -> Canary:
    return spec.rollout.canary or Canary()


def seconds(spec: VisionModelSpec) -> float:
    return parse_duration(settings(spec).step_duration)


def step_fields(spec: VisionModelSpec, index: int) -> dict[str, Any]:
    """Status fields of step `index`: its weights (no mirror)."""
    weight = settings(spec).steps[index]
    return {
        "stage": STAGE,
        "step": index,
        "weights": Weights(stable=100 - weight, candidate=weight),
        "mirror_percent": 0,
    }


def enter(spec: VisionModelSpec, now: datetime) -> dict[str, Any]:
    return step_fields(spec, 0) | t.step_begins(now)


def begin_step(status: VisionModelStatus, spec: VisionModelSpec, index: int, why: str, now: datetime) -> Step:
    new = status.model_copy(update=step_fields(spec, index) | t.step_begins(now) | {"handover": None})
    new = new.model_copy(update={"message": t.describe(new)})
    steps = len(settings(spec).steps)
    return Step(new, (Event("Normal", "StepAdvanced", f"{new.message} (step {index + 1}/{steps}); {why}"),), "advanced")


def after(status: VisionModelStatus, spec: VisionModelSpec, evidence: str, stable_ready: int, now: datetime) -> Step:
    """A step passed: the next step begins (after a handover if it is 100%), or the candidate is promoted."""
    steps = settings(spec).steps
    nxt = min(status.step or 0, len(steps) - 1) + 1
    if nxt < len(steps) and steps[nxt] >= 100:
        new, event = t.hand_over(status, spec, f"canary step {nxt} passed: {evidence}", stable_ready, now, step=nxt)
        return Step(new, (event,))
    if nxt < len(steps):
        return begin_step(status, spec, nxt, evidence, now)
    new, event = t.hand_over(status, spec, f"canary passed: {evidence}", stable_ready, now)
    return Step(new, (event,))

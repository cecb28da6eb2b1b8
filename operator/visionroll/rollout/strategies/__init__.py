"""One module per strategy: what each stage's traffic is, how long it lasts, and what follows when it is over.

`canary` (stepped weights), `shadow` (mirrored copies; may continue as a canary), `split` (A/B weights, decided at the
end) and `immediate` (no stage: a rolling update). Each stage module gives the status fields of its start (`enter`),
its duration (`seconds`) and the step that follows a finished stage (`after`); the whole-status moves they return
(next step, handover to the candidate, rollback) come from `visionroll.rollout.transitions`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from visionroll.api import VisionModelSpec, VisionModelStatus
from visionroll.api.status import Verdict
from visionroll.rollout.strategies import canary, shadow, split
from visionroll.rollout.types import Step


def enter(spec: VisionModelSpec, stage: str, now: datetime) -> dict[str, Any]:
    """Status fields at the start of `stage` (weights, mirror, step, clocks, counters)."""
    if stage == "shadow":
        return shadow.enter(spec, now)
    if stage == "split":
        return split.enter(spec, now)
    return canary.enter(spec, now)


def seconds(spec: VisionModelSpec, stage: str | None) -> float:
    """How long `stage` (a canary step) lasts at least."""
    if stage == "shadow":
        return shadow.seconds(spec)
    if stage == "split":
        return split.seconds(spec)
    return canary.seconds(spec)


def after(
    status: VisionModelStatus,
    spec: VisionModelSpec,
    generation: int,
    verdict: Verdict | None,
    evidence: str,
    stable_ready: int,
    now: datetime,
) -> Step:
    """The stage's duration is over and its latest analysis gave `verdict`: what happens next."""
    if status.stage == "split":
        return split.after(status, spec, generation, verdict, evidence, stable_ready, now)
    if verdict != "pass":
        return Step(status)  # a canary step or a shadow waits for a passing analysis (the limits end it otherwise)
    if status.stage == "shadow":
        return shadow.after(status, spec, evidence, stable_ready, now)
    return canary.after(status, spec, evidence, stable_ready, now)

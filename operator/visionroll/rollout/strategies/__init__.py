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
from visionroll.rollout import transitions as t
from visionroll.rollout.strategies import canary, shadow, split
from visionroll.rollout.types import Step


def enter(spec: VisionModelSpec, stage: str, now: datetime) -> dict[str, Any]:
    """Status fields at the start of `stage` (weights, mirror, step, clocks, counters)."""
    if stage == "shadow":
        return shadow.enter(spec, now)
    if stage == "split":
        return split.enter(spec, now)
    return canary.enter(spec, now)


def opening_share(spec: VisionModelSpec, stage: str | None) -> int:
    """The candidate's share of the traffic, in percent, when `stage` begins: its weight, or the share mirrored to it
    (a shadow). 0 for no stage (immediate: it is scaled for all the traffic by a handover)."""
    if stage == "shadow":
        return shadow.settings(spec).mirror_percent
    if stage == "split":
        return split.settings(spec).weights[1]
    if stage == "canary":
        return canary.settings(spec).steps[0]
    return 0


def candidate_floor(status: VisionModelStatus, spec: VisionModelSpec) -> int | None:
    """Replicas the candidate keeps at least: all the traffic's during a handover; else those sized for its share in
    the current stage, or in the stage it waits to begin (its pods are scaled before any traffic or copy reaches it)."""
    if status.candidate is None:
        return None
    if status.handover is not None:
        return status.handover.replicas
    if status.step_started_at is not None:
        share = max(status.weights.candidate, status.mirror_percent)
    else:
        share = opening_share(spec, status.stage)
    return t.sized_replicas(status, spec, share)


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

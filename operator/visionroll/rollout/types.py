"""Plain data in and out of the decision core. Frozen, no I/O, time passed in.

`decide(context)` (in `visionroll.rollout.decide`) takes one `Context` per tick: the spec, the current status, what the
reconcile observed (ready pods per revision, the traffic provider's readiness, pods that failed for good), the manual
controls, the time, and what was measured if an analysis was due. It returns a `Decision`: the whole new status, and
the events that explain it. The reconcile layer turns the new status into objects (workloads for `stable`,
`candidate`, `retiring`; traffic from `weights` and `mirrorPercent`) in a fixed order: scale up, then move traffic,
then scale down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from visionroll.api import Revision, VisionModelSpec, VisionModelStatus
from visionroll.api.status import Outcome
from visionroll.vocabulary import (
    ANNOTATION_ABORT,
    ANNOTATION_PAUSED,
    ANNOTATION_PROMOTE,
    ANNOTATION_RESUME,
    REVISION_CONTROLS,
)

EventType = Literal["Normal", "Warning"]
# What a tick decided, one spelling everywhere: the history's outcomes (`Outcome`) and the steps between them. The
# operator metric `visionroll_rollout_decisions_total{outcome}`, the dashboards and the alerts use these values.
Decided = Outcome | Literal["deployed", "started", "advanced", "paused", "resumed"]


@dataclass(frozen=True)
class Measurement:
    """One measurement over the stage so far. `error` set means the query failed. `counts` holds what a test needs
    beyond one number: cumulative histogram bucket counts by bound, or predictions by class."""

    gate: str
    value: float | None
    samples: int
    error: str | None = None
    counts: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Measurements:
    time: datetime
    window_seconds: float
    values: tuple[Measurement, ...] = ()

    def get(self, gate: str) -> Measurement | None:
        return next((m for m in self.values if m.gate == gate), None)


@dataclass(frozen=True)
class Controls:
    """Manual controls read from annotations."""

    paused: bool = False
    promote: str | None = None  # the candidate revision to promote now
    abort: str | None = None  # the candidate revision to roll back now
    resume: str | None = None  # the candidate revision whose paused stage starts afresh

    @classmethod
    def from_annotations(cls, annotations: dict[str, str]) -> Controls:
        return cls(
            paused=annotations.get(ANNOTATION_PAUSED, "").lower() == "true",
            promote=annotations.get(ANNOTATION_PROMOTE) or None,
            abort=annotations.get(ANNOTATION_ABORT) or None,
            resume=annotations.get(ANNOTATION_RESUME) or None,
        )


def spent_controls(annotations: dict[str, str], candidate: str | None) -> tuple[str, ...]:
    """The promote/abort/resume annotations that name no revision in flight (`candidate`) any more: acted on, or
    never valid. Left in place, an `abort` would abort the same revision again if it were ever deployed again."""
    return tuple(key for key in REVISION_CONTROLS if annotations.get(key) and annotations[key] != candidate)


def spent_resume(annotations: dict[str, str], status: VisionModelStatus) -> bool:
    """A resume is spent once the stage it named runs again (phase Progressing)."""
    cand = status.candidate
    return bool(annotations.get(ANNOTATION_RESUME)) and (
        cand is None or annotations[ANNOTATION_RESUME] != cand.revision or status.phase != "Paused"
    )


def spent_annotations(annotations: dict[str, str], status: VisionModelStatus) -> tuple[str, ...]:
    """Every control annotation the written `status` has consumed: promote/abort/resume naming no revision in flight,
    and a resume whose stage runs again."""
    spent = spent_controls(annotations, status.candidate.revision if status.candidate else None)
    if ANNOTATION_RESUME not in spent and spent_resume(annotations, status):
        spent = (*spent, ANNOTATION_RESUME)
    return spent


@dataclass(frozen=True)
class Observed:
    """What the reconcile saw of the cluster before deciding."""

    ready: Mapping[str, int] = field(default_factory=dict)
    """Ready pods by revision (a revision's Deployment `readyReplicas`)."""
    traffic_ready: bool = True
    """The traffic provider can carry the status's weights (the router has a ready pod)."""
    failures: Mapping[str, str] = field(default_factory=dict)
    """Revisions whose pods failed for good (bad archive, image that cannot be pulled), with the reason."""
    unscheduled: Mapping[str, str] = field(default_factory=dict)
    """Revisions with a pod no node can take yet (insufficient CPU, ...), with the scheduler's reason."""

    def ready_of(self, rev: Revision | None) -> int:
        return 0 if rev is None else self.ready.get(rev.revision, 0)


@dataclass(frozen=True)
class Context:
    """Everything one tick decides on. Frozen: `decide` computes the whole next status from it."""

    spec: VisionModelSpec
    status: VisionModelStatus
    generation: int
    desired: Revision
    now: datetime
    controls: Controls = field(default_factory=Controls)
    observed: Observed = field(default_factory=Observed)
    measurements: Measurements | None = None


@dataclass(frozen=True)
class Event:
    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class Step:
    """A part of a tick's decision: the new status, the events that explain it, and its outcome if any."""

    status: VisionModelStatus
    events: tuple[Event, ...] = ()
    outcome: Decided | None = None


@dataclass(frozen=True)
class Decision:
    status: VisionModelStatus
    events: tuple[Event, ...] = ()
    outcome: Decided | None = None  # the decisions metric's `outcome` label, spelled as in status.history
    requeue_after: float | None = field(default=None)  # seconds until the next tick is useful
    # The numeric limit of each spec gate that has one, by gate name, for the gate threshold metric.
    thresholds: Mapping[str, float] = field(default_factory=dict)

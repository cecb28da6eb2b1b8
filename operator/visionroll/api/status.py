"""The VisionModel status: everything the rollout knows, so an operator restarted at any moment resumes from it.

The status is computed whole by the rollout core and written once per tick (never field by field).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from visionroll.api.spec import Schema

# Promoting: the candidate passed and is scaled to carry all the traffic before the switch.
Phase = Literal["Pending", "Progressing", "Promoting", "Stable", "RolledBack", "Paused"]
Verdict = Literal["pass", "fail", "inconclusive"]
Outcome = Literal["promoted", "rolled-back", "aborted", "superseded", "replaced"]
ConditionType = Literal["Ready", "Progressing", "Degraded"]
PauseReason = Literal["manual", "inconclusive", "decision"]

HISTORY_LIMIT = 10


class Revision(Schema):
    version: str
    revision: str
    storage_uri: str | None = None


class Weights(Schema):
    stable: int = Field(default=100, ge=0, le=100)
    candidate: int = Field(default=0, ge=0, le=100)


class GateResult(Schema):
    name: str
    value: float | None = Field(default=None, description="Measured value; absent when nothing could be measured.")
    threshold: str = Field(description="The rule it was held to, e.g. '<= 150ms' or '>= 0.97'.")
    samples: int = Field(default=0, ge=0)
    lower: float | None = Field(
        default=None,
        description="Lower confidence bound of the gated quantity over the stage so far (valid at every look); "
        "absent when there is no evidence to bound.",
    )
    upper: float | None = Field(default=None, description="Upper confidence bound, like lower.")
    verdict: Verdict
    message: str = ""


class AnalysisRecord(Schema):
    time: str = Field(description="RFC 3339 time of the measurement.")
    gates: list[GateResult] = Field(default_factory=list)
    verdict: Verdict | None = Field(default=None, description="fail if any gate failed, else inconclusive if any was.")


class HistoryEntry(Schema):
    version: str
    revision: str
    outcome: Outcome
    reason: str
    time: str


class Condition(Schema):
    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class Replicas(Schema):
    stable: int = 0
    candidate: int = 0


class Retiring(Revision):
    """A revision that no longer gets traffic (a former stable after a promotion, a rolled-back candidate) and keeps its
    pods until `retireAt`, so requests the traffic provider sent before the switch are answered."""

    retire_at: str | None = Field(
        default=None,
        description="RFC 3339 time after which its objects are removed: the drain time from the first tick after "
        "the traffic left it (absent until then).",
    )


class RolledBack(Schema):
    """A revision that was rolled back, and the generation it was rolled back at: not retried until the spec changes."""

    revision: str
    generation: int


class Handover(Schema):
    """Before 100% of the traffic moves to the candidate, it is scaled to what carries it, and the move waits for those
    replicas to be ready."""

    replicas: int = Field(ge=1, description="Ready candidate replicas the move waits for.")
    step: int | None = Field(
        default=None, ge=0, description="The canary step (of 100%) that begins then; absent: the candidate is promoted."
    )
    reason: str = Field(description="Why the candidate takes all the traffic (the promotion's reason).")
    since: str = Field(description="RFC 3339 time the scale-up began; progressDeadline counts from it.")


class VisionModelStatus(Schema):
    phase: Phase = "Pending"
    message: str = ""
    stable: Revision | None = None
    candidate: Revision | None = None
    strategy: str | None = Field(default=None, description="Strategy of the rollout in progress.")
    stage: Literal["shadow", "canary", "split"] | None = Field(
        default=None, description="Stage of the rollout in progress (a shadow may continue as a canary)."
    )
    step: int | None = Field(default=None, ge=0, description="Index of the current canary step.")
    weights: Weights = Field(default_factory=Weights)
    mirror_percent: int = Field(default=0, ge=0, le=100)
    pause_reason: PauseReason | None = Field(
        default=None,
        description="Why phase is Paused: manual (annotation), inconclusive (limit reached, onInconclusive pause), "
        "decision (a manual split awaiting promote or abort).",
    )
    rollout_started_at: str | None = None
    step_started_at: str | None = None
    last_analysis_at: str | None = None
    analysis: AnalysisRecord | None = None
    failed_checks: int = Field(default=0, ge=0)
    inconclusive_checks: int = Field(default=0, ge=0)
    rolled_back: RolledBack | None = None
    retiring: list[Retiring] = Field(
        default_factory=list,
        max_length=HISTORY_LIMIT,
        description="Revisions draining after the traffic left them (a former stable, a rolled-back candidate).",
    )
    held_replicas: int | None = Field(
        default=None,
        ge=1,
        description="Stable replicas when the rollout began: the stable's HPA keeps at least this many while a "
        "candidate is in flight, so a rollback can move all traffic back at once.",
    )
    handover: Handover | None = Field(
        default=None,
        description="The candidate is being scaled to carry all the traffic before it gets it (phase Promoting, or "
        "before a canary step of 100%).",
    )
    history: list[HistoryEntry] = Field(default_factory=list, max_length=HISTORY_LIMIT)
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None
    replicas: Replicas = Field(default_factory=Replicas)
    endpoint: str | None = None

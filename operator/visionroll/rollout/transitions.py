"""Whole-status transitions of a rollout: start, promote, roll back, supersede, replace, retire.

Each returns a new status (the input is frozen) plus the event that explains it. Two invariants of the design are
kept here: stable is never modified while a candidate is in flight (only `promote` and `replace` touch it), and a
rollback puts 100% of the traffic on stable in the same status that removes the candidate, so the reconcile (which
applies traffic before scaling down) never routes to a revision it is removing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from visionroll.api import HistoryEntry, Revision, VisionModelSpec, VisionModelStatus, Weights, parse_duration
from visionroll.api.spec import Canary, Shadow, Split
from visionroll.api.status import HISTORY_LIMIT, Outcome, RolledBack
from visionroll.rollout.clock import later, parse, stamp
from visionroll.rollout.types import Event

MIN_DRAIN_SECONDS = 5.0

# Fields that describe a rollout in flight; cleared together when it ends.
_IDLE: dict[str, Any] = {
    "candidate": None,
    "strategy": None,
    "stage": None,
    "step": None,
    "weights": Weights(stable=100, candidate=0),
    "mirror_percent": 0,
    "rollout_started_at": None,
    "step_started_at": None,
    "last_analysis_at": None,
    "pause_reason": None,
}
# failedChecks / inconclusiveChecks (and the last analysis) stay after a rollout ends: they explain how it ended.


def canary_of(spec: VisionModelSpec) -> Canary:
    return spec.rollout.canary or Canary()


def shadow_of(spec: VisionModelSpec) -> Shadow:
    return spec.rollout.shadow or Shadow()


def split_of(spec: VisionModelSpec) -> Split:
    return spec.rollout.split or Split()


def drain_seconds(spec: VisionModelSpec) -> float:
    """How long a former stable keeps serving after a promotion: two analysis intervals, at least 5 s."""
    return max(MIN_DRAIN_SECONDS, 2 * parse_duration(spec.rollout.analysis.interval))


def with_history(
    status: VisionModelStatus, rev: Revision, outcome: Outcome, reason: str, now: datetime
) -> list[HistoryEntry]:
    entry = HistoryEntry(version=rev.version, revision=rev.revision, outcome=outcome, reason=reason, time=stamp(now))
    return [*status.history, entry][-HISTORY_LIMIT:]


def step_begins(now: datetime) -> dict[str, Any]:
    """Status fields of a step or stage that begins now: its clock starts and both counters reset."""
    return {"step_started_at": stamp(now), "failed_checks": 0, "inconclusive_checks": 0}


def enter_stage(spec: VisionModelSpec, stage: str, now: datetime) -> dict[str, Any]:
    """Status fields at the start of `stage` (weights, mirror, step, clocks, counters)."""
    common: dict[str, Any] = {"stage": stage, **step_begins(now)}
    if stage == "shadow":
        return common | {
            "step": None,
            "weights": Weights(stable=100, candidate=0),
            "mirror_percent": shadow_of(spec).mirror_percent,
        }
    if stage == "split":
        stable, candidate = split_of(spec).weights
        return common | {"step": None, "weights": Weights(stable=stable, candidate=candidate), "mirror_percent": 0}
    return common | canary_step(spec, 0)


WAITING: dict[str, Any] = {"weights": Weights(stable=100, candidate=0), "mirror_percent": 0, "step_started_at": None}


def activate(status: VisionModelStatus, spec: VisionModelSpec, now: datetime) -> tuple[VisionModelStatus, Event]:
    """The candidate is ready: its stage begins now, with the stage's weights."""
    new = status.model_copy(update=enter_stage(spec, status.stage or "canary", now))
    new = new.model_copy(update={"message": describe(new)})
    cand = status.candidate.version if status.candidate else "?"
    return new, Event("Normal", "CandidateReady", f"candidate {cand} has ready pods: {new.message}")


def canary_step(spec: VisionModelSpec, index: int) -> dict[str, Any]:
    weight = canary_of(spec).steps[index]
    return {
        "stage": "canary",
        "step": index,
        "weights": Weights(stable=100 - weight, candidate=weight),
        "mirror_percent": 0,
    }


def start(
    status: VisionModelStatus, spec: VisionModelSpec, desired: Revision, now: datetime
) -> tuple[VisionModelStatus, Event]:
    strategy = spec.rollout.strategy
    # The stage's weights wait until the candidate has ready pods (`activate`): traffic sent to pods that are still
    # starting would fail for clients and count against the candidate.
    fields = enter_stage(spec, strategy, now) | WAITING
    retiring = status.retiring if status.retiring is None or status.retiring.revision != desired.revision else None
    new = status.model_copy(
        update=fields
        | {
            "phase": "Progressing",
            "candidate": desired,
            "strategy": strategy,
            "rollout_started_at": stamp(now),
            "last_analysis_at": None,
            "analysis": None,
            "pause_reason": None,
            "rolled_back": None,
            "retiring": retiring,
            "retire_at": status.retire_at if retiring else None,
        }
    )
    new = new.model_copy(update={"message": describe(new)})
    stable = status.stable.version if status.stable else "none"
    return new, Event(
        "Normal",
        "RolloutStarted",
        f"{strategy} of {desired.version} ({desired.revision}) against stable {stable}: {new.message}",
    )


def _new_stable(
    status: VisionModelStatus,
    spec: VisionModelSpec,
    rev: Revision,
    outcome: Outcome,
    reason: str,
    message: str,
    now: datetime,
) -> VisionModelStatus:
    """`rev` becomes stable with all the traffic; the old stable drains (`retiring`) until `retireAt`."""
    old = status.stable
    return status.model_copy(
        update=_IDLE
        | {
            "phase": "Stable",
            "stable": rev,
            "retiring": old,
            "retire_at": later(now, drain_seconds(spec)) if old else None,
            "rolled_back": None,
            "history": with_history(status, rev, outcome, reason, now),
            "message": message,
        }
    )


def promote(
    status: VisionModelStatus, spec: VisionModelSpec, reason: str, now: datetime
) -> tuple[VisionModelStatus, Event]:
    cand = status.candidate
    assert cand is not None, "promote needs a candidate"
    new = _new_stable(status, spec, cand, "promoted", reason, f"promoted {cand.version}: {reason}", now)
    return new, Event("Normal", "Promoted", f"{cand.version} ({cand.revision}) is stable: {reason}")


def rollback(
    status: VisionModelStatus, generation: int, reason: str, now: datetime, *, outcome: Outcome = "rolled-back"
) -> tuple[VisionModelStatus, Event]:
    cand = status.candidate
    assert cand is not None, "rollback needs a candidate"
    new = status.model_copy(
        update=_IDLE
        | {
            "phase": "RolledBack",
            "rolled_back": RolledBack(revision=cand.revision, generation=generation),
            "history": with_history(status, cand, outcome, reason, now),
            "message": f"{outcome} {cand.version}: {reason}",
        }
    )
    verb = "aborted" if outcome == "aborted" else "rolled back"
    return new, Event(
        "Warning",
        "Aborted" if outcome == "aborted" else "RolledBack",
        f"{cand.version} ({cand.revision}) {verb}, 100% on stable: {reason}",
    )


def supersede(status: VisionModelStatus, reason: str, now: datetime) -> tuple[VisionModelStatus, Event]:
    cand = status.candidate
    assert cand is not None, "supersede needs a candidate"
    new = status.model_copy(update=_IDLE | {"history": with_history(status, cand, "superseded", reason, now)})
    return new, Event("Normal", "Superseded", f"rollout of {cand.version} ({cand.revision}) superseded: {reason}")


def replace(
    status: VisionModelStatus, spec: VisionModelSpec, desired: Revision, now: datetime
) -> tuple[VisionModelStatus, Event]:
    """`immediate`: the desired revision becomes stable at once; the old stable drains like after a promotion."""
    old = status.stable
    reason = f"immediate replace of {old.version if old else 'none'}"
    new = _new_stable(status, spec, desired, "replaced", reason, f"replaced by {desired.version} (immediate)", now)
    return new, Event(
        "Normal",
        "Replaced",
        f"{desired.version} ({desired.revision}) replaced {old.version if old else 'nothing'} without analysis",
    )


def retire_expired(status: VisionModelStatus, now: datetime) -> tuple[VisionModelStatus, tuple[Event, ...]]:
    retiring, due = status.retiring, parse(status.retire_at)
    if retiring is None or (due is not None and now < due):
        return status, ()
    new = status.model_copy(update={"retiring": None, "retire_at": None})
    return new, (
        Event("Normal", "Retired", f"former stable {retiring.version} ({retiring.revision}) drained and removed"),
    )


def describe(status: VisionModelStatus) -> str:
    """What the rollout is doing, for `status.message` and `kubectl get`."""
    w = status.weights
    if status.candidate is not None and status.step_started_at is None:
        return f"waiting for candidate {status.candidate.version} to have ready pods"
    if status.stage == "canary" and status.step is not None:
        return f"canary step {status.step + 1}: {w.candidate}% candidate"
    if status.stage == "shadow":
        return f"shadow: mirroring {status.mirror_percent}% to the candidate"
    if status.stage == "split":
        return f"split {w.stable}/{w.candidate}"
    return status.message

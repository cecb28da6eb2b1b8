"""Whole-status transitions of a rollout: start, prepare a promotion, promote, roll back, supersede, retire.

Each returns a new status (the input is frozen) plus the event that explains it. Invariants of the design kept here:
- stable is never modified while a candidate is in flight (only `promote` touches it), and its replicas are held
  (`heldReplicas`) so that a rollback can take all the traffic back at once;
- a revision that loses its traffic (a rolled-back or superseded candidate, a former stable) is not removed in the
  same status: it drains as `retiring` until `retireAt`, so the traffic provider has stopped sending to it and its
  in-flight requests are answered before its pods go.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from visionroll.api import HistoryEntry, Revision, VisionModelSpec, VisionModelStatus, Weights, parse_duration
from visionroll.api.status import HISTORY_LIMIT, Handover, Outcome, Retiring, RolledBack
from visionroll.rollout.clock import later, parse, stamp
from visionroll.rollout.defaults import defaults_note
from visionroll.rollout.types import Event, Step

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
    "held_replicas": None,
    "handover": None,
}
# failedChecks / inconclusiveChecks (and the last analysis) stay after a rollout ends: they explain how it ended.


def drain_seconds(spec: VisionModelSpec) -> float:
    """How long a revision keeps its pods after losing its traffic: two analysis intervals, at least 5 s. The router
    applies a new routing document within a second of the ConfigMap change (it watches it); the rest answers the
    requests already sent."""
    return max(MIN_DRAIN_SECONDS, 2 * parse_duration(spec.rollout.analysis.interval))


def drain(status: VisionModelStatus, rev: Revision | None) -> list[Retiring]:
    """`status.retiring` with `rev` added. Its drain clock starts at the next tick (`start_drains`): this tick's
    decision is written to the traffic provider only after the tick's measurements and applies, so a time stamped now
    could be seconds early. A revision already draining keeps its entry."""
    if rev is None or any(r.revision == rev.revision for r in status.retiring):
        return list(status.retiring)
    entry = Retiring(version=rev.version, revision=rev.revision, storage_uri=rev.storage_uri, retire_at=None)
    return [*status.retiring, entry][-HISTORY_LIMIT:]


def start_drains(status: VisionModelStatus, spec: VisionModelSpec, now: datetime) -> VisionModelStatus:
    """Retiring revisions named in an earlier tick, whose traffic change has been written since: their drain time
    counts from now."""
    if all(r.retire_at is not None for r in status.retiring):
        return status
    until = later(now, drain_seconds(spec))
    return status.model_copy(
        update={"retiring": [r if r.retire_at else r.model_copy(update={"retire_at": until}) for r in status.retiring]}
    )


def undrain(status: VisionModelStatus, rev: Revision) -> list[Retiring]:
    """`status.retiring` without `rev`: it serves again (a candidate or stable once more), its pods are reused."""
    return [r for r in status.retiring if r.revision != rev.revision]


def with_history(
    status: VisionModelStatus, rev: Revision, outcome: Outcome, reason: str, now: datetime
) -> list[HistoryEntry]:
    entry = HistoryEntry(version=rev.version, revision=rev.revision, outcome=outcome, reason=reason, time=stamp(now))
    return [*status.history, entry][-HISTORY_LIMIT:]


def step_begins(now: datetime) -> dict[str, Any]:
    """Status fields of a step or stage that begins now: its clock starts and both counters reset."""
    return {"step_started_at": stamp(now), "failed_checks": 0, "inconclusive_checks": 0}


WAITING: dict[str, Any] = {"weights": Weights(stable=100, candidate=0), "mirror_percent": 0, "step_started_at": None}


def activate(
    status: VisionModelStatus, spec: VisionModelSpec, stage_fields: dict[str, Any]
) -> tuple[VisionModelStatus, Event]:
    """The candidate is ready: its stage begins now, with the stage's weights (`stage_fields`, from its strategy)."""
    new = status.model_copy(update=stage_fields)
    new = new.model_copy(update={"message": describe(new)})
    cand = status.candidate.version if status.candidate else "?"
    note = gates_note(spec, new.stage)
    return new, Event("Normal", "CandidateReady", f"candidate {cand} has ready pods: {new.message}{note}")


def start(
    status: VisionModelStatus,
    spec: VisionModelSpec,
    desired: Revision,
    stable_ready: int,
    now: datetime,
    *,
    stage: str | None,
) -> tuple[VisionModelStatus, Event]:
    """A candidate is named with no traffic; `activate` gives it its stage once it has ready pods. The stable's
    replicas are held from now on at what carries all the traffic today."""
    strategy = spec.rollout.strategy
    held = min(spec.autoscaling.max_replicas, max(spec.autoscaling.min_replicas, stable_ready))
    # The stage's weights wait until the candidate has ready pods (`activate`): traffic sent to pods that are still
    # starting would fail for clients and count against the candidate.
    fields = {"stage": stage, "step": 0 if stage == "canary" else None, "failed_checks": 0, "inconclusive_checks": 0}
    fields |= WAITING
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
            "retiring": undrain(status, desired),
            "held_replicas": held,
            "handover": None,
        }
    )
    new = new.model_copy(update={"message": describe(new)})
    stable = status.stable.version if status.stable else "none"
    note = gates_note(spec, new.stage)
    return new, Event(
        "Normal",
        "RolloutStarted",
        f"{strategy} of {desired.version} ({desired.revision}) against stable {stable}: {new.message}{note}",
    )


def gates_note(spec: VisionModelSpec, stage: str | None) -> str:
    """`; default gates in force ...` when the spec's gates do not judge `stage` (so `kubectl describe` says so)."""
    if stage is None:
        return ""  # immediate: no analysis
    note = defaults_note(spec.rollout.analysis, stage)
    return f"; {note}" if note else ""


def _new_stable(
    status: VisionModelStatus,
    spec: VisionModelSpec,
    rev: Revision,
    outcome: Outcome,
    reason: str,
    message: str,
    now: datetime,
) -> VisionModelStatus:
    """`rev` becomes stable with all the traffic; the old stable drains (`retiring`) until its `retireAt`."""
    return status.model_copy(
        update=_IDLE
        | {
            "phase": "Stable",
            "stable": rev,
            "retiring": [r for r in drain(status, status.stable) if r.revision != rev.revision],
            "rolled_back": None,
            "history": with_history(status, rev, outcome, reason, now),
            "message": message,
        }
    )


def full_replicas(status: VisionModelStatus, spec: VisionModelSpec, stable_ready: int) -> int:
    """Replicas that carry all the traffic: what the stable runs (or was held at), within the autoscaling range."""
    scaling = spec.autoscaling
    want = max(scaling.min_replicas, status.held_replicas or 0, stable_ready)
    return min(scaling.max_replicas, want)


def sized_replicas(status: VisionModelStatus, spec: VisionModelSpec, share_percent: int) -> int:
    """Candidate replicas for `share_percent` of the traffic (its weight, or the share mirrored to it): that share of
    the replicas that carry all of it (the stable's, held through the rollout), rounded up, at least one. A candidate
    judged against a stable with twice its pods per request looks slower than it is (a shadow of 100% on one pod while
    the stable answers on two was rolled back on latency on real pods)."""
    full = full_replicas(status, spec, 0)
    return max(1, min(full, math.ceil(full * share_percent / 100)))


def hand_over(
    status: VisionModelStatus,
    spec: VisionModelSpec,
    reason: str,
    stable_ready: int,
    now: datetime,
    *,
    step: int | None = None,
) -> tuple[VisionModelStatus, Event]:
    """All the traffic is about to move to the candidate (a promotion, or a canary step of 100%): scale it first.
    The weights stay as they are until `handover.replicas` candidate pods are ready."""
    cand = status.candidate
    assert cand is not None, "a handover needs a candidate"
    replicas = full_replicas(status, spec, stable_ready)
    handover = Handover(replicas=replicas, step=step, reason=reason, since=stamp(now))
    target = f"canary step {step + 1} (100%)" if step is not None else "promotion"
    message = f"scaling candidate {cand.version} to {replicas} ready replica(s) before {target}: {reason}"
    new = status.model_copy(
        update={"handover": handover, "phase": "Promoting" if step is None else status.phase, "message": message}
    )
    return new, Event("Normal", "ScalingCandidate", message)


def promote(status: VisionModelStatus, spec: VisionModelSpec, reason: str, now: datetime) -> Step:
    """The candidate becomes stable with all the traffic: outcome `promoted`, or `replaced` for `immediate`."""
    cand = status.candidate
    assert cand is not None, "promote needs a candidate"
    if status.strategy == "immediate":
        old = status.stable
        reason = f"immediate replace of {old.version if old else 'none'}: {reason}"
        new = _new_stable(status, spec, cand, "replaced", reason, f"replaced by {cand.version} (immediate)", now)
        event = Event(
            "Normal", "Replaced", f"{cand.version} ({cand.revision}) replaced {old.version if old else 'nothing'}"
        )
        return Step(new, (event,), "replaced")
    new = _new_stable(status, spec, cand, "promoted", reason, f"promoted {cand.version}: {reason}", now)
    return Step(
        new, (Event("Normal", "Promoted", f"{cand.version} ({cand.revision}) is stable: {reason}"),), "promoted"
    )


def rollback(
    status: VisionModelStatus,
    spec: VisionModelSpec,
    generation: int,
    reason: str,
    now: datetime,
    *,
    outcome: Outcome = "rolled-back",
) -> tuple[VisionModelStatus, Event]:
    """All the traffic back on stable; the candidate drains before its objects go."""
    cand = status.candidate
    assert cand is not None, "rollback needs a candidate"
    new = status.model_copy(
        update=_IDLE
        | {
            "phase": "RolledBack",
            "rolled_back": RolledBack(revision=cand.revision, generation=generation),
            "retiring": drain(status, cand),
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


def supersede(
    status: VisionModelStatus, spec: VisionModelSpec, reason: str, now: datetime
) -> tuple[VisionModelStatus, Event]:
    cand = status.candidate
    assert cand is not None, "supersede needs a candidate"
    new = status.model_copy(
        update=_IDLE
        | {"retiring": drain(status, cand), "history": with_history(status, cand, "superseded", reason, now)}
    )
    return new, Event("Normal", "Superseded", f"rollout of {cand.version} ({cand.revision}) superseded: {reason}")


def retire_expired(status: VisionModelStatus, now: datetime) -> tuple[VisionModelStatus, tuple[Event, ...]]:
    due = [r for r in status.retiring if r.retire_at is not None and (parse(r.retire_at) or now) <= now]
    if not due:
        return status, ()
    new = status.model_copy(update={"retiring": [r for r in status.retiring if r not in due]})
    return new, tuple(
        Event("Normal", "Retired", f"{r.version} ({r.revision}) drained: no traffic since before {r.retire_at}")
        for r in due
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

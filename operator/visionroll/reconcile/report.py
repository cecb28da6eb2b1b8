"""The parts of the status the reconcile layer knows and the rollout core does not: ready replicas per variant,
the endpoint, observedGeneration, and the Ready / Progressing / Degraded conditions.

A condition keeps its lastTransitionTime while its status stays the same, so an unchanged VisionModel computes an
unchanged status and the tick writes nothing.
"""

from __future__ import annotations

from datetime import datetime

from visionroll import vocabulary
from visionroll.api import Condition, VisionModelSpec, VisionModelStatus
from visionroll.api.status import ConditionType, Replicas
from visionroll.reconcile.snapshot import Snapshot
from visionroll.workloads import endpoint

ROLLING_PHASES = ("Progressing", "Promoting", "Paused")


def _ready(snap: Snapshot, deployment: str) -> int:
    dep = snap.get("Deployment", deployment)
    return int((dep or {}).get("status", {}).get("readyReplicas") or 0)


def ready_replicas(snap: Snapshot, revision: str | None) -> int:
    return 0 if revision is None else _ready(snap, vocabulary.variant_name(snap.name, revision))


def traffic_ready(snap: Snapshot, spec: VisionModelSpec) -> bool:
    return spec.traffic.provider != "router" or _ready(snap, vocabulary.router_name(snap.name)) > 0


def _condition(
    previous: list[Condition],
    kind: ConditionType,
    ok: bool,
    reason: str,
    message: str,
    *,
    now: datetime,
    generation: int,
) -> Condition:
    status = "True" if ok else "False"
    old = next((c for c in previous if c.type == kind), None)
    since = old.last_transition_time if old is not None and old.status == status else _rfc3339(now)
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


def _rfc3339(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def finish(
    snap: Snapshot,
    spec: VisionModelSpec,
    decided: VisionModelStatus,
    *,
    generation: int,
    problems: list[str],
    refused: bool,
    now: datetime,
    uncreatable: list[str] | None = None,
) -> VisionModelStatus:
    """`refused`: the API server refused an object this tick (one of the `problems` says which). `uncreatable`:
    Deployments of this VisionModel whose pods the API server refuses to create (`pods.creation_failures`), reported
    as Degraded with reason PodsNotCreated unless a problem of the spec's own comes first."""
    stable_ready = ready_replicas(snap, decided.stable.revision if decided.stable else None)
    candidate_ready = ready_replicas(snap, decided.candidate.revision if decided.candidate else None)
    provider_ready = traffic_ready(snap, spec)
    rolling = decided.phase in ROLLING_PHASES
    degraded = bool(problems) or bool(uncreatable) or decided.phase == "RolledBack"
    if problems:
        degraded_reason = "ApplyFailed" if refused else "InvalidReference"
        degraded_message = "; ".join(problems)
    elif uncreatable:
        degraded_reason, degraded_message = "PodsNotCreated", "; ".join(uncreatable)
    elif degraded:
        degraded_reason, degraded_message = decided.phase, decided.message
    else:
        degraded_reason, degraded_message = "AsExpected", ""
    ready = stable_ready > 0 and provider_ready and not problems
    if ready:
        ready_reason, ready_message = "Serving", f"{stable_ready} stable replica(s) ready"
    elif problems or uncreatable:
        ready_reason, ready_message = degraded_reason, degraded_message
    elif stable_ready == 0:
        ready_reason, ready_message = "StableNotReady", "no ready stable replica yet"
    else:
        ready_reason, ready_message = "TrafficNotReady", "the router has no ready replica yet"
    # The rollout core never touches conditions: `decided` carries the previous status's conditions unchanged.
    previous = decided.conditions
    conditions = [
        _condition(
            previous,
            "Ready",
            ready,
            ready_reason,
            ready_message,
            now=now,
            generation=generation,
        ),
        _condition(
            previous,
            "Progressing",
            rolling,
            decided.phase,
            decided.message if rolling else "",
            now=now,
            generation=generation,
        ),
        _condition(
            previous,
            "Degraded",
            degraded,
            degraded_reason,
            degraded_message,
            now=now,
            generation=generation,
        ),
    ]
    return decided.model_copy(
        update={
            "conditions": conditions,
            "observed_generation": generation,
            "replicas": Replicas(stable=stable_ready, candidate=candidate_ready),
            "endpoint": endpoint(snap.name, snap.namespace, spec.model.name),
        }
    )


def invalid_spec(previous: VisionModelStatus, reason: str, *, generation: int, now: datetime) -> VisionModelStatus:
    """The status of a VisionModel whose stored spec does not validate (admitted under an older CRD, or written past
    admission): Degraded=True, reason InvalidSpec, naming the fields; everything else as it was."""
    degraded = _condition(previous.conditions, "Degraded", True, "InvalidSpec", reason, now=now, generation=generation)
    others = [c for c in previous.conditions if c.type != "Degraded"]
    return previous.model_copy(update={"conditions": [*others, degraded], "observed_generation": generation})

"""From a decided status to the objects that should exist: pure, given the snapshot.

A revision other than the spec's current one is rebuilt from the record in its own ConfigMap (`revision.json`), so a
stable revision keeps serving exactly what it served while the spec already names the next version. A revision that
cannot be rebuilt is reported and its objects are left untouched (never deleted, never rewritten).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from visionroll import vocabulary
from visionroll.api import ModelSource, Revision, Serving, VisionModelSpec, VisionModelStatus
from visionroll.reconcile.snapshot import Snapshot
from visionroll.rollout import strategies
from visionroll.settings import Settings
from visionroll.traffic import DEFAULT_STICKY_HEADER, Backend, TrafficPlan, provider
from visionroll.workloads import Manifest, Owner, Role, Variant, front_service, serving_objects
from visionroll.workloads.meta import metadata
from visionroll.workloads.security import container_security_context, pod_security_context
from visionroll.workloads.storage import ClaimArchive, parse_storage_uri
from visionroll.workloads.torchserve import INFERENCE_PORT, REVISION_KEY, parse_revision_record


@dataclass
class Desired:
    variants: list[Variant] = field(default_factory=list)
    up: list[Manifest] = field(default_factory=list)
    """Workload objects of the variants, stable first."""
    traffic: list[Manifest] = field(default_factory=list)
    kept_revisions: set[str] = field(default_factory=set)
    """Revisions whose objects must not be deleted (named in status, rebuildable or not)."""
    problems: list[str] = field(default_factory=list)
    claims: set[str] = field(default_factory=set)
    traffic_held: bool = False
    """The traffic objects could not be built (a plan the router would refuse): the existing ones are left as they
    are, so the router keeps serving its last good configuration."""


def _named(status: VisionModelStatus) -> list[tuple[Role, Revision]]:
    named: list[tuple[Role, Revision | None]] = [
        ("stable", status.stable),
        ("candidate", status.candidate),
        *(("retiring", r) for r in status.retiring),
    ]
    out: list[tuple[Role, Revision]] = []
    for role, rev in named:
        if rev is not None and all(rev.revision != r.revision for _, r in out):
            out.append((role, rev))
    return out


def _floor(status: VisionModelStatus, spec: VisionModelSpec, role: Role) -> int | None:
    if role == "stable" and status.candidate is not None:
        return status.held_replicas
    if role == "candidate":
        return strategies.candidate_floor(status, spec)
    return None


def _source(
    snap: Snapshot, spec: VisionModelSpec, desired_revision: str, rev: Revision
) -> tuple[ModelSource, Serving] | None:
    if rev.revision == desired_revision:
        return spec.model, spec.serving
    cm = snap.get("ConfigMap", vocabulary.variant_name(snap.name, rev.revision))
    record = (cm or {}).get("data", {}).get(REVISION_KEY)
    if not record:
        return None
    try:
        return parse_revision_record(record)
    except ValueError:
        return None


def build(
    snap: Snapshot, spec: VisionModelSpec, status: VisionModelStatus, *, desired_revision: str, settings: Settings
) -> Desired:
    owner = Owner(name=snap.name, namespace=snap.namespace, uid=snap.uid)
    out = Desired()
    backends: list[Backend] = []
    for role, rev in _named(status):
        out.kept_revisions.add(rev.revision)
        source = _source(snap, spec, desired_revision, rev)
        if source is None:
            out.problems.append(f"{role} revision {rev.revision}: its record (ConfigMap) is gone; left as it is")
            continue
        model, serving = source
        weight = {"stable": status.weights.stable, "candidate": status.weights.candidate}.get(role, 0)
        mirror = status.mirror_percent if role == "candidate" else 0
        variant = Variant(
            role, rev.revision, model, serving, weight=weight, mirror_percent=mirror, floor=_floor(status, spec, role)
        )
        out.variants.append(variant)
        out.up.extend(serving_objects(owner, variant, spec.autoscaling))
        archive = parse_storage_uri(model.storage_uri)
        if isinstance(archive, ClaimArchive):
            out.claims.add(archive.claim)
        if role == "stable" or role == "candidate":
            backends.append(
                Backend(
                    variant=role,
                    revision=rev.revision,
                    version=rev.version,
                    service=vocabulary.variant_name(snap.name, rev.revision),
                    port=INFERENCE_PORT,
                    weight=weight,
                )
            )
    if backends:
        plan = TrafficPlan(
            namespace=snap.namespace,
            visionmodel=snap.name,
            model=spec.model.name,
            backends=tuple(backends),
            metadata=functools.partial(metadata, owner),
            front_service=functools.partial(front_service, owner),
            mirror_percent=status.mirror_percent,
            paired_percent=spec.rollout.analysis.gates.agreement.paired_percent
            if spec.rollout.analysis.gates.agreement
            else 0,
            sticky_header=spec.traffic.sticky_header or DEFAULT_STICKY_HEADER,
            router_image=settings.router_image,
            pod_security_context=pod_security_context(),
            container_security_context=container_security_context(),
            gateway_api=spec.traffic.gateway_api,
        )
        try:
            out.traffic = provider(spec.traffic.provider).objects(plan)
        except ValueError as exc:  # e.g. weights that do not sum to 100 while a revision's record is gone
            out.traffic_held = True
            out.problems.append(f"traffic left as it is: {exc}")
    return out

"""One reconcile tick of one VisionModel, in a fixed order:

    read snapshot → desired revision → observed (ready pods per revision, traffic provider, failed pods)
    → `step` (measure, if an analysis is due, then decide)
    → workloads up (stable, candidate, retiring) → traffic → workloads down → write status once → operator
    metrics → events

Objects whose live copy already holds every field we set are not applied, and an unchanged status is not written:
a tick of an unchanged VisionModel writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from visionroll import observability, vocabulary
from visionroll.api import Revision, VisionModelSpec, VisionModelStatus, parse_duration
from visionroll.api.refusals import describe
from visionroll.errors import ApiRejected, InvalidSpec
from visionroll.k8s import OWNED, Kube, Obj, up_to_date
from visionroll.metrics import MetricsProvider
from visionroll.reconcile import desired as desired_objects
from visionroll.reconcile import report, snapshot
from visionroll.reconcile.pods import creation_failures, failure_reasons, unscheduled_reasons
from visionroll.rollout import step
from visionroll.rollout.types import Context, Controls, Event, Measurements, Observed, spent_annotations
from visionroll.settings import Settings
from visionroll.workloads import naming

log = logging.getLogger(__name__)
COMPONENT = "visionroll"


@dataclass(frozen=True)
class TickResult:
    requeue_after: float | None = None
    applied: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    status_written: bool = False
    events: tuple[Event, ...] = field(default=())
    gone: bool = False
    """The VisionModel no longer exists (or is being deleted): nothing to schedule."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _describe(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _status_of(vm: Obj) -> VisionModelStatus:
    try:
        return VisionModelStatus.model_validate(vm.get("status") or {})
    except ValidationError:
        log.warning("status of %s is not readable; starting from an empty status", vm["metadata"]["name"])
        return VisionModelStatus()


def _wire(status: VisionModelStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, mode="json")


def _observed(snap: snapshot.Snapshot, spec: VisionModelSpec, status: VisionModelStatus, desired: Revision) -> Observed:
    revisions = {r.revision for r in (status.stable, status.candidate, desired) if r is not None}
    return Observed(
        ready={rev: report.ready_replicas(snap, rev) for rev in revisions},
        traffic_ready=report.traffic_ready(snap, spec),
        failures=failure_reasons(snap.pods),
        unscheduled=unscheduled_reasons(snap.pods),
    )


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        settings: Settings,
        *,
        measurements: MetricsProvider | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.measurements = measurements
        self.clock = clock

    def tick(self, namespace: str, name: str) -> TickResult:
        started = time.monotonic()
        try:
            result = self._tick(namespace, name)
        except Exception:
            observability.record_tick(ok=False, seconds=time.monotonic() - started)
            raise
        observability.record_tick(ok=True, seconds=time.monotonic() - started)
        return result

    def _measure(self, snap: snapshot.Snapshot, ctx: Context) -> Measurements | None:
        if self.measurements is None:
            return None
        return self.measurements.measure(
            namespace=snap.namespace, visionmodel=snap.name, spec=ctx.spec, status=ctx.status, now=ctx.now
        )

    def _tick(self, namespace: str, name: str) -> TickResult:
        snap = snapshot.read(self.kube, namespace, name)
        if snap is None:
            observability.forget(namespace, name)
            return TickResult(gone=True)
        vm = snap.visionmodel
        try:
            spec = VisionModelSpec.model_validate(vm.get("spec") or {})
        except ValidationError as exc:
            reason = describe(exc)
            self._refuse_spec(vm, reason)
            raise InvalidSpec(f"{namespace}/{name}: {reason}") from exc
        previous = _status_of(vm)
        now = self.clock()
        generation = int(vm["metadata"].get("generation") or 0)
        annotations = vm["metadata"].get("annotations") or {}
        desired = Revision(
            version=spec.model.version,
            revision=naming.revision(spec.model, spec.serving),
            storage_uri=spec.model.storage_uri,
        )
        ctx = Context(
            spec=spec,
            status=previous,
            generation=generation,
            desired=desired,
            now=now,
            controls=Controls.from_annotations(annotations),
            observed=_observed(snap, spec, previous, desired),
        )
        verdict = step(ctx, lambda c: self._measure(snap, c))
        want = desired_objects.build(
            snap, spec, verdict.status, desired_revision=desired.revision, settings=self.settings
        )
        for claim in snapshot.missing_claims(self.kube, namespace, want.claims):
            want.problems.append(f"PersistentVolumeClaim {claim} (in spec.model.storageUri) does not exist")
        applied: list[str] = []
        deleted: list[str] = []
        refused: ApiRejected | None = None
        try:
            applied += self._apply(snap, want.up)
            applied += self._apply(snap, want.traffic)
            deleted += self._down(snap, want)
        except ApiRejected as exc:  # reported as Degraded, then raised: the runner holds it until something changes
            refused = exc
            want.problems.append(f"the API server refused an object: {exc}")
        status = report.finish(
            snap,
            spec,
            verdict.status,
            generation=generation,
            problems=want.problems,
            refused=refused is not None,
            now=now,
            uncreatable=creation_failures(o for (kind, _), o in snap.owned.items() if kind == "Deployment"),
        )
        written = False
        if _wire(status) != _wire(previous):
            self.kube.write_status(namespace, name, _wire(status))
            written = True
        # Metrics only once the status that records the decision is written: a tick that fails before (and is
        # retried, reaching the same decision) counts its outcome once.
        observability.record_decision(
            namespace,
            name,
            verdict,
            previous=previous,
            progress_deadline_seconds=parse_duration(spec.rollout.progress_deadline),
        )
        # Only once the status saying what was done is written: a promote/abort is consumed, never lost.
        spent = spent_annotations(annotations, status)
        if spent:
            self.kube.remove_annotations(namespace, name, spent)
        events = list(verdict.events) + self._own_events(previous, status, applied, deleted)
        for event in events:
            self._post(vm, event)
        if refused is not None:
            raise refused
        return TickResult(
            requeue_after=verdict.requeue_after,
            applied=tuple(applied),
            deleted=tuple(deleted),
            status_written=written,
            events=tuple(events),
        )

    def _apply(self, snap: snapshot.Snapshot, objects: list[Obj]) -> list[str]:
        changed = []
        for obj in objects:
            live = snap.get(obj["kind"], obj["metadata"]["name"])
            if up_to_date(live, obj):
                continue
            snap.owned[snapshot.key_of(obj)] = self.kube.apply(obj)
            changed.append(_describe(obj))
        return changed

    def _down(self, snap: snapshot.Snapshot, want: desired_objects.Desired) -> list[str]:
        """Delete owned objects nothing wants any more; objects of revisions still named in status are kept."""
        wanted = {snapshot.key_of(o) for o in want.up + want.traffic}
        gone = []
        for kind in OWNED:
            for key, obj in list(snap.owned.items()):
                if key[0] != kind.kind or key in wanted:
                    continue
                revision = obj["metadata"].get("labels", {}).get(vocabulary.LABEL_REVISION)
                if revision and revision in want.kept_revisions:
                    continue
                if not revision and (want.traffic_held or (not want.traffic and not want.up)):
                    continue  # traffic held, or nothing is decided yet (no stable): keep the traffic objects
                self.kube.delete(kind, obj)
                del snap.owned[key]
                gone.append(f"{key[0]}/{key[1]}")
        return gone

    def _own_events(
        self, previous: VisionModelStatus, status: VisionModelStatus, applied: list[str], deleted: list[str]
    ) -> list[Event]:
        out: list[Event] = []
        if applied:
            out.append(Event("Normal", "Applied", "applied " + ", ".join(applied)))
        if deleted:
            out.append(Event("Normal", "Deleted", "deleted " + ", ".join(deleted)))
        before = {c.type: c for c in previous.conditions}
        for cond in status.conditions:
            old = before.get(cond.type)
            if old is not None and old.status == cond.status and old.reason == cond.reason:
                continue
            if old is None and cond.status == "False":
                continue  # a first "not ready yet / not progressing / not degraded" is no news
            warn = (cond.type == "Degraded" and cond.status == "True") or (
                cond.type == "Ready" and cond.status == "False" and cond.reason in ("InvalidReference", "ApplyFailed")
            )
            out.append(
                Event(
                    "Warning" if warn else "Normal",
                    f"{cond.type}{cond.status}",
                    f"{cond.type}={cond.status} ({cond.reason}) {cond.message}".strip(),
                )
            )
        return out

    def _refuse_spec(self, vm: Obj, reason: str) -> None:
        """A stored spec that does not validate: Degraded=True naming the fields, and one Warning Event."""
        previous = _status_of(vm)
        generation = int(vm["metadata"].get("generation") or 0)
        status = report.invalid_spec(previous, reason, generation=generation, now=self.clock())
        if _wire(status) != _wire(previous):
            self.kube.write_status(vm["metadata"]["namespace"], vm["metadata"]["name"], _wire(status))
        for event in self._own_events(previous, status, [], []):
            self._post(vm, event)

    def _post(self, vm: Obj, event: Event) -> None:
        try:
            self.kube.post_event(vm, type=event.type, reason=event.reason, message=event.message, component=COMPONENT)
        except Exception as exc:  # an Event is worth a log line, never a failed tick
            log.warning("could not post event %s: %s", event.reason, exc)

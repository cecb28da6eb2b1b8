"""What one tick reads before deciding anything: the VisionModel and every object it owns.

Owned objects are found by the model label and kept only when their controller owner reference is this
VisionModel's uid (a same-named VisionModel recreated in between does not adopt the old one's objects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from visionroll import vocabulary
from visionroll.k8s import POD, PVC, VISIONMODEL, Kube, Obj


def key_of(obj: Obj) -> tuple[str, str]:
    return str(obj["kind"]), str(obj["metadata"]["name"])


@dataclass
class Snapshot:
    visionmodel: Obj
    owned: dict[tuple[str, str], Obj] = field(default_factory=dict)
    pods: list[Obj] = field(default_factory=list)
    """Serving pods of the VisionModel, read only while a candidate is in flight (to see why it cannot start)."""

    @property
    def namespace(self) -> str:
        return str(self.visionmodel["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.visionmodel["metadata"]["name"])

    @property
    def uid(self) -> str:
        return str(self.visionmodel["metadata"]["uid"])

    def get(self, kind: str, name: str) -> Obj | None:
        return self.owned.get((kind, name))


def _owned_by(obj: Obj, uid: str) -> bool:
    refs: list[dict[str, Any]] = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def read(kube: Kube, namespace: str, name: str) -> Snapshot | None:
    """None when the VisionModel is gone or being deleted (the garbage collector removes what it owned)."""
    vm = kube.get(VISIONMODEL, namespace, name)
    if vm is None or vm["metadata"].get("deletionTimestamp"):
        return None
    snap = Snapshot(visionmodel=vm)
    selector = f"{vocabulary.LABEL_MODEL}={name},{vocabulary.OWNED_SELECTOR}"
    for obj in kube.owned(namespace, name, selector=selector):
        if _owned_by(obj, snap.uid):
            snap.owned[key_of(obj)] = obj
    if (vm.get("status") or {}).get("candidate"):
        snap.pods = kube.list_kind(POD, namespace, selector=selector)
    return snap


def missing_claims(kube: Kube, namespace: str, claims: set[str]) -> list[str]:
    return sorted(c for c in claims if kube.get(PVC, namespace, c) is None)

"""Who owns an object and how it is labelled: the metadata every built object carries.

Owner references make the garbage collector delete everything when the VisionModel goes; the labels let the operator
watch what it owns (`app.kubernetes.io/managed-by=visionroll`) and find a revision's objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from visionroll import vocabulary
from visionroll.api import API_VERSION, KIND

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Owner:
    """The VisionModel that owns the objects being built."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        # controller=True: one controller per object; blockOwnerDeletion keeps foreground deletion ordered.
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def metadata(
    owner: Owner, name: str, *, revision: str | None = None, extra_labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """Name, namespace, the contract labels and the owner reference."""
    labels = vocabulary.labels(owner.name, revision)
    labels.update(extra_labels or {})
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels,
        "ownerReferences": [owner.reference()],
    }


def manifest(api_version: str, kind: str, meta: dict[str, Any], **body: Any) -> Manifest:
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}

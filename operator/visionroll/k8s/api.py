"""The operator's verbs on the API server: read, server-side apply (field manager "visionroll"), delete, write a
VisionModel's status, post an Event. Everything that changes the cluster goes through here."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from visionroll.errors import ApiRejected
from visionroll.k8s.cache import OwnedCache
from visionroll.k8s.client import APPLY, FIELD_MANAGER, MERGE, Client, Conflict, NotFound
from visionroll.k8s.resources import EVENT, OWNED, VISIONMODEL, Kind, kind_of

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class Kube:
    def __init__(self, client: Client, *, cache: OwnedCache | None = None) -> None:
        self.client = client
        self.cache = cache

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        try:
            return self.client.request("GET", kind.path(namespace, name))
        except NotFound:
            return None

    def list_kind(self, kind: Kind, namespace: str, *, selector: str) -> list[Obj]:
        """Objects of a kind matching a label selector; an API the cluster does not serve lists as empty."""
        try:
            answer = self.client.request("GET", kind.path(namespace), query={"labelSelector": selector})
        except NotFound:
            return []
        items: list[Obj] = answer.get("items", [])
        for item in items:  # list items carry no kind; callers compare whole objects
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items

    def owned(self, namespace: str, visionmodel: str, *, selector: str) -> list[Obj]:
        """Every object of the owned kinds labelled for this VisionModel: from the watch-fed cache while it is
        fresh, else listed (which refreshes the cache)."""
        if self.cache is not None:
            cached = self.cache.fresh(namespace, visionmodel)
            if cached is not None:
                return cached
        objects = [obj for kind in OWNED for obj in self.list_kind(kind, namespace, selector=selector)]
        if self.cache is not None:
            self.cache.replace(namespace, visionmodel, objects)
        return objects

    def apply(self, obj: Obj) -> Obj:
        """Server-side apply; `force` because these objects are ours (a hand edit is reverted, by design)."""
        meta = obj["metadata"]
        kind = kind_of(obj)
        try:
            answer = self.client.request(
                "PATCH",
                kind.path(meta["namespace"], meta["name"]),
                query={"fieldManager": FIELD_MANAGER, "force": "true"},
                body=obj,
                content_type=APPLY,
            )
        except NotFound as exc:  # SSA creates objects, so a 404 means the kind itself is not served
            raise ApiRejected(f"{kind.kind} ({kind.api_version}) is not served here (CRD not installed?)") from exc
        if self.cache is not None:
            self.cache.put(answer)
        return answer

    def delete(self, kind: Kind, obj: Obj) -> bool:
        """Delete a live object (background propagation); False when it was already gone. Its uid guards against a
        same-name object created since it was read."""
        meta = obj["metadata"]
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if meta.get("uid"):
            body["preconditions"] = {"uid": meta["uid"]}
        if self.cache is not None:
            self.cache.drop(obj)
        try:
            self.client.request("DELETE", kind.path(meta["namespace"], meta["name"]), body=body)
        except (NotFound, Conflict):
            return False
        return True

    def write_status(self, namespace: str, name: str, status: Obj) -> Obj:
        """The whole status in one merge patch (None values remove fields)."""
        return self.client.request(
            "PATCH",
            VISIONMODEL.path(namespace, name, subresource="status"),
            body={"status": status},
            content_type=MERGE,
        )

    def remove_annotations(self, namespace: str, name: str, keys: tuple[str, ...]) -> None:
        """One merge patch of the VisionModel's metadata."""
        self.client.request(
            "PATCH",
            VISIONMODEL.path(namespace, name),
            body={"metadata": {"annotations": dict.fromkeys(keys)}},
            content_type=MERGE,
        )

    def post_event(self, involved: Obj, *, type: str, reason: str, message: str, component: str) -> None:
        meta = involved["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self.client.request("POST", EVENT.path(meta["namespace"]), body=event)

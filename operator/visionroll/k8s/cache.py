"""What the operator owns, as the watch streams last reported it: so a tick that changes nothing reads nothing.

kopf already watches every owned kind (server-side label selector `managed-by=visionroll`); its events feed this
cache, and so do the operator's own applies and deletes. A VisionModel's entry is trusted for `max_age` seconds
after a full LIST; after that the next tick lists again. That bounds what a missed watch event (a stream that
broke and relisted without reporting a deletion) can hide to one resync period.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from visionroll.vocabulary import LABEL_MODEL

Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (kind, name)
ModelKey = tuple[str, str]  # (namespace, visionmodel)


def _rv(obj: Obj) -> int | None:
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return None


def _slim(obj: Obj) -> Obj:
    # managedFields are the biggest part of most objects and the tick never reads them.
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


class OwnedCache:
    def __init__(self, *, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._objects: dict[ModelKey, dict[ObjKey, Obj]] = {}
        self._listed_at: dict[ModelKey, float] = {}

    @staticmethod
    def _keys(obj: Obj) -> tuple[ModelKey, ObjKey] | None:
        meta = obj.get("metadata", {})
        model = (meta.get("labels") or {}).get(LABEL_MODEL)
        if not model or "kind" not in obj:
            return None
        return (str(meta.get("namespace")), str(model)), (str(obj["kind"]), str(meta.get("name")))

    def _store(self, bucket: dict[ObjKey, Obj], key: ObjKey, obj: Obj) -> None:
        old = bucket.get(key)
        new_rv, old_rv = _rv(obj), _rv(old) if old is not None else None
        if old_rv is not None and new_rv is not None and new_rv < old_rv:
            return  # an older event arriving after a newer apply answer
        bucket[key] = _slim(obj)

    def put(self, obj: Obj) -> None:
        keys = self._keys(obj)
        if keys is None:
            return
        with self._lock:
            self._store(self._objects.setdefault(keys[0], {}), keys[1], obj)

    def drop(self, obj: Obj) -> None:
        keys = self._keys(obj)
        if keys is None:
            return
        with self._lock:
            self._objects.get(keys[0], {}).pop(keys[1], None)

    def replace(self, namespace: str, visionmodel: str, objects: list[Obj]) -> None:
        """A full LIST's answer: the entry becomes exactly that (newer cached copies of the same objects kept)."""
        model = (namespace, visionmodel)
        with self._lock:
            old = self._objects.get(model, {})
            bucket: dict[ObjKey, Obj] = {}
            for obj in objects:
                keys = self._keys(obj)
                if keys is None:
                    continue
                if keys[1] in old:
                    bucket[keys[1]] = old[keys[1]]
                self._store(bucket, keys[1], obj)
            self._objects[model] = bucket
            self._listed_at[model] = self.clock()

    def fresh(self, namespace: str, visionmodel: str) -> list[Obj] | None:
        """The cached objects, or None when they were never listed or were listed more than `max_age` ago."""
        model = (namespace, visionmodel)
        with self._lock:
            listed = self._listed_at.get(model)
            if listed is None or self.clock() - listed > self.max_age:
                return None
            return list(self._objects.get(model, {}).values())

    def forget(self, namespace: str, visionmodel: str) -> None:
        with self._lock:
            self._objects.pop((namespace, visionmodel), None)
            self._listed_at.pop((namespace, visionmodel), None)

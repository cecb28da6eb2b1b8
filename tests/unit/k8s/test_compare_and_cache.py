"""When an apply is skipped (the live object already holds every field we set), and what the owned-object cache
trusts (newer resourceVersions win; a listing goes stale after max_age)."""

from __future__ import annotations

from typing import Any

import pytest

from visionroll.k8s import OwnedCache, up_to_date

DESIRED: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "digits", "namespace": "ml", "labels": {"a": "b"}},
    "spec": {"selector": {"x": "y"}, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]},
}


def live(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "digits", "namespace": "ml", "labels": {"a": "b", "extra": "x"}, "uid": "u"},
        "spec": {
            "selector": {"x": "y"},
            "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}],
            "clusterIP": "10.0.0.7",
            **spec,
        },
        "status": {},
    }


def test_server_defaults_do_not_count() -> None:
    assert up_to_date(live(), DESIRED)


@pytest.mark.parametrize(
    "edit",
    [
        {"selector": {"x": "z"}},
        {"ports": [{"name": "http", "port": 8081, "targetPort": "http"}]},
        {"ports": []},
    ],
)
def test_a_changed_field_needs_an_apply(edit: dict[str, Any]) -> None:
    assert not up_to_date(live(**edit), DESIRED)


def test_missing_object_needs_an_apply() -> None:
    assert not up_to_date(None, DESIRED)


def test_bools_are_not_ints() -> None:
    assert not up_to_date({**DESIRED, "automount": 1}, {**DESIRED, "automount": True})


def obj(name: str, rv: str, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ml", "resourceVersion": rv, "labels": {"visionroll.io/model": "digits"}}
    return {"kind": "ConfigMap", "metadata": {**meta, "managedFields": [{"manager": "x"}]}, **extra}


def test_cache_is_unknown_until_listed_and_expires() -> None:
    now = [0.0]
    cache = OwnedCache(max_age=10, clock=lambda: now[0])
    cache.put(obj("a", "1"))
    assert cache.fresh("ml", "digits") is None
    cache.replace("ml", "digits", [obj("a", "1")])
    assert [o["metadata"]["name"] for o in cache.fresh("ml", "digits") or []] == ["a"]
    now[0] = 11
    assert cache.fresh("ml", "digits") is None


def test_cache_keeps_the_newer_copy_and_slims_it() -> None:
    cache = OwnedCache(max_age=10, clock=lambda: 0.0)
    cache.replace("ml", "digits", [obj("a", "5", data={"v": "new"})])
    cache.put(obj("a", "3", data={"v": "old"}))  # an older watch event arriving late
    (kept,) = cache.fresh("ml", "digits") or []
    assert kept["data"] == {"v": "new"}
    assert "managedFields" not in kept["metadata"]
    cache.drop(obj("a", "6"))
    assert cache.fresh("ml", "digits") == []

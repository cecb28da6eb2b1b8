"""HPAs scale a candidate with its share of traffic; PDBs never block drains; Services never expose management."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from visionroll.api import Autoscaling, VisionModelSpec
from visionroll.workloads import Owner, Role, Variant, endpoint, front_service, replica_range, serving_objects
from visionroll.workloads.autoscaling import hpa, pdb
from visionroll.workloads.service import variant_service

AUTOSCALING = Autoscaling(min_replicas=2, max_replicas=10)


@pytest.mark.parametrize(
    ("role", "weight", "mirror", "expected"),
    [
        ("stable", 100, 0, (2, 10)),
        ("stable", 75, 0, (2, 10)),  # stable keeps its range through a rollout
        ("candidate", 5, 0, (1, 1)),
        ("candidate", 25, 0, (1, 3)),
        ("candidate", 50, 0, (1, 5)),
        ("candidate", 100, 0, (2, 10)),
        ("candidate", 0, 100, (2, 10)),  # a shadow sees all the traffic, mirrored
        ("candidate", 0, 0, (1, 1)),
        ("retiring", 0, 0, (1, 1)),
    ],
)
def test_replica_range(
    make_spec: Callable[..., VisionModelSpec], role: Role, weight: int, mirror: int, expected: tuple[int, int]
) -> None:
    spec = make_spec()
    variant = Variant(role, "r-000000", spec.model, spec.serving, weight=weight, mirror_percent=mirror)
    assert replica_range(AUTOSCALING, variant) == expected


@pytest.mark.parametrize(
    ("role", "weight", "floor", "expected"),
    [
        ("stable", 50, 6, (6, 10)),  # held at what it had when the rollout began: a rollback takes it all back
        ("stable", 50, 40, (10, 10)),  # never beyond maxReplicas
        ("candidate", 5, 4, (4, 4)),  # a handover: scaled to carry all the traffic before it gets it
        ("candidate", 50, 4, (4, 5)),
    ],
)
def test_replica_floor(
    make_spec: Callable[..., VisionModelSpec], role: Role, weight: int, floor: int, expected: tuple[int, int]
) -> None:
    spec = make_spec()
    variant = Variant(role, "r-000000", spec.model, spec.serving, weight=weight, floor=floor)
    assert replica_range(AUTOSCALING, variant) == expected


def test_hpa_cpu_only(owner: Owner, stable: Variant) -> None:
    h = hpa(owner, stable, AUTOSCALING)
    assert h["apiVersion"] == "autoscaling/v2"
    assert h["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"digits-{stable.revision}",
    }
    assert h["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    ]


def test_pdb_allows_one_disruption(owner: Owner, stable: Variant) -> None:
    p = pdb(owner, stable)
    assert p["spec"]["maxUnavailable"] == 1
    assert p["spec"]["selector"]["matchLabels"] == {
        "visionroll.io/model": "digits",
        "visionroll.io/revision": stable.revision,
    }


def test_variant_service_has_no_management_port(owner: Owner, stable: Variant) -> None:
    ports = variant_service(owner, stable)["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [("inference", 8080), ("metrics", 8082)]
    assert all(p["port"] != 8081 for p in ports)


def test_front_service_and_endpoint(owner: Owner) -> None:
    svc = front_service(owner, selector={"a": "b"}, target_port="http")
    assert svc["metadata"]["name"] == "digits"
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    assert endpoint("digits", "ml", "digits") == "http://digits.ml.svc:8080/predictions/digits"


def test_serving_objects_order(owner: Owner, stable: Variant) -> None:
    kinds = [o["kind"] for o in serving_objects(owner, stable, AUTOSCALING)]
    assert kinds == ["ConfigMap", "Service", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    assert all(o["metadata"]["namespace"] == "ml" for o in serving_objects(owner, stable, AUTOSCALING))

"""Spec changes reach the objects, hand edits and deletions are reverted, invalid references degrade (no crash)."""

from __future__ import annotations

import json
from typing import Any

from localkube.operator_process import OperatorProcess, provide_data_plane
from support.kube import Kube, revision_of
from visionroll.api.pods import SERVING_IMAGE
from visionroll.traffic.router import SERVICE_ACCOUNT


def test_spec_change_updates_the_objects(kube: Kube, operator: OperatorProcess) -> None:
    kube.apply(kube.visionmodel("digits"))
    old = revision_of(kube.wait("Ready", lambda: kube.ready("digits")))

    changed = kube.visionmodel(
        "digits",
        serving={"batchSize": 16, "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}},
        autoscaling={"minReplicas": 2, "maxReplicas": 6},
    )
    kube.apply(changed)
    vm = kube.wait("the new revision Ready", lambda: (v := kube.ready("digits")) and revision_of(v) != old and v)
    new = revision_of(vm)
    assert vm["status"]["stable"]["revision"] == new

    dep = kube.must("deployment", f"digits-{new}")
    resources = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "250m", "memory": "512Mi"}
    assert '"batchSize": 16' in kube.must("configmap", f"digits-{new}")["data"]["config.properties"]
    hpa = kube.must("hpa", f"digits-{new}")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    routing = json.loads(kube.must("configmap", "digits-routing")["data"]["router.json"])
    assert [(v["name"], v["revision"], v["weight"]) for v in routing["variants"]] == [("stable", new, 100)]
    # the former stable drains, then its objects go
    kube.wait("the old revision removed", lambda: kube.get("deployment", f"digits-{old}") is None or None, timeout=90)
    for kind in ("service", "configmap", "hpa", "pdb"):
        assert kube.get(kind, f"digits-{old}") is None

    # autoscaling alone is not a new revision: the HPA changes in place
    kube.apply(kube.visionmodel("digits", **{**changed["spec"], "autoscaling": {"minReplicas": 1, "maxReplicas": 9}}))
    kube.wait(
        "HPA maxReplicas 9",
        lambda: (kube.must("hpa", f"digits-{new}")["spec"]["maxReplicas"] == 9) or None,
    )
    assert kube.get("deployment", f"digits-{new}") is not None


def test_hand_edits_and_deletions_are_reverted(kube: Kube, operator: OperatorProcess) -> None:
    kube.apply(kube.visionmodel("digits"))
    rev = revision_of(kube.wait("Ready", lambda: kube.ready("digits")))
    name = f"digits-{rev}"

    patch = {"spec": {"template": {"spec": {"containers": [{"name": "torchserve", "image": "evil:latest"}]}}}}
    kube.kubectl("patch", "deployment", name, "--type=strategic", "-p", json.dumps(patch))
    kube.wait(
        "image restored",
        lambda: (
            kube.must("deployment", name)["spec"]["template"]["spec"]["containers"][0]["image"] == SERVING_IMAGE or None
        ),
    )

    kube.kubectl(
        "patch", "configmap", "digits-routing", "--type=merge", "-p", json.dumps({"data": {"router.json": "{}"}})
    )
    kube.wait(
        "routing restored",
        lambda: json.loads(kube.must("configmap", "digits-routing")["data"]["router.json"]).get("variants") or None,
    )

    kube.kubectl("delete", "service", name, "--wait=true")
    kube.kubectl("delete", "deployment", "digits-router", "--wait=true")
    kube.wait("service recreated", lambda: kube.get("service", name))
    kube.wait("router recreated", lambda: kube.get("deployment", "digits-router"))
    assert operator.healthy()


def test_missing_claim_degrades_with_a_message(kube: Kube, operator: OperatorProcess) -> None:
    kube.apply(kube.visionmodel("broken", storage_uri="pvc://no-such-claim/digits/digits-1.0.mar"))
    kube.apply(kube.visionmodel("healthy"))

    def degraded() -> dict[str, Any] | None:
        cond = kube.condition(kube.get("visionmodel", "broken"), "Degraded")
        return cond if cond and cond["status"] == "True" else None

    cond = kube.wait("broken Degraded", degraded)
    assert cond["reason"] == "InvalidReference"
    assert "PersistentVolumeClaim no-such-claim" in cond["message"]
    ready = kube.condition(kube.get("visionmodel", "broken"), "Ready")
    assert ready is not None and ready["status"] == "False"
    events = kube.kubectl("get", "events", "--field-selector", "involvedObject.name=broken", "-o", "json")
    assert any(e["type"] == "Warning" and "no-such-claim" in e["message"] for e in json.loads(events)["items"])

    kube.wait("the healthy one Ready regardless", lambda: kube.ready("healthy"))
    assert operator.healthy()

    # the claim appears: the VisionModel heals without anyone touching it
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "no-such-claim"},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    kube.apply(claim)
    kube.wait(
        "Degraded cleared",
        lambda: (c := kube.condition(kube.get("visionmodel", "broken"), "Degraded")) and c["status"] == "False",
        timeout=30,
    )


def test_a_kind_the_cluster_does_not_serve_degrades_with_a_message(kube: Kube, operator: OperatorProcess) -> None:
    """Gateway API traffic on a cluster without the Gateway API CRDs: Degraded, the workloads still run."""
    traffic = {"provider": "gateway-api", "gatewayApi": {"parentRefs": [{"name": "public"}]}}
    kube.apply(kube.visionmodel("gw", traffic=traffic))

    def degraded() -> dict[str, Any] | None:
        cond = kube.condition(kube.get("visionmodel", "gw"), "Degraded")
        return cond if cond and cond["status"] == "True" else None

    cond = kube.wait("gw Degraded", degraded)
    assert cond["reason"] == "ApplyFailed"
    assert "HTTPRoute" in cond["message"] and "not served" in cond["message"]
    vm = kube.must("visionmodel", "gw")
    assert kube.get("deployment", f"gw-{revision_of(vm)}") is not None  # workloads were applied before traffic
    assert operator.healthy()


def test_a_namespace_without_the_router_identity_degrades_with_a_message(kube: Kube, operator: OperatorProcess) -> None:
    """A namespace the chart does not serve (not in `dataPlane.namespaces`) has no ServiceAccount `visionroll-router`,
    so the API server refuses the router's pods: the status says so (not only that nothing is ready), and it heals by
    itself once the ServiceAccount is there."""
    kube.kubectl("delete", "serviceaccount", SERVICE_ACCOUNT, "--wait=true")
    kube.apply(kube.visionmodel("orphan"))

    def degraded() -> dict[str, Any] | None:
        cond = kube.condition(kube.get("visionmodel", "orphan"), "Degraded")
        return cond if cond and cond["status"] == "True" else None

    cond = kube.wait("orphan Degraded", degraded, timeout=60)
    assert cond["reason"] == "PodsNotCreated"
    assert "Deployment orphan-router cannot create pods" in cond["message"]
    assert SERVICE_ACCOUNT in cond["message"]
    ready = kube.condition(kube.get("visionmodel", "orphan"), "Ready")
    assert ready is not None and ready["status"] == "False" and ready["reason"] == "PodsNotCreated"

    provide_data_plane(operator.kubeconfig, kube.namespace)
    kube.wait("orphan Ready once the ServiceAccount exists", lambda: kube.ready("orphan"), timeout=120)
    cond = kube.condition(kube.get("visionmodel", "orphan"), "Degraded")
    assert cond is not None and cond["status"] == "False"
    assert operator.healthy()

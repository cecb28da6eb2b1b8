"""The chart's data-plane objects (templates/dataplane.yaml, admissionpolicy.yaml) against the pods the operator really
builds: the router's ServiceAccount and Role in each data-plane namespace, a NetworkPolicy whose selectors pick the
TorchServe pods and admit only the router pods (and the scrapers) on the right ports, and the admission policies."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from visionroll import vocabulary
from visionroll.api import VisionModelSpec
from visionroll.traffic import Backend, TrafficPlan, provider
from visionroll.traffic.router import SERVICE_ACCOUNT
from visionroll.workloads import Owner, Variant, front_service, naming, serving_objects
from visionroll.workloads.meta import metadata
from visionroll.workloads.security import container_security_context, pod_security_context

VAP_API = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
OWNER = Owner(name="digits", namespace="ml", uid="u-1")


def _pods() -> dict[str, dict[str, Any]]:
    """Pod templates of what the operator builds for a VisionModel: TorchServe ('serving') and the router."""
    spec = VisionModelSpec.model_validate(
        {
            "model": {"name": "digits", "version": "1.0", "storageUri": "https://m.example.com/d.mar"},
            "rollout": {"strategy": "immediate"},
        }
    )
    rev = naming.revision(spec.model, spec.serving)
    variant = Variant("stable", rev, spec.model, spec.serving, weight=100)
    (serving,) = [o for o in serving_objects(OWNER, variant, spec.autoscaling) if o["kind"] == "Deployment"]
    plan = TrafficPlan(
        namespace=OWNER.namespace,
        visionmodel=OWNER.name,
        model="digits",
        backends=(Backend("stable", rev, "1.0", vocabulary.variant_name("digits", rev), 8080, 100),),
        metadata=functools.partial(metadata, OWNER),
        front_service=functools.partial(front_service, OWNER),
        mirror_percent=0,
        router_image="router:test",
        pod_security_context=pod_security_context(),
        container_security_context=container_security_context(),
    )
    (router,) = [o for o in provider("router").objects(plan) if o["kind"] == "Deployment"]
    return {"serving": serving["spec"]["template"], "router": router["spec"]["template"]}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # the chart uses matchLabels only
    return selector.get("matchLabels", {}).items() <= labels.items()


def _by(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_no_data_plane_namespace_no_data_plane_objects(render):
    objects = render()
    assert not _by(objects, "NetworkPolicy")
    assert [o["metadata"]["name"] for o in _by(objects, "ServiceAccount")] == ["vr-visionroll"]


@pytest.mark.parametrize(
    ("sets", "namespaces"),
    [
        (("dataPlane.namespaces={ml,demo}",), ["ml", "demo"]),
        (("watchNamespace=ml",), ["ml"]),
        (("watchNamespace=ml", "dataPlane.namespaces={ml}"), ["ml"]),
        (("rbac.namespaced=true",), ["visionroll-system"]),
    ],
)
def test_each_data_plane_namespace_gets_the_routers_identity_and_the_policy(render, sets, namespaces):
    objects = render(*sets)
    routers = [o for o in _by(objects, "ServiceAccount") if o["metadata"]["name"] == SERVICE_ACCOUNT]
    assert [o["metadata"]["namespace"] for o in routers] == namespaces
    assert all(o["automountServiceAccountToken"] is False for o in routers)  # the router's pod spec asks for it
    roles = [o for o in _by(objects, "Role") if o["metadata"]["name"] == "vr-visionroll-router"]
    assert [o["metadata"]["namespace"] for o in roles] == namespaces
    for role in roles:
        assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
    bindings = [o for o in _by(objects, "RoleBinding") if o["metadata"]["name"] == "vr-visionroll-router"]
    for binding in bindings:
        ns = binding["metadata"]["namespace"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ns}]
        assert binding["roleRef"]["kind"] == "Role"
    assert [o["metadata"]["namespace"] for o in _by(objects, "NetworkPolicy")] == namespaces


def test_the_network_policy_admits_only_routers_on_inference_and_scrapers_on_metrics(render):
    (policy,) = _by(render("dataPlane.namespaces={ml}"), "NetworkPolicy")
    pods = _pods()
    serving, router = pods["serving"]["metadata"]["labels"], pods["router"]["metadata"]["labels"]
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    assert _selects(spec["podSelector"], serving) and not _selects(spec["podSelector"], router)
    inference, metrics = spec["ingress"]
    # No rule without `from` (that would admit every source), and no namespaceSelector on the router peer: routers
    # of other namespaces are not admitted.
    (router_peer,) = inference["from"]
    assert set(router_peer) == {"podSelector"}
    assert _selects(router_peer["podSelector"], router) and not _selects(router_peer["podSelector"], serving)
    # Ports by name, as the TorchServe container names them; the management port has none and is never admitted.
    ports = {p["name"]: p["containerPort"] for p in pods["serving"]["spec"]["containers"][0]["ports"]}
    assert [p["port"] for p in inference["ports"]] == ["inference"] and "inference" in ports
    assert [p["port"] for p in metrics["ports"]] == ["metrics"] and "metrics" in ports
    assert 8081 not in ports.values()
    assert metrics["from"] == [
        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
    ]


def test_no_scrapers_renders_no_metrics_rule_and_extra_inference_peers_are_added(render):
    (policy,) = _by(
        render(
            "dataPlane.namespaces={ml}",
            "networkPolicy.metricsFrom=null",
            "networkPolicy.inferenceFrom[0].namespaceSelector.matchLabels.gateway=public",
        ),
        "NetworkPolicy",
    )
    (inference,) = policy["spec"]["ingress"]
    assert inference["from"][1] == {"namespaceSelector": {"matchLabels": {"gateway": "public"}}}
    assert not _by(render("dataPlane.namespaces={ml}", "networkPolicy.enabled=false"), "NetworkPolicy")


def test_admission_policies_follow_the_cluster_and_name_the_operator(render):
    assert not _by(render(), "ValidatingAdmissionPolicy")
    objects = render(api_versions=(VAP_API,))
    policies = {o["metadata"]["name"]: o for o in _by(objects, "ValidatingAdmissionPolicy")}
    bindings = {o["metadata"]["name"]: o for o in _by(objects, "ValidatingAdmissionPolicyBinding")}
    assert set(policies) == set(bindings) == {"vr-visionroll-operator-writes", "vr-visionroll-model-digest"}
    (condition,) = policies["vr-visionroll-operator-writes"]["spec"]["matchConditions"]
    assert (
        condition["expression"]
        == 'request.userInfo.username == "system:serviceaccount:visionroll-system:vr-visionroll"'
    )
    assert bindings["vr-visionroll-operator-writes"]["spec"]["validationActions"] == ["Deny"]
    assert bindings["vr-visionroll-model-digest"]["spec"]["validationActions"] == ["Warn"]
    assert not _by(render("admissionPolicy.enabled=false", api_versions=(VAP_API,)), "ValidatingAdmissionPolicy")

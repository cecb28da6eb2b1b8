"""Traffic providers: the router's objects and router.json, the Gateway API HTTPRoute, the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from visionroll import vocabulary
from visionroll.api.spec import GatewayApi, ParentRef
from visionroll.errors import UnknownProvider
from visionroll.traffic import Backend, TrafficPlan, provider
from visionroll.traffic.router import SERVICE_ACCOUNT, routing_config

STABLE = Backend("stable", "1-0-ab12cd", "1.0", "digits-1-0-ab12cd", 8080, 75)
CANDIDATE = Backend("candidate", "2-0-ef34aa", "2.0", "digits-2-0-ef34aa", 8080, 25)
STABLE_ALONE = Backend("stable", "1-0-ab12cd", "1.0", "digits-1-0-ab12cd", 8080, 100)


def _metadata(name: str, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "labels": {**vocabulary.labels("digits"), **(extra_labels or {})}}


def _front(selector: dict[str, str], target_port: int | str, metrics_port: int | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _metadata("digits"), "spec": {"selector": selector}}


def plan(*backends: Backend, mirror: int = 0, **extra: Any) -> TrafficPlan:
    return TrafficPlan(
        namespace="default",
        visionmodel="digits",
        model="digits",
        backends=backends,
        metadata=_metadata,
        front_service=_front,
        mirror_percent=mirror,
        router_image="router:test",
        pod_security_context={"runAsNonRoot": True},
        container_security_context={"allowPrivilegeEscalation": False},
        **extra,
    )


def by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for o in objects:
        out.setdefault(o["kind"], []).append(o)
    return out


def test_router_json_matches_the_contract() -> None:
    assert routing_config(plan(STABLE, CANDIDATE, mirror=100)).wire() == {
        "namespace": "default",
        "visionmodel": "digits",
        "model": "digits",
        "variants": [
            {
                "name": "stable",
                "revision": "1-0-ab12cd",
                "version": "1.0",
                "upstream": "http://digits-1-0-ab12cd.default.svc:8080",
                "weight": 75,
            },
            {
                "name": "candidate",
                "revision": "2-0-ef34aa",
                "version": "2.0",
                "upstream": "http://digits-2-0-ef34aa.default.svc:8080",
                "weight": 25,
            },
        ],
        "shadow": {"variant": "candidate", "percent": 100},
        "paired": None,
        "stickyHeader": "x-visionroll-session",
    }


def test_no_shadow_without_candidate_or_mirror() -> None:
    assert routing_config(plan(STABLE, CANDIDATE)).wire()["shadow"] is None
    assert routing_config(plan(STABLE_ALONE, mirror=50)).wire()["shadow"] is None


def test_paired_copies_only_while_both_variants_answer_clients() -> None:
    assert routing_config(plan(STABLE, CANDIDATE, paired_percent=10)).wire()["paired"] == {
        "candidatePercent": 10,
        "stablePercent": 0,
    }
    assert routing_config(plan(STABLE, CANDIDATE)).wire()["paired"] is None  # not asked for
    at_zero = Backend("candidate", "2-0-ef34aa", "2.0", "digits-2-0-ef34aa", 8080, 0)
    full = Backend("candidate", "2-0-ef34aa", "2.0", "digits-2-0-ef34aa", 8080, 100)
    stable_idle = Backend("stable", "1-0-ab12cd", "1.0", "digits-1-0-ab12cd", 8080, 0)
    assert routing_config(plan(STABLE_ALONE, at_zero, paired_percent=10)).paired is None  # no candidate requests
    assert routing_config(plan(stable_idle, full, paired_percent=10)).paired is None  # stable answers no client
    assert routing_config(plan(STABLE_ALONE, paired_percent=10)).wire()["paired"] is None


def test_router_objects() -> None:
    objects = provider("router").objects(plan(STABLE_ALONE))
    kinds = by_kind(objects)
    # No ServiceAccount and no RBAC: the router's identity comes from the chart (templates/dataplane.yaml).
    assert sorted(kinds) == ["ConfigMap", "Deployment", "Service"]
    (cm,) = kinds["ConfigMap"]
    assert cm["metadata"]["name"] == vocabulary.routing_configmap_name("digits")
    assert json.loads(cm["data"]["router.json"])["variants"][0]["weight"] == 100
    (dep,) = kinds["Deployment"]
    assert dep["metadata"]["name"] == vocabulary.router_name("digits")
    pod = dep["spec"]["template"]["spec"]
    # The router image's program, named so that a router image built elsewhere runs the same one.
    assert pod["containers"][0]["command"] == ["/visionroll-router"]
    assert "volumes" not in pod  # it writes no file: a read-only root filesystem and nothing mounted
    assert pod["containers"][0]["args"][:2] == ["--configmap", "default/digits-routing"]
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "9090"
    assert pod["containers"][0]["image"] == "router:test"
    assert pod["serviceAccountName"] == "visionroll-router"
    assert pod["automountServiceAccountToken"] is True  # it watches its ConfigMap
    assert pod["securityContext"] == {"runAsNonRoot": True}
    assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    # the router's pods must never match a variant Service's selector
    assert vocabulary.LABEL_REVISION not in dep["spec"]["template"]["metadata"]["labels"]


def test_router_runs_as_the_service_account_the_chart_installs() -> None:
    """The name is shared with the chart's templates (dataplane.yaml, admissionpolicy.yaml) by this test."""
    chart = Path(__file__).resolve().parents[3] / "charts" / "visionroll" / "templates" / "_helpers.tpl"
    assert '{{- define "visionroll.routerServiceAccount" -}}' + SERVICE_ACCOUNT + "{{- end -}}" in chart.read_text()


def test_front_service_points_at_the_router() -> None:
    (front,) = by_kind(provider("router").objects(plan(STABLE_ALONE)))["Service"]
    assert front["metadata"]["name"] == "digits"
    dep = by_kind(provider("router").objects(plan(STABLE_ALONE)))["Deployment"][0]
    assert front["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_gateway_api_route_has_weighted_backends() -> None:
    gateway = GatewayApi(parent_refs=[ParentRef(name="public", namespace="infra")], hostnames=["digits.example.com"])
    objects = by_kind(provider("gateway-api").objects(plan(STABLE, CANDIDATE, gateway_api=gateway)))
    (route,) = objects["HTTPRoute"]
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "infra"}]
    assert route["spec"]["hostnames"] == ["digits.example.com"]
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"name": "digits-1-0-ab12cd", "port": 8080, "weight": 75},
        {"name": "digits-2-0-ef34aa", "port": 8080, "weight": 25},
    ]


def test_unknown_provider_is_refused_by_name() -> None:
    with pytest.raises(
        UnknownProvider, match=r"unknown traffic provider 'istio'; known providers: gateway-api, router"
    ):
        provider("istio")

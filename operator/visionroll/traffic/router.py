"""The built-in router (serving/router, a Go program in its own image) as a traffic provider.

Per VisionModel: the routing ConfigMap `<name>-routing` (key `router.json`, built in the router's own schema
`visionroll_serving.router.config.RouterJson`; docs/contracts.md), the router's Deployment, and the front Service
`<name>` pointing at the router (client port 8080, and the router's metrics port 9090 for Prometheus). Weights change
by rewriting the ConfigMap; the router watches it, so no pod restarts and the change applies within a second (a
mounted ConfigMap would take up to the kubelet's sync period, a minute or more, longer than a drain).

The router runs as the ServiceAccount `visionroll-router`, which the chart installs with its Role (read ConfigMaps)
in each data-plane namespace (`dataPlane.namespaces`, docs/security.md). The operator creates no ServiceAccount,
Role or RoleBinding: its own RBAC holds no rights on RBAC objects, and an admission policy in the chart lets the
Deployments it writes run only as `visionroll-router` (the router) or with no API token at all (TorchServe).
"""

from __future__ import annotations

import json

from visionroll.api.pods import scrape_annotations
from visionroll.traffic.base import Manifest, TrafficPlan
from visionroll.vocabulary import LABEL_COMPONENT, LABEL_MODEL, ROUTER_LABELS, router_name, routing_configmap_name
from visionroll_serving.router.config import PairedSpec, RouterJson, ShadowSpec, VariantSpec

ROUTER_PORT = 8080
ROUTER_METRICS_PORT = 9090
ROUTER_REPLICAS = 2
# After SIGTERM a router keeps serving this long (answers close their connections) while its pod leaves the front
# Service's endpoints, then finishes what is in flight (its --shutdown-timeout, 10 s) within the grace period. Without
# it a client reconnecting at once could still be sent to the stopped listener: a chaos run's router pod deletion
# cost 3 client requests that way (connection refused).
ROUTER_DRAIN_SECONDS = 5
ROUTER_GRACE_SECONDS = 30
ROUTING_KEY = "router.json"
SERVICE_ACCOUNT = "visionroll-router"
"""The router's ServiceAccount, installed by the chart per data-plane namespace (charts/visionroll/templates)."""


def routing_config(plan: TrafficPlan) -> RouterJson:
    """The `router.json` document, in the router's own schema. Weights sum to 100; a variant with weight 0 is listed
    but gets no live traffic."""
    candidate = plan.backend("candidate")
    return RouterJson(
        namespace=plan.namespace,
        visionmodel=plan.visionmodel,
        model=plan.model,
        variants=[
            VariantSpec(
                name=b.variant,
                revision=b.revision,
                version=b.version,
                upstream=f"http://{b.service}.{plan.namespace}.svc:{b.port}",
                weight=b.weight,
            )
            for b in plan.backends
        ],
        shadow=(
            ShadowSpec(variant="candidate", percent=plan.mirror_percent)
            if candidate is not None and plan.mirror_percent > 0
            else None
        ),
        paired=_paired(plan),
        sticky_header=plan.sticky_header,
    )


def _paired(plan: TrafficPlan) -> PairedSpec | None:
    """Paired copies while stable and candidate both answer clients (canary, split): at a candidate weight of 100
    stable answers no client, and comparisons with it do not apply (rollout/gates.py)."""
    stable, candidate = plan.backend("stable"), plan.backend("candidate")
    if plan.paired_percent <= 0 or stable is None or candidate is None or not (stable.weight and candidate.weight):
        return None
    return PairedSpec(candidate_percent=plan.paired_percent, stable_percent=0)


def _pod_labels(plan: TrafficPlan) -> dict[str, str]:
    return {LABEL_MODEL: plan.visionmodel, LABEL_COMPONENT: "router"}


def _deployment(plan: TrafficPlan) -> Manifest:
    name = router_name(plan.visionmodel)
    pod_labels = {**plan.metadata(name, extra_labels=ROUTER_LABELS)["labels"]}
    container = {
        "name": "router",
        "image": plan.router_image,
        # The router image's entry point is the router (serving/router/Dockerfile); the command names it anyway, so
        # that a router image built elsewhere runs the same program.
        "command": ["/visionroll-router"],
        "args": [
            "--configmap",
            f"{plan.namespace}/{routing_configmap_name(plan.visionmodel)}",
            "--port",
            str(ROUTER_PORT),
            "--metrics-port",
            str(ROUTER_METRICS_PORT),
            "--drain-seconds",
            str(ROUTER_DRAIN_SECONDS),
        ],
        "ports": [
            {"name": "http", "containerPort": ROUTER_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": ROUTER_METRICS_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "failureThreshold": 3},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": plan.container_security_context,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": plan.metadata(name, extra_labels=ROUTER_LABELS),
        "spec": {
            "replicas": ROUTER_REPLICAS,
            "selector": {"matchLabels": _pod_labels(plan)},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": scrape_annotations(ROUTER_METRICS_PORT)},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    # The router watches its ConfigMap through the API: it needs its token (and only this one).
                    "automountServiceAccountToken": True,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": ROUTER_GRACE_SECONDS,
                    "securityContext": plan.pod_security_context,
                    "containers": [container],
                },
            },
        },
    }


class RouterProvider:
    name = "router"

    def objects(self, plan: TrafficPlan) -> list[Manifest]:
        routing = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": plan.metadata(routing_configmap_name(plan.visionmodel), extra_labels=ROUTER_LABELS),
            "data": {ROUTING_KEY: json.dumps(routing_config(plan).wire(), indent=2, sort_keys=True)},
        }
        # The front Service `<name>` is the router's Service: clients on `http`, Prometheus on `metrics`.
        front = plan.front_service(selector=_pod_labels(plan), target_port="http", metrics_port=ROUTER_METRICS_PORT)
        return [routing, _deployment(plan), front]

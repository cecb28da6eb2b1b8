"""Gateway API as a traffic provider: an HTTPRoute with weighted backendRefs to the variants' Services.

Started, not finished (a colleague owns the rest): mirroring (`RequestMirror` filter with `percent`, Gateway API
v1.2+) and checks that the Gateway accepted the route (`status.parents[].conditions`) are still to do. In-cluster
clients that use the front Service `<name>` bypass the Gateway and reach stable only.
"""

from __future__ import annotations

from typing import Any

from visionroll.traffic.base import Manifest, TrafficPlan
from visionroll.vocabulary import LABEL_MODEL, LABEL_REVISION

GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"


def http_route(plan: TrafficPlan) -> Manifest:
    if plan.gateway_api is None:
        raise ValueError("traffic provider gateway-api needs spec.traffic.gatewayApi")
    parents: list[dict[str, Any]] = []
    for ref in plan.gateway_api.parent_refs:
        parent: dict[str, Any] = {"name": ref.name}
        if ref.namespace:
            parent["namespace"] = ref.namespace
        if ref.section_name:
            parent["sectionName"] = ref.section_name
        parents.append(parent)
    backends = [{"name": b.service, "port": b.port, "weight": b.weight} for b in plan.backends]
    spec: dict[str, Any] = {
        "parentRefs": parents,
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": f"/predictions/{plan.model}"}}],
                "backendRefs": backends,
            }
        ],
    }
    if plan.gateway_api.hostnames:
        spec["hostnames"] = list(plan.gateway_api.hostnames)
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": plan.metadata(plan.visionmodel),
        "spec": spec,
    }


class GatewayApiProvider:
    name = "gateway-api"

    def objects(self, plan: TrafficPlan) -> list[Manifest]:
        stable = plan.backend("stable")
        objects = [http_route(plan)]
        if stable is not None:
            selector = {LABEL_MODEL: plan.visionmodel, LABEL_REVISION: stable.revision}
            objects.append(plan.front_service(selector=selector, target_port="inference"))
        return objects

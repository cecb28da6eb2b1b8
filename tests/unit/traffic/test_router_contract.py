"""Writer against schema: the router.json the operator puts in the routing ConfigMap is valid under router.json's one
schema (`visionroll_serving.router.config.RouterJson`) and says what the plan says, for every kind of plan a rollout
produces. The router (Go) agrees with the schema case by case: tests/integration/serving/test_router_config.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from visionroll.traffic import Backend, TrafficPlan, provider
from visionroll.traffic.router import ROUTING_KEY, routing_config
from visionroll_serving.router.config import PairedSpec, RouterJson, ShadowSpec


def _metadata(name: str, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": "prod", "labels": dict(extra_labels or {})}


def _front(selector: dict[str, str], target_port: int | str, metrics_port: int | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _metadata("digits"), "spec": {"selector": selector}}


def _plan(stable: int, candidate: int | None, *, mirror: int = 0, paired: float = 0, sticky: str = "X-Session"):
    backends = [Backend("stable", "1-0-ab12cd", "1.0", "digits-1-0-ab12cd", 8080, stable)]
    if candidate is not None:
        backends.append(Backend("candidate", "2-0-ef34aa", "2.0", "digits-2-0-ef34aa", 8080, candidate))
    return TrafficPlan(
        namespace="prod",
        visionmodel="digits",
        model="digits",
        backends=tuple(backends),
        metadata=_metadata,
        front_service=_front,
        mirror_percent=mirror,
        paired_percent=paired,
        sticky_header=sticky,
        router_image="serving:test",
    )


PLANS = {
    "stable only": _plan(100, None),
    "canary step with paired copies": _plan(75, 25, paired=12.5),
    "shadow": _plan(100, 0, mirror=100),
    "split with sticky sessions": _plan(50, 50, sticky="X-VisionRoll-Session"),
    "promoted, stable draining": _plan(0, 100, paired=20),
}


@pytest.mark.parametrize("plan", PLANS.values(), ids=PLANS.keys())
def test_the_router_parses_what_the_operator_writes(plan: TrafficPlan) -> None:
    (configmap,) = [o for o in provider("router").objects(plan) if o["kind"] == "ConfigMap"]
    text = configmap["data"][ROUTING_KEY]
    parsed = RouterJson.model_validate(json.loads(text))

    assert (parsed.namespace, parsed.visionmodel, parsed.model) == ("prod", "digits", "digits")
    assert [(v.name, v.revision, v.version, v.weight) for v in parsed.variants] == [
        (b.variant, b.revision, b.version, b.weight) for b in plan.backends
    ]
    assert [v.upstream for v in parsed.variants] == [f"http://{b.service}.prod.svc:8080" for b in plan.backends]
    assert parsed.shadow == (
        ShadowSpec(variant="candidate", percent=plan.mirror_percent) if plan.mirror_percent else None
    )
    both_serve = all(b.weight for b in plan.backends) and len(plan.backends) == 2
    assert parsed.paired == (
        PairedSpec(candidate_percent=plan.paired_percent, stable_percent=0)
        if plan.paired_percent and both_serve
        else None
    )
    assert parsed.sticky_header == plan.sticky_header.lower()
    # The document is the schema's, field for field.
    assert parsed == routing_config(plan)

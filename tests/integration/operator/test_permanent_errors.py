"""A permanent error is reported once (Degraded=True with the reason, naming the field; a Warning Event) and not
retried until the VisionModel or an object it owns changes: the operator's one retry loop, on the real API server."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from localkube.cluster import Cluster
from localkube.operator_process import OperatorProcess, install_crd
from support.kube import Kube, revision_of
from visionroll_build import crd as crdgen

GATEWAY = {"provider": "gateway-api", "gatewayApi": {"parentRefs": [{"name": "public"}]}}
CANNOT_MIRROR = "strategy shadow needs provider router: gateway-api cannot mirror traffic"
# A custom gate, so that the only rule this spec breaks on gateway-api is the one about mirroring.
SHADOW_WITH_CUSTOM_GATE = {
    "strategy": "shadow",
    "shadow": {"duration": "1m"},
    "analysis": {"gates": {"custom": [{"name": "up", "query": "vector(1)", "min": 1}]}},
}
RESYNC = 5.0  # the operator fixture's resync period


def failed_ticks(operator: OperatorProcess) -> float:
    found = re.search(r'^visionroll_reconcile_total\{result="error"\} (\S+)$', operator.metrics(), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def settles(operator: OperatorProcess, *, still_for: float, within: float) -> float:
    """The count of failed ticks once it has not moved for `still_for` seconds; AssertionError if it keeps moving
    for `within` seconds (a retry loop)."""
    deadline = time.monotonic() + within
    count, since = failed_ticks(operator), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = failed_ticks(operator)
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= still_for:
            return count
    raise AssertionError(f"failed ticks still rising after {within} s (at {count}): a retry loop")


def degraded(kube: Kube, name: str, reason: str) -> dict[str, Any] | None:
    cond = kube.condition(kube.get("visionmodel", name), "Degraded")
    return cond if cond and cond["status"] == "True" and cond["reason"] == reason else None


def warnings(kube: Kube, name: str) -> list[str]:
    events = kube.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json")
    return [e["message"] for e in json.loads(events)["items"] if e["type"] == "Warning"]


@contextmanager
def crd_without(cluster: Cluster, message: str) -> Iterator[None]:
    """The VisionModel CRD as an older release had it, without the rule carrying `message`; restored afterwards."""

    def drop(node: Any) -> Any:
        if isinstance(node, dict):
            rules = node.get("x-kubernetes-validations")
            if rules:
                node["x-kubernetes-validations"] = [r for r in rules if r["message"] != message]
            return {k: drop(v) for k, v in node.items()}
        return [drop(v) for v in node] if isinstance(node, list) else node

    older = drop(crdgen.crd())
    assert older != crdgen.crd(), f"no rule says {message!r}"
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(older))
    try:
        yield
    finally:
        install_crd(cluster.kubectl)


def test_a_spec_admitted_under_an_older_crd_is_degraded_naming_the_field(
    cluster: Cluster, kube: Kube, operator: OperatorProcess
) -> None:
    shadow = kube.visionmodel("old", rollout=SHADOW_WITH_CUSTOM_GATE, traffic=GATEWAY)
    with crd_without(cluster, CANNOT_MIRROR):
        kube.wait("the older CRD admits shadow on gateway-api", lambda: _admitted(kube, shadow))
        kube.apply(shadow)
    cond = kube.wait("old Degraded (InvalidSpec)", lambda: degraded(kube, "old", "InvalidSpec"))
    assert f"spec: {CANNOT_MIRROR}" in cond["message"], cond
    vm = kube.must("visionmodel", "old")
    assert vm["status"]["observedGeneration"] == vm["metadata"]["generation"]
    assert "mirrorPercent" not in vm["status"] or not vm["status"]["mirrorPercent"]  # never reported as mirroring
    settles(operator, still_for=2.5 * RESYNC, within=45)
    assert sum(CANNOT_MIRROR in m for m in warnings(kube, "old")) == 1, warnings(kube, "old")

    # The spec changes: the operator tries again at once, and the VisionModel heals.
    kube.apply(kube.visionmodel("old", rollout=SHADOW_WITH_CUSTOM_GATE))
    kube.wait(
        "Degraded cleared",
        lambda: (c := kube.condition(kube.get("visionmodel", "old"), "Degraded")) and c["status"] == "False",
        timeout=30,
    )
    assert operator.healthy()


def _admitted(kube: Kube, doc: dict[str, Any]) -> bool:
    answer = kube.cluster.kubectl(
        "apply", "--dry-run=server", "-n", kube.namespace, "-f", "-", input=json.dumps(doc), check=False
    )
    return answer.returncode == 0


def test_an_object_the_api_server_refuses_is_reported_once_and_held(kube: Kube, operator: OperatorProcess) -> None:
    """Gateway API traffic on a cluster without the Gateway API CRDs: the HTTPRoute is refused, every tick."""
    kube.apply(kube.visionmodel("gw", traffic=GATEWAY))
    cond = kube.wait("gw Degraded (ApplyFailed)", lambda: degraded(kube, "gw", "ApplyFailed"))
    assert "HTTPRoute" in cond["message"] and "not served" in cond["message"]

    # Held: neither the resync nor a backoff tries the same input again (kopf's handler does not retry either).
    held_at = settles(operator, still_for=2.5 * RESYNC, within=45)
    time.sleep(3 * RESYNC)  # past the gap a doubling backoff would be in by now (16 s)
    assert failed_ticks(operator) == held_at
    assert len([m for m in warnings(kube, "gw") if "HTTPRoute" in m]) == 1, warnings(kube, "gw")

    # An object it owns changes: it is tried again (and the deleted Deployment comes back).
    deployment = f"gw-{revision_of(kube.must('visionmodel', 'gw'))}"
    kube.kubectl("delete", "deployment", deployment, "--wait=true")
    kube.wait("the Deployment recreated while held", lambda: kube.get("deployment", deployment))
    kube.wait("that tick refused again", lambda: failed_ticks(operator) > held_at, timeout=10)

    # The spec changes to what this cluster can carry out: Degraded clears.
    kube.apply(kube.visionmodel("gw"))
    kube.wait(
        "Degraded cleared",
        lambda: (c := kube.condition(kube.get("visionmodel", "gw"), "Degraded")) and c["status"] == "False",
        timeout=30,
    )
    assert operator.healthy()

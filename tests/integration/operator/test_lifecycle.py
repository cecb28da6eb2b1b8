"""Create → every owned object with the expected fields; an unchanged VisionModel → no writes; delete → all gone."""

from __future__ import annotations

import json
import time
from typing import Any

from localkube.operator_process import OperatorProcess
from support.kube import Kube, revision_of

OWNED_KINDS = (
    "deployments,services,configmaps,horizontalpodautoscalers,poddisruptionbudgets,serviceaccounts,roles,rolebindings"
)


def owned(kube: Kube, name: str) -> dict[str, dict[str, Any]]:
    items = kube.list(OWNED_KINDS, f"visionroll.io/model={name}")
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in items}


def test_create_builds_every_owned_object(kube: Kube, operator: OperatorProcess) -> None:
    kube.apply(kube.visionmodel("digits", serving={"workers": 2, "batchSize": 8}))
    vm = kube.wait("VisionModel digits Ready", lambda: kube.ready("digits"))
    rev = revision_of(vm)
    variant = f"digits-{rev}"

    objects = owned(kube, "digits")
    assert set(objects) == {
        f"ConfigMap/{variant}",
        f"Service/{variant}",
        f"Deployment/{variant}",
        f"HorizontalPodAutoscaler/{variant}",
        f"PodDisruptionBudget/{variant}",
        "ConfigMap/digits-routing",
        "Deployment/digits-router",
        "Service/digits",
    }
    for obj in objects.values():
        (ref,) = obj["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "VisionModel",
            "digits",
            vm["metadata"]["uid"],
            True,
        )
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "visionroll"
        assert any(m["manager"] == "visionroll" and m["operation"] == "Apply" for m in obj["metadata"]["managedFields"])

    pod = objects[f"Deployment/{variant}"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert [p["containerPort"] for p in container["ports"]] == [8080, 8082]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ping"

    props = objects[f"ConfigMap/{variant}"]["data"]["config.properties"]
    assert "management_address=http://127.0.0.1:8081" in props
    assert '"batchSize": 8' in props and "default_workers_per_model=2" in props

    assert [p["port"] for p in objects[f"Service/{variant}"]["spec"]["ports"]] == [8080, 8082]
    hpa = objects[f"HorizontalPodAutoscaler/{variant}"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 3)
    routing = json.loads(objects["ConfigMap/digits-routing"]["data"]["router.json"])
    assert [(v["name"], v["revision"], v["weight"]) for v in routing["variants"]] == [("stable", rev, 100)]
    # The router runs as the data plane's ServiceAccount (the chart's, here localkube.operator_process's stand-in): the
    # operator writes no ServiceAccount or RBAC object (OWNED_KINDS lists them, to see that none appears).
    router_pod = objects["Deployment/digits-router"]["spec"]["template"]["spec"]
    assert router_pod["serviceAccountName"] == "visionroll-router"
    front = objects["Service/digits"]["spec"]
    assert [(p["name"], p["port"]) for p in front["ports"]] == [("http", 8080), ("metrics", 9090)]
    assert front["selector"] == objects["Deployment/digits-router"]["spec"]["selector"]["matchLabels"]

    status = vm["status"]
    assert status["phase"] == "Stable"
    assert status["stable"]["revision"] == rev
    assert status["replicas"]["stable"] >= 1
    assert status["endpoint"] == f"http://digits.{kube.namespace}.svc:8080/predictions/digits"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "Progressing": "False",
        "Degraded": "False",
    }
    # kubectl wait works on the condition
    kube.kubectl("wait", "--for=condition=Ready", "visionmodel/digits", "--timeout=5s")


def _fingerprint(obj: dict[str, Any]) -> Any:
    """What changes when anyone but the cluster's own controllers writes: our field manager's entry, the generation,
    and (for objects no controller writes to) the resourceVersion."""
    ours = [m for m in obj["metadata"].get("managedFields", []) if m["manager"] == "visionroll"]
    written_by_controllers = obj["kind"] in ("Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget")
    rv = None if written_by_controllers else obj["metadata"]["resourceVersion"]
    return (obj["metadata"].get("generation"), json.dumps(ours, sort_keys=True), rv)


def test_reconciling_an_unchanged_visionmodel_writes_nothing(kube: Kube, operator: OperatorProcess) -> None:
    kube.apply(kube.visionmodel("digits"))
    kube.wait("Ready", lambda: kube.ready("digits"))
    time.sleep(3)  # let the last watch events of the creation settle
    before_vm = kube.must("visionmodel", "digits")["metadata"]["resourceVersion"]
    before = {k: _fingerprint(o) for k, o in owned(kube, "digits").items()}
    time.sleep(12)  # > 2 resync periods (5 s) plus nudges: several full ticks
    after = {k: _fingerprint(o) for k, o in owned(kube, "digits").items()}
    assert after == before
    assert kube.must("visionmodel", "digits")["metadata"]["resourceVersion"] == before_vm
    ticks = [
        line for line in operator.metrics().splitlines() if line.startswith('visionroll_reconcile_total{result="ok"}')
    ]
    assert ticks and float(ticks[0].split()[-1]) >= 3


def test_delete_removes_everything_it_owned(kube: Kube, operator: OperatorProcess) -> None:
    kube.apply(kube.visionmodel("digits"))
    kube.wait("Ready", lambda: kube.ready("digits"))
    assert owned(kube, "digits")
    kube.kubectl("delete", "visionmodel", "digits", "--wait=true", "--timeout=30s")
    kube.wait("owned objects garbage-collected", lambda: not owned(kube, "digits") or None, timeout=60)
    assert operator.healthy()

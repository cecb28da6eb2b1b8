"""The local control plane does what the operator needs: CRDs with defaults, Deployments whose Pods become Running
and Ready (kwok), namespace deletion (namespace controller + garbage collector), HPAs accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from localkube.cluster import Cluster
from support.kube import wait

ROOT = Path(__file__).resolve().parents[2]
CANARY = ROOT / "examples" / "canary.yaml"

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_server_reports_the_pinned_version(cluster: Cluster) -> None:
    version = cluster.kubectl_json("version")
    assert version["clientVersion"]["gitVersion"].startswith("v1.")
    assert version["serverVersion"]["gitVersion"] != "v0.0.0"
    if not cluster.external:
        from localkube import versions

        assert version["serverVersion"]["gitVersion"] == versions.KUBERNETES
        assert version["clientVersion"]["gitVersion"] == versions.KUBERNETES


def test_visionmodel_crd_applies_defaults(cluster: Cluster, namespace: str, crd: None) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", str(CANARY))
    vm = cluster.kubectl_json("get", "visionmodel", "digits", "-n", namespace)

    sent = yaml.safe_load(CANARY.read_text())
    assert vm["spec"]["model"] == sent["spec"]["model"]
    assert vm["spec"]["rollout"]["canary"]["steps"] == [5, 25, 50, 100]
    # Defaults from the structural schema were applied by the API server.
    assert vm["spec"]["serving"]["image"]  # not in the example
    assert vm["spec"]["serving"]["workers"] == 2  # in the example: kept
    assert vm["spec"]["rollout"]["analysis"]["onInconclusive"] == "rollback"
    # The short name from the CRD works too.
    assert "digits" in cluster.kubectl("get", "vmodel", "-n", namespace, "-o", "name").stdout


def test_deployment_pods_become_running_and_ready(cluster: Cluster, namespace: str) -> None:
    labels = {"app": "web"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "registry.invalid/web:1", "ports": [{"containerPort": 8080}]}
                    ]
                },
            },
        },
    }
    cluster.apply(deployment)

    def ready_pods() -> list[str]:
        pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
        return [
            p["metadata"]["name"]
            for p in pods
            if p["status"].get("phase") == "Running"
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
        ]

    assert len(wait("3 Running+Ready pods", lambda: len(ready_pods()) == 3 and ready_pods())) == 3
    cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")
    dep = cluster.kubectl_json("get", "deployment", "web", "-n", namespace)
    assert dep["status"]["readyReplicas"] == 3
    assert dep["status"]["availableReplicas"] == 3

    # An HPA is accepted (no metrics API here: it reports that, it does not fail to exist).
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 3,
            "maxReplicas": 5,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }
    cluster.apply(hpa)
    assert cluster.kubectl_json("get", "hpa", "web", "-n", namespace)["spec"]["maxReplicas"] == 5

    # Scaling down deletes pods, and kwok lets deleted pods go away.
    cluster.kubectl("delete", "hpa", "web", "-n", namespace)
    cluster.kubectl("scale", "deployment/web", "--replicas=1", "-n", namespace)
    wait("1 pod left", lambda: len(cluster.kubectl_json("get", "pods", "-n", namespace)["items"]) == 1)


def test_garbage_collector_and_namespace_deletion(cluster: Cluster) -> None:
    name = cluster.create_namespace("gc")
    owner = cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, namespace=name)
    assert owner
    uid = cluster.kubectl_json("get", "configmap", "owner", "-n", name)["metadata"]["uid"]
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}],
        },
    }
    cluster.apply(dependent, namespace=name)
    cluster.kubectl("delete", "configmap", "owner", "-n", name)
    wait(
        "the garbage collector to delete the dependent",
        lambda: cluster.kubectl("get", "configmap", "dependent", "-n", name, check=False).returncode != 0,
    )

    cluster.kubectl("delete", "namespace", name, "--wait=false")
    wait(
        f"namespace {name} to be gone",
        lambda: "NotFound" in cluster.kubectl("get", "namespace", name, check=False).stderr,
        timeout=90,
    )
    names = [n["metadata"]["name"] for n in cluster.kubectl_json("get", "namespaces")["items"]]
    assert name not in names


def test_python_client_talks_to_the_cluster(cluster: Cluster, namespace: str) -> None:
    from kubernetes import client

    with cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="hello"), data={"a": "1"})
        )
        got = core.read_namespaced_config_map("hello", namespace)
        assert got.data == {"a": "1"}
        nodes = core.list_node().items
        assert nodes
    assert (
        json.loads(cluster.kubectl("get", "configmap", "hello", "-n", namespace, "-o", "json").stdout)["data"]["a"]
        == "1"
    )

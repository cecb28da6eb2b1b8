"""The router follows its routing ConfigMap through the Kubernetes API (real API server, real TorchServe)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from kubernetes import client

from localkube import local
from support.kube import eventually

pytestmark = [pytest.mark.torchserve, pytest.mark.cluster]


def test_router_reloads_from_its_configmap(torchserve: local.TorchServe, cluster: Any, namespace: str,
                                           pngs: list[tuple[bytes, int]]) -> None:  # fmt: skip
    api = client.CoreV1Api(cluster.api_client())
    # The operator writes cluster host names; --resolve maps them to this TorchServe on loopback.
    upstream = f"http://digits-1-0-abc123.{namespace}.svc:8080"
    port = torchserve.inference_url.rsplit(":", 1)[1]

    def routing(stable: int, candidate: int) -> dict[str, str]:
        variants = [
            local.variant("stable", "1.0", upstream, weight=stable),
            local.variant("candidate", "3.0", upstream, weight=candidate),
        ]
        return {"router.json": json.dumps(local.router_config(variants, namespace=namespace))}

    name = "digits-routing"
    api.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata={"name": name}, data=routing(100, 0)))
    router = local.Router(
        configmap=f"{namespace}/{name}",
        kubeconfig=cluster.kubeconfig,
        resolve={f"digits-1-0-abc123.{namespace}.svc:8080": f"127.0.0.1:{port}"},
    )
    with router:
        router.start()
        url = router.url + "/predictions/digits"
        assert requests.post(url, data=pngs[0][0], timeout=10).json()["version"] == "1.0"

        api.patch_namespaced_config_map(name, namespace, {"data": routing(0, 100)})
        assert eventually(
            lambda: requests.post(url, data=pngs[0][0], timeout=10).json()["version"] == "3.0", timeout=20
        )

        api.patch_namespaced_config_map(name, namespace, {"data": {"router.json": "{broken"}})
        assert eventually(lambda: "rejected, keeping the previous one" in router.log_tail(200), timeout=20)
        assert requests.post(url, data=pngs[0][0], timeout=10).json()["version"] == "3.0"

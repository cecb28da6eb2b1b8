"""The chart's own NetworkPolicy, enforced on the real node (kube-router's firewall, localkube.netpol): a TorchServe
pod's inference port answers the router of its namespace and refuses a client elsewhere, by pod IP and through a
ClusterIP Service; the kubelet's probes and the host (Prometheus scraping by pod IP, a ClusterIP reached from the
host) keep working, and the policed pod still reaches a file server on the host and the API server."""

from __future__ import annotations

import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from localkube import hostnet, images
from localkube.cluster import LocalCluster, network_policy_default
from localkube.fileserver import serve_directory
from localkube.testing import NodeClusters
from support.kube import wait

pytestmark = [pytest.mark.slow, pytest.mark.node]

CHART = Path(__file__).resolve().parents[3] / "charts" / "visionroll"
SERVING_LABELS = {"app.kubernetes.io/name": "visionroll-serving", "app.kubernetes.io/managed-by": "visionroll"}
ROUTER_LABELS = {"app.kubernetes.io/name": "visionroll-router", "app.kubernetes.io/managed-by": "visionroll"}

# The stand-in for TorchServe: "inference" on 8080 and "metrics" on 8082, each answering its port number.
SERVER = textwrap.dedent(
    """
    import http.server, threading
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = str(self.server.server_address[1]).encode()
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    servers = [http.server.ThreadingHTTPServer(("0.0.0.0", p), H) for p in (8080, 8082)]
    threading.Thread(target=servers[1].serve_forever, daemon=True).start()
    servers[0].serve_forever()
    """
)
# Prints what a GET answered, or the error's class: run with `kubectl exec` in a client pod.
FETCH = (
    "import sys, urllib.request\n"
    "try:\n"
    "    print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())\n"
    "except Exception as e:\n"
    "    print(type(e).__name__, e)\n"
)


def _pod(name: str, labels: dict[str, str], command: list[str], ports: bool = False) -> dict[str, Any]:
    """A Pod of the serving image under the restricted profile (the image's numeric user, read-only root)."""
    container: dict[str, Any] = {
        "name": "main",
        "image": images.SERVING_IMAGE,
        "imagePullPolicy": "Never",
        "command": command,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if ports:
        container["ports"] = [
            {"name": "inference", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 8082, "protocol": "TCP"},
        ]
        # The kubelet probes from the host: they must keep passing under the policy.
        probe = {"httpGet": {"path": "/", "port": "inference"}, "periodSeconds": 1, "failureThreshold": 3}
        container["readinessProbe"] = probe
        container["livenessProbe"] = {**probe, "periodSeconds": 2}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
        },
    }


SLEEP = ["python", "-c", "import time; time.sleep(3600)"]


@pytest.fixture
def policy_cluster(node_clusters: NodeClusters) -> Iterator[LocalCluster]:
    """A real node that enforces NetworkPolicy. When nodes do not by default, it is stopped afterwards, so that the
    session's next node runs without it."""
    cluster = node_clusters.get(network_policy=True)
    try:
        yield cluster
    finally:
        if not network_policy_default():
            node_clusters.release()


def _ready(cluster: LocalCluster, ns: str, name: str) -> dict[str, Any] | None:
    pod = cluster.kubectl_json("get", "pod", name, "-n", ns)
    conds = pod.get("status", {}).get("conditions", [])
    return pod if any(c["type"] == "Ready" and c["status"] == "True" for c in conds) else None


def _fetch(cluster: LocalCluster, ns: str, pod: str, url: str) -> str:
    proc = cluster.kubectl("exec", pod, "-n", ns, "--", "python", "-c", FETCH, url, timeout=30)
    return proc.stdout.strip()


def _host_fetch(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=3) as resp:
            return str(resp.read().decode())
    except OSError as e:
        return f"{type(e).__name__} {e}"


def _chart_policy(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    """The chart's NetworkPolicy for ``namespace`` as a data-plane namespace, rendered with default values."""
    out = cluster.helm(
        "template",
        "vr",
        str(CHART),
        "--namespace",
        "visionroll-system",
        "--set",
        f"dataPlane.namespaces={{{namespace}}}",
    ).stdout
    items = [o for o in yaml.safe_load_all(out) if o]
    (policy,) = [o for o in items if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == namespace]
    assert policy["spec"]["podSelector"]["matchLabels"] == SERVING_LABELS
    return policy


def test_the_charts_network_policy_is_enforced(policy_cluster: LocalCluster, tmp_path: Path) -> None:
    cluster = policy_cluster
    data_ns = cluster.create_namespace("np-data")
    other_ns = cluster.create_namespace("np-client")
    cluster.apply(_pod("serving", SERVING_LABELS, ["python", "-c", SERVER], ports=True), namespace=data_ns)
    cluster.apply(_pod("router", ROUTER_LABELS, SLEEP), namespace=data_ns)
    cluster.apply(_pod("client", {}, SLEEP), namespace=other_ns)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "serving"},
        "spec": {"selector": SERVING_LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "inference"}]},
    }
    cluster.apply(service, namespace=data_ns)
    serving = wait("the serving pod Ready", lambda: _ready(cluster, data_ns, "serving"), timeout=120, interval=1)
    wait("the router pod Ready", lambda: _ready(cluster, data_ns, "router"), timeout=120, interval=1)
    wait("the client pod Ready", lambda: _ready(cluster, other_ns, "client"), timeout=120, interval=1)
    pod_ip = serving["status"]["podIP"]
    svc_ip = cluster.kubectl_json("get", "service", "serving", "-n", data_ns)["spec"]["clusterIP"]
    by_ip, by_svc, metrics = f"http://{pod_ip}:8080/", f"http://{svc_ip}/", f"http://{pod_ip}:8082/"

    # Without the policy the enforcer admits everyone: the client's refusal below is the policy's doing.
    wait("the Service's endpoint", lambda: _fetch(cluster, other_ns, "client", by_svc) == "8080", timeout=30)
    assert _fetch(cluster, other_ns, "client", by_ip) == "8080"

    cluster.apply(_chart_policy(cluster, data_ns), namespace=data_ns)
    t0 = time.monotonic()
    wait("the client refused", lambda: _fetch(cluster, other_ns, "client", by_ip) != "8080", timeout=60, interval=0.5)
    enforced_after = time.monotonic() - t0

    # The router of the namespace: admitted on inference, by pod IP and through the Service.
    assert _fetch(cluster, data_ns, "router", by_ip) == "8080"
    assert _fetch(cluster, data_ns, "router", by_svc) == "8080"
    # An unlabelled client of another namespace: refused on inference (both ways) and on metrics.
    for url in (by_ip, by_svc, metrics):
        answer = _fetch(cluster, other_ns, "client", url)
        assert answer.startswith(("URLError", "TimeoutError", "ConnectionRefusedError", "OSError")), (url, answer)
    # The router is not a scraper: metrics refused to it as well (default metricsFrom).
    assert _fetch(cluster, data_ns, "router", metrics) != "8082"

    # The host: Prometheus scrapes by pod IP (metrics and inference), load goes to the ClusterIP.
    assert _host_fetch(metrics) == "8082"
    assert _host_fetch(by_ip) == "8080"
    assert _host_fetch(by_svc) == "8080"
    # The policed pod's own egress (Ingress-only policy): archives from a file server on the host, the API server.
    (tmp_path / "model.mar").write_text("archive")
    with serve_directory(tmp_path, host=hostnet.NODE_IP) as url:
        assert _fetch(cluster, data_ns, "serving", f"{url}/model.mar") == "archive"
    # (a TLS handshake with the API server: the pod has no token and does not trust the cluster CA)
    answer = _fetch(cluster, data_ns, "serving", "https://kubernetes.default.svc/readyz")
    assert "CERTIFICATE_VERIFY_FAILED" in answer or "HTTP Error" in answer, answer

    # The kubelet's probes kept passing all along: Ready, never restarted.
    time.sleep(3)
    pod = _ready(cluster, data_ns, "serving")
    assert pod is not None, "the serving pod lost its readiness under the policy"
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0

    # kube-router's rules are where they are expected (and hostnet's guard is still ahead of them).
    mangle = subprocess.run(["iptables", "-w", "-t", "mangle", "-S", "FORWARD"], capture_output=True, text=True)
    assert "-A FORWARD -j LOCALKUBE-GUARD" in mangle.stdout.splitlines()[1], mangle.stdout
    print(f"policy enforced {enforced_after:.1f} s after it was applied")

"""The real node runs what the operator generates: the serving image's TorchServe fetching a real digits archive
through the operator's own init container, probes, Services, DNS, `kubectl logs` and `exec` authenticated by
certificates, Pod Security "restricted", and an HPA that scales on CPU through metrics-server."""

from __future__ import annotations

import base64
import json
import ssl
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localkube import hostnet, images, node
from localkube.cluster import LocalCluster
from localkube.fileserver import serve_directory
from support.kube import wait
from visionroll import vocabulary
from visionroll.api import VisionModelSpec
from visionroll.workloads import Owner, Variant, naming, serving_objects
from visionroll_serving import build as model_build
from visionroll_serving.samples import held_out_pngs

pytestmark = [pytest.mark.slow, pytest.mark.node]
PNG = {"Content-Type": "image/png"}


@pytest.fixture
def archives_url(node_cluster: LocalCluster) -> Iterator[str]:
    """The digits archives, served from the host on the node's address (pods reach it, nothing else does); the
    address exists only while the node runs."""
    result = model_build.build()
    directory = next(iter(result.archives.values())).parent
    with serve_directory(directory, host=hostnet.NODE_IP) as url:
        yield url


def _restricted_pod(name: str, image: str, script: str) -> dict[str, Any]:
    """A Pod that runs ``script`` with the image's own python, as the image's own user (no runAsUser here: the
    image must bring a numeric one), read-only root filesystem."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", script],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def _pod_phase(cluster: LocalCluster, ns: str, name: str) -> str:
    pod = cluster.kubectl_json("get", "pod", name, "-n", ns)
    return str(pod.get("status", {}).get("phase", ""))


def _wait_pod_done(cluster: LocalCluster, ns: str, name: str, timeout: float = 120) -> str:
    phase = wait(
        f"pod {ns}/{name} to finish",
        lambda: p if (p := _pod_phase(cluster, ns, name)) in ("Succeeded", "Failed") else None,
        timeout=timeout,
        interval=1,
    )
    return phase


def _serving_objects(url: str, version: str) -> tuple[str, list[dict[str, Any]]]:
    spec = VisionModelSpec.model_validate(
        {
            "model": {"name": "digits", "version": version, "storageUri": f"{url}/digits-{version}.mar"},
            "serving": {"image": images.SERVING_IMAGE, "workers": 1},
            "rollout": {"strategy": "immediate"},
        }
    )
    owner = Owner(name="digits", namespace="unused", uid="unused")
    variant = Variant("stable", naming.revision(spec.model, spec.serving), spec.model, spec.serving, weight=100)
    objects = serving_objects(owner, variant, spec.autoscaling)
    for obj in objects:
        # No VisionModel owns them here: the garbage collector would delete objects of a missing owner.
        obj["metadata"].pop("ownerReferences", None)
        obj["metadata"].pop("namespace", None)
    return vocabulary.variant_name(owner.name, variant.revision), objects


def test_torchserve_pod_serves_a_fetched_archive_through_its_service_and_dns(
    node_cluster: LocalCluster, node_namespace: str, archives_url: str
) -> None:
    ns = node_namespace
    name, objects = _serving_objects(archives_url, "1.0")
    node_cluster.apply(objects, namespace=ns)
    # Ready through its real readiness probe (/ping answers 200 only once the model has its workers).
    node_cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", ns, "--timeout=240s", timeout=260)
    svc = node_cluster.kubectl_json("get", "service", name, "-n", ns)
    port = next(p["port"] for p in svc["spec"]["ports"] if p["name"] in ("http", "inference"))
    cluster_ip = svc["spec"]["clusterIP"]

    samples = held_out_pngs(limit=20)
    correct = 0
    for png, label in samples:
        req = urllib.request.Request(
            f"http://{cluster_ip}:{port}/predictions/digits/1.0", data=png, method="POST", headers=PNG
        )
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=10) as resp:
            answer = json.loads(resp.read())
        correct += int(answer["top_k"][0]["label"] == str(label))
    assert correct >= 18, f"only {correct}/20 held-out digits right through the ClusterIP Service"

    # From another pod, by the Service's DNS name.
    png, label = samples[0]
    script = textwrap.dedent(
        f"""
        import base64, json, urllib.request
        body = base64.b64decode({base64.b64encode(png).decode()!r})
        url = "http://{name}.{ns}.svc.cluster.local:{port}/predictions/digits/1.0"
        req = urllib.request.Request(url, data=body, method="POST", headers={{"Content-Type": "image/png"}})
        with urllib.request.urlopen(req, timeout=20) as r:
            print("ANSWER", json.dumps(json.loads(r.read())))
        """
    )
    node_cluster.apply(_restricted_pod("client", images.SERVING_IMAGE, script), namespace=ns)
    phase = _wait_pod_done(node_cluster, ns, "client")
    logs = node_cluster.kubectl("logs", "client", "-n", ns).stdout
    assert phase == "Succeeded", logs
    answer = json.loads(logs.split("ANSWER", 1)[1])
    assert answer["top_k"][0]["label"] == str(label)

    # exec into the TorchServe container: the image's numeric user, a read-only root filesystem.
    pod = node_cluster.kubectl_json("get", "pods", "-n", ns, "-l", f"{vocabulary.LABEL_REVISION}")["items"][0]
    pod_name = pod["metadata"]["name"]
    out = node_cluster.kubectl(
        "exec", pod_name, "-n", ns, "-c", "torchserve", "--", "sh", "-c", "id -u; touch /probe 2>&1 || true"
    ).stdout
    assert out.splitlines()[0] == "10001"
    assert "Read-only file system" in out
    ts_logs = node_cluster.kubectl("logs", pod_name, "-n", ns, "-c", "torchserve").stdout
    assert "digits" in ts_logs


def test_images_run_as_uid_10001_read_only_under_restricted_pod_security(
    node_cluster: LocalCluster, node_namespace: str
) -> None:
    ns = node_namespace
    node_cluster.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    script = textwrap.dedent(
        """
        import os, sys
        __import__(sys.argv[1] if len(sys.argv) > 1 else MODULE)
        try:
            open("/probe", "w")
            print("WRITABLE")
        except OSError as e:
            print("ROOTFS", e.strerror)
        print("UID", os.getuid(), "GID", os.getgid())
        """
    )
    for pod_name, image, module in (
        ("operator", images.OPERATOR_IMAGE, "visionroll.handlers"),
        ("serving", images.SERVING_IMAGE, "visionroll_serving.handler"),
    ):
        node_cluster.apply(_restricted_pod(pod_name, image, script.replace("MODULE", repr(module))), namespace=ns)
    for pod_name in ("operator", "serving"):
        phase = _wait_pod_done(node_cluster, ns, pod_name)
        logs = node_cluster.kubectl("logs", pod_name, "-n", ns).stdout
        assert phase == "Succeeded", logs
        assert "UID 10001 GID 10001" in logs, logs
        assert "ROOTFS Read-only file system" in logs, logs

    # The namespace really enforces "restricted": a pod without the settings is refused at admission.
    loose = _restricted_pod("loose", images.SERVING_IMAGE, "print(1)")
    del loose["spec"]["containers"][0]["securityContext"]
    refused = node_cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(loose), check=False)
    assert refused.returncode != 0 and "restricted" in refused.stderr


def _kubelet_get(run_dir: Path, path: str, ctx: ssl.SSLContext) -> int:
    """The HTTP status of a GET on the kubelet's API (its address and port from the node's state)."""
    state = json.loads((run_dir / node.STATE_FILE).read_text())
    url = f"https://{hostnet.NODE_IP}:{state['kubelet_port']}{path}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
    try:
        with opener.open(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_kubelet_and_api_server_authenticate_each_other_by_cluster_certificates(node_cluster: LocalCluster) -> None:
    run_dir = node_cluster.run_dir
    assert run_dir is not None
    pki = run_dir / "pki"
    # The kubelet's serving certificate is signed by the cluster CA for the node's address (verified, hostname
    # checked), and a client certificate of the cluster CA gets in.
    trusted = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    trusted.load_cert_chain(str(pki / "apiserver-kubelet-client.crt"), str(pki / "apiserver-kubelet-client.key"))
    assert _kubelet_get(run_dir, "/pods", trusted) == 200
    # No certificate: the kubelet refuses (anonymous access is off).
    anonymous = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    assert _kubelet_get(run_dir, "/pods", anonymous) == 401
    # The API server is configured to verify the kubelet against the CA, and logs/exec go through it: see the
    # TorchServe test's `kubectl logs` and `kubectl exec`.
    args = next(p.argv for p in node_cluster.supervisor.procs if p.name == "kube-apiserver")
    assert f"--kubelet-certificate-authority={pki / 'ca.crt'}" in args
    assert not any(a.startswith("--kubelet-insecure") for a in args)


_BURNER = textwrap.dedent(
    """
    import http.server, time
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            end = time.perf_counter() + 0.05
            while time.perf_counter() < end:
                pass
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a):
            pass
    http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()
    """
)


def test_hpa_scales_a_deployment_on_cpu_under_load_and_back_down(
    node_cluster: LocalCluster, node_namespace: str
) -> None:
    ns = node_namespace
    pod = _restricted_pod("burner", images.SERVING_IMAGE, _BURNER)["spec"]
    pod.pop("restartPolicy")
    pod["containers"][0]["resources"] = {"requests": {"cpu": "50m"}, "limits": {"cpu": "500m"}}
    pod["containers"][0]["ports"] = [{"containerPort": 8080, "name": "http"}]
    labels = {"app": "burner"}
    objects = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "burner"},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod}},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "burner"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": "http"}]},
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "burner"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "burner"},
                "minReplicas": 1,
                "maxReplicas": 3,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                    }
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
            },
        },
    ]
    node_cluster.apply(objects, namespace=ns)
    node_cluster.kubectl("rollout", "status", "deployment/burner", "-n", ns, "--timeout=120s", timeout=140)
    cluster_ip = node_cluster.kubectl_json("get", "service", "burner", "-n", ns)["spec"]["clusterIP"]

    stop = threading.Event()
    sent = [0]

    def load() -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 240  # bounded: stops by itself
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                with opener.open(f"http://{cluster_ip}/", timeout=5) as resp:
                    resp.read()
                sent[0] += 1
            except OSError:
                time.sleep(0.05)

    def desired() -> int:
        hpa = node_cluster.kubectl_json("get", "hpa", "burner", "-n", ns)
        return int(hpa.get("status", {}).get("desiredReplicas", 0))

    threads = [threading.Thread(target=load, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        scaled = wait(
            "the HPA to scale burner up under load",
            lambda: d if (d := desired()) > 1 else None,
            timeout=200,
            interval=2,
        )
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert scaled > 1 and sent[0] > 0
    # The metrics API is real: `kubectl top` reads it too.
    top = node_cluster.kubectl("top", "pods", "-n", ns, check=False)
    assert top.returncode == 0 and "burner" in top.stdout, top.stderr
    wait("the HPA to scale burner back down once the load stopped", lambda: desired() == 1, timeout=180, interval=2)


def _bridge_address() -> tuple[str, str]:
    """The node bridge's hardware address and how the kernel assigned it (3: set by hand, never recomputed)."""
    sys_dir = Path("/sys/class/net") / hostnet.BRIDGE
    return (sys_dir / "address").read_text().strip(), (sys_dir / "addr_assign_type").read_text().strip()


def test_the_bridge_keeps_its_address_while_pods_come_and_go(node_cluster: LocalCluster, node_namespace: str) -> None:
    """A bridge left to choose takes its lowest port's address and changes it as pods' veths come and go; the other
    pods then send to a gone address (hostnet.BRIDGE_MAC says what that cost)."""
    names = [f"churn-{i}" for i in range(3)]
    for name in names:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [{"name": "pause", "image": images.PAUSE_IMAGE, "imagePullPolicy": "Never"}],
            },
        }
        node_cluster.apply(pod, namespace=node_namespace)
    for name in names:
        wait(
            f"pod {name} running",
            lambda n=name: _pod_phase(node_cluster, node_namespace, n) == "Running",
            timeout=120,
            interval=1,
        )
        assert _bridge_address() == (hostnet.BRIDGE_MAC, "3")
    for name in names:
        node_cluster.kubectl("delete", "pod", name, "-n", node_namespace, "--grace-period=0", "--wait=true")
        assert _bridge_address() == (hostnet.BRIDGE_MAC, "3")

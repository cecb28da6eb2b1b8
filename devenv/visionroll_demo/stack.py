"""The whole system on one machine, for `make demo` and the e2e suite, as a user's cluster runs it: nothing here is
a demo-only code path.

A real control plane with a real node (localkube, or $KUBECONFIG), visionroll installed with `helm install` of
charts/visionroll (the operator runs as the chart's pod, from the image built here), a real Prometheus that finds
the operator, the routers and the TorchServe pods by Kubernetes service discovery (the chart's documented scrape
configuration), and the digits archives served over HTTP from the host on the node's address, so that each
`storageUri` is a real address the operator's init container fetches. Everything the data plane runs (TorchServe
pods, the router Deployment, their Services) is what the operator generates.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from localkube import hostnet
from localkube.cluster import Cluster, LocalCluster, env_or_local
from localkube.fileserver import serve_directory
from localkube.procs import wait_until
from localkube.prometheus import Prometheus
from visionroll import api, vocabulary
from visionroll.workloads import naming
from visionroll.workloads.service import FRONT_PORT
from visionroll_serving.build import build as build_archives

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "visionroll"
RELEASE = "visionroll"
RELEASE_NAMESPACE = "visionroll-system"
NAME = "digits"
VERSIONS = ("1.0", "2.0", "3.0", "4.0")
Log = Callable[[str], None]


@dataclass
class Stack:
    cluster: Cluster
    prometheus: Prometheus
    namespace: str
    archive_base: str
    custom: client.CustomObjectsApi = field(repr=False)  # one API client for every status read of the run
    min_replicas: int = 1  # of each variant (2 so that losing a pod costs only its requests in flight)

    def manifest(self, version: str, rollout: dict[str, Any]) -> dict[str, Any]:
        return manifest(self.namespace, self.archive_base, version, rollout, min_replicas=self.min_replicas)

    def revision(self, version: str) -> str:
        return revision(self.namespace, self.archive_base, version)

    def apply(self, manifest: dict[str, Any]) -> None:
        self.cluster.apply(manifest, namespace=self.namespace)

    def get(self) -> dict[str, Any]:
        return _get(self.custom, self.namespace)

    @property
    def predictions_url(self) -> str:
        """The router's front Service, as a client on the node reaches it (its cluster IP)."""
        svc = self.cluster.kubectl_json("get", "service", NAME, "-n", self.namespace)
        return f"http://{svc['spec']['clusterIP']}:{FRONT_PORT}/predictions/{NAME}"

    def ready_replicas(self, revision: str) -> int:
        apps = client.AppsV1Api(self.custom.api_client)
        try:
            dep = apps.read_namespaced_deployment(vocabulary.variant_name(NAME, revision), self.namespace)
        except client.ApiException:
            return 0
        return int(dep.status.ready_replicas or 0) if dep.status else 0

    def hpas(self) -> str:
        return self.cluster.kubectl("get", "hpa", "-n", self.namespace, check=False).stdout

    def operator_logs(self) -> str:
        proc = self.cluster.kubectl(
            "logs", "-n", RELEASE_NAMESPACE, f"deployment/{RELEASE}", "--tail=200", check=False, timeout=30
        )
        return proc.stdout + proc.stderr

    def pods(self) -> str:
        """`kubectl get pods` of the VisionModel's namespace: every variant's TorchServe pods and the routers."""
        return self.cluster.kubectl("get", "pods", "-n", self.namespace, "-o", "wide", check=False).stdout

    def visionmodels(self) -> str:
        return self.cluster.kubectl("get", "visionmodels", "-n", self.namespace, check=False).stdout


def archive_name(version: str) -> str:
    return f"digits-{version}.mar"


def manifest(
    namespace: str, archive_base: str, version: str, rollout: dict[str, Any], *, min_replicas: int = 1
) -> dict[str, Any]:
    """The VisionModel a person would apply for one version of the digits model."""
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "model": {"name": "digits", "version": version, "storageUri": f"{archive_base}/{archive_name(version)}"},
            # 200m each: before a promotion the candidate is scaled to what the stable runs (up to 2 pods each under
            # the demo's load), and 4 TorchServe pods, 2 routers and the operator must fit the 2-core local node.
            "serving": {"workers": 1, "batchSize": 1, "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}}},
            "autoscaling": {"minReplicas": min_replicas, "maxReplicas": max(2, min_replicas)},
            "rollout": rollout,
        },
    }


def revision(namespace: str, archive_base: str, version: str) -> str:
    """The revision the operator will name for this version (the same function the operator uses)."""
    spec = api.VisionModelSpec.model_validate(
        manifest(namespace, archive_base, version, {"strategy": "immediate"})["spec"]
    )
    return naming.revision(spec.model, spec.serving)


def _get(custom: client.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    obj = custom.get_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, NAME)
    assert isinstance(obj, dict)
    return obj


def helm_install(
    cluster: Cluster, prometheus_url: str, *, namespace: str, analysis_window_seconds: int, timeout: int = 180
) -> None:
    """`helm install` of the chart as a user runs it, with the local Prometheus and short clocks for a demo. The
    VisionModels' `namespace` (which must exist) is the data plane's: the chart installs the router's ServiceAccount
    and Role, and the NetworkPolicy, there."""
    cluster.helm(
        "upgrade",
        "--install",
        RELEASE,
        str(CHART),
        "--namespace",
        RELEASE_NAMESPACE,
        "--create-namespace",
        "--set",
        f"operator.prometheusUrl={prometheus_url}",
        "--set",
        f"operator.analysisWindowSeconds={analysis_window_seconds}",
        "--set",
        "operator.resyncSeconds=5",
        "--set",
        f"dataPlane.namespaces={{{namespace}}}",
        "--wait",
        f"--timeout={timeout}s",
        timeout=timeout + 30,
    )


def _host_address(cluster: Cluster) -> str:
    """Where pods reach a server on this host: the node's address on a local node; loopback otherwise (an external
    cluster's pods cannot reach this host, and the stack says so when they try)."""
    return hostnet.NODE_IP if isinstance(cluster, LocalCluster) and cluster.mode == "node" else "127.0.0.1"


@contextlib.contextmanager
def running_stack(
    run_dir: Path,
    *,
    log: Log = print,
    namespace: str = "demo",
    cluster: Cluster | None = None,
    scrape_interval: str = "1s",
    analysis_window_seconds: int = 20,
    min_replicas: int = 1,
) -> Iterator[Stack]:
    """Start everything, yield it, and stop everything it started on the way out.

    A given `cluster` (the test session's) is used and left running; otherwise $KUBECONFIG's cluster, otherwise a
    new local one with a real node. Prometheus is always this stack's own: it listens where the operator's pod can
    reach it.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        started = time.monotonic()
        if cluster is None:
            log("cluster: $KUBECONFIG's, or a new local one with a real node (containerd, kubelet, kube-proxy, DNS)")
            cluster = stack.enter_context(env_or_local(run_dir / "cluster", mode="node"))
        host = _host_address(cluster)
        log(f"starting Prometheus on {host} (finds pods by Kubernetes service discovery)")
        prometheus = Prometheus.start(run_dir / "prometheus", scrape_interval=scrape_interval, host=host)
        stack.callback(prometheus.stop)
        prometheus.add_kubernetes_pods(cluster.kubeconfig)

        cluster.kubectl("create", "namespace", namespace, check=False)
        log(f"helm install {RELEASE} charts/visionroll (the operator runs as the chart's pod)")
        helm_install(cluster, prometheus.url, namespace=namespace, analysis_window_seconds=analysis_window_seconds)
        stack.callback(
            lambda: cluster.helm("uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait", check=False)
        )
        # Deleted before the operator goes (callbacks run last first): its finalizers let the VisionModels go.
        stack.callback(cluster.delete_namespace, namespace, wait=True, timeout=120)

        log("building (or reusing) the digits model archives; serving them over HTTP from this host")
        archives = build_archives(log=lambda _: None)
        directory = next(iter(archives.archives.values())).parent
        archive_base = stack.enter_context(serve_directory(directory, host=host))

        log("deploying digits 1.0 (the first version goes straight to stable)")
        first = manifest(namespace, archive_base, "1.0", {"strategy": "immediate"}, min_replicas=min_replicas)
        cluster.apply(first, namespace=namespace)
        custom = client.CustomObjectsApi(stack.enter_context(cluster.api_client()))
        wait_until(
            "digits 1.0 to be Stable",
            lambda: _get(custom, namespace).get("status", {}).get("phase") == "Stable",
            300,
            interval=1,
        )
        # Every replica of the stable and of the router serving: a rollout that starts while a stable pod is still
        # starting measures that start-up, not the candidate (a CI chaos run lost a client request that way).
        stable = vocabulary.variant_name(NAME, revision(namespace, archive_base, "1.0"))
        router = vocabulary.router_name(NAME)
        for deployment in (stable, router):
            cluster.kubectl(
                "rollout", "status", f"deployment/{deployment}", "-n", namespace, "--timeout=180s", timeout=200
            )
        wait_until(
            "Prometheus to scrape the routers",
            lambda: bool(prometheus.query(f'up{{namespace="{namespace}", pod=~"{router}-.*"}} == 1')),
            60,
            interval=1,
        )
        log(f"everything is up in {time.monotonic() - started:.0f}s")
        yield Stack(cluster, prometheus, namespace, archive_base, custom, min_replicas)

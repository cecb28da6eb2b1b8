"""The whole system on one machine, for `make demo` and the e2e suite: nothing here is a demo-only code path.

A real control plane (localkube, or $KUBECONFIG), real Prometheus, the CRD from the Helm chart, the operator as its
own process (`python -m visionroll`), one real TorchServe per model version, and the router watching the routing
ConfigMap the operator writes. Pods run under kwok, so the data plane runs as local processes: the router's
`--resolve` maps each revision's cluster Service name to the loopback TorchServe that serves that version, and the
archives are served over loopback HTTP so each `storageUri` is a real address.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from localkube.cluster import Cluster, env_or_local
from localkube.procs import wait_until
from localkube.prometheus import Prometheus
from visionroll import api
from visionroll.testing import OperatorProcess, install_crd
from visionroll.workloads import naming
from visionroll.workloads.torchserve import INFERENCE_PORT
from visionroll_serving.local import Router, TorchServe, build_archives

REPO = Path(__file__).resolve().parents[2]
CHART_CRDS = REPO / "charts" / "visionroll" / "crds"
NAME = "digits"
VERSIONS = ("1.0", "2.0", "3.0", "4.0")
Log = Callable[[str], None]


def _archive_server(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *_: None  # type: ignore[method-assign,assignment]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, name="archives", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@dataclass
class Stack:
    cluster: Cluster
    prometheus: Prometheus
    namespace: str
    operator: OperatorProcess
    router: Router
    archive_base: str
    custom: client.CustomObjectsApi = field(repr=False)  # one API client for every status read of the run

    def manifest(self, version: str, rollout: dict[str, Any]) -> dict[str, Any]:
        return manifest(self.namespace, self.archive_base, version, rollout)

    def revision(self, version: str) -> str:
        return revision(self.namespace, self.archive_base, version)

    def apply(self, manifest: dict[str, Any]) -> None:
        self.cluster.apply(manifest, namespace=self.namespace)

    def get(self) -> dict[str, Any]:
        return _get(self.custom, self.namespace)

    @property
    def predictions_url(self) -> str:
        return f"{self.router.url}/predictions/digits"


def archive_name(version: str) -> str:
    return f"digits-{version}.mar"


def manifest(namespace: str, archive_base: str, version: str, rollout: dict[str, Any]) -> dict[str, Any]:
    """The VisionModel a person would apply for one version of the digits model."""
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "model": {"name": "digits", "version": version, "storageUri": f"{archive_base}/{archive_name(version)}"},
            "serving": {"workers": 1, "batchSize": 1},
            "autoscaling": {"minReplicas": 1, "maxReplicas": 2},
            "rollout": rollout,
        },
    }


def revision(namespace: str, archive_base: str, version: str) -> str:
    """The revision the operator will name for this version (the same function the operator uses)."""
    spec = api.VisionModelSpec.model_validate(
        manifest(namespace, archive_base, version, {"strategy": "immediate"})["spec"]
    )
    return naming.revision(spec.model, spec.serving)


def _upstream(namespace: str, revision: str) -> str:
    return f"{naming.variant_name(NAME, revision)}.{namespace}.svc:{INFERENCE_PORT}"


def _get(custom: client.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom.get_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, NAME)
    return obj


@contextlib.contextmanager
def running_stack(
    run_dir: Path,
    *,
    log: Log = print,
    namespace: str = "demo",
    cluster: Cluster | None = None,
    prometheus: Prometheus | None = None,
) -> Iterator[Stack]:
    """Start everything, yield it, and stop every process it started (by PID) on the way out.

    A given `cluster` / `prometheus` (the test session's) is used and left running; otherwise $KUBECONFIG's cluster,
    otherwise a new local one.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        started = time.monotonic()
        if cluster is None:
            log("control plane: $KUBECONFIG's, or a new local one (etcd, kube-apiserver, controller-manager, kwok)")
            cluster = stack.enter_context(env_or_local(run_dir / "cluster", mode="kwok"))
        if prometheus is None:
            log("starting Prometheus")
            prometheus = Prometheus.start(run_dir / "prometheus")
            stack.callback(prometheus.stop)

        log("installing the CRD from the Helm chart")
        install_crd(cluster.kubectl, path=CHART_CRDS)
        cluster.kubectl("create", "namespace", namespace, check=False)
        stack.callback(cluster.delete_namespace, namespace)

        log("building (or reusing) the digits model archives")
        archives = build_archives()
        server, archive_base = _archive_server(archives.directory)
        stack.callback(server.shutdown)

        log(f"starting TorchServe for versions {', '.join(VERSIONS)}")
        torchserves = {v: TorchServe([archives.archive(v)]) for v in VERSIONS}
        for ts in torchserves.values():
            stack.callback(ts.stop)
        with ThreadPoolExecutor(max_workers=len(torchserves)) as pool:
            list(pool.map(lambda ts: ts.start(), torchserves.values()))

        log("starting the operator (python -m visionroll)")
        operator = OperatorProcess(
            cluster.kubeconfig,
            namespace=namespace,
            log_path=run_dir / "operator.log",
            resync_seconds=5.0,
            extra_env={"VISIONROLL_PROMETHEUS_URL": prometheus.url},
        )
        operator.start()
        stack.callback(operator.stop)
        operator.wait_healthy()
        prometheus.add_scrape_target("visionroll-operator", f"127.0.0.1:{operator.metrics_port}")

        resolve = {
            _upstream(namespace, revision(namespace, archive_base, v)): ts.inference_url.removeprefix("http://")
            for v, ts in torchserves.items()
        }
        log("deploying digits 1.0 (the first version goes straight to stable)")
        cluster.apply(manifest(namespace, archive_base, "1.0", {"strategy": "immediate"}), namespace=namespace)
        custom = client.CustomObjectsApi(stack.enter_context(cluster.api_client()))
        wait_until(
            "digits 1.0 to be Stable",
            lambda: _get(custom, namespace).get("status", {}).get("phase") == "Stable",
            120,
            interval=0.5,
        )

        log("starting the router (watching the routing ConfigMap the operator writes)")
        router = Router(
            configmap=f"{namespace}/{naming.routing_configmap_name(NAME)}",
            kubeconfig=Path(cluster.kubeconfig),
            resolve=resolve,
        )
        router.start()
        stack.callback(router.stop)
        prometheus.add_scrape_target("visionroll-router", router.metrics_url.removeprefix("http://"))
        log(f"everything is up in {time.monotonic() - started:.0f}s")
        yield Stack(cluster, prometheus, namespace, operator, router, archive_base, custom)

"""Run the operator as a child process for tests and benchmarks: `python -m visionroll` with a kubeconfig, one
namespace, loopback ports; stopped by PID; its CPU time and resident memory sampled from /proc.

    with OperatorProcess(kubeconfig, namespace="t-1a2b3c", log_path=tmp / "operator.log") as op:
        op.wait_healthy()
        ...
        print(op.peak_rss_mb, op.cpu_seconds())
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from localkube.procs import free_port
from visionroll.api import GROUP, PLURAL
from visionroll_build.crd import CRD_PATHS

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def install_crd(kubectl: Callable[..., object], *, path: Path = CRD_PATHS[0]) -> None:
    """Server-side apply of the generated VisionModel CRD (a file or a directory), then wait until it is served.
    `kubectl` runs kubectl with the given arguments against the cluster, raising on failure."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
    crd = f"crd/{PLURAL}.{GROUP}"
    deadline = time.monotonic() + 60
    while True:
        try:
            kubectl("wait", "--for=condition=Established", crd, "--timeout=10s")
            return
        except Exception as exc:  # right after the apply, `kubectl wait` may not find the CRD yet: retry that
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"`kubectl wait --for=condition=Established {crd}` kept failing for 60 s: {exc}"
                ) from exc
            time.sleep(1)


def provide_data_plane(kubeconfig: Path | str, namespace: str) -> None:
    """What the chart installs in each data-plane namespace (charts/visionroll/templates/dataplane.yaml), for tests
    that run the operator without the chart: the router's ServiceAccount `visionroll-router`, a Role that reads
    ConfigMaps and its RoleBinding (the operator creates none of these). Objects that exist, or that these
    credentials may not create (an operator's own ServiceAccount token, where the chart made them), are left alone."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    from visionroll.traffic.router import SERVICE_ACCOUNT

    api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    meta = {"name": SERVICE_ACCOUNT, "namespace": namespace}
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}
    subject = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE_ACCOUNT}
    writes: list[tuple[Callable[..., object], dict[str, object]]] = [
        (core.create_namespaced_service_account, {"metadata": meta, "automountServiceAccountToken": False}),
        (rbac.create_namespaced_role, {"metadata": meta, "rules": [rule]}),
        (rbac.create_namespaced_role_binding, {"metadata": meta, "roleRef": role_ref, "subjects": [subject]}),
    ]
    try:
        for create, body in writes:
            try:
                create(namespace, body)
            except ApiException as exc:
                if exc.status not in (403, 409):
                    raise
    finally:
        api.close()


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path | str,
        *,
        namespace: str,
        log_path: Path,
        resync_seconds: float = 30.0,
        workers: int = 8,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.kubeconfig = str(kubeconfig)
        self.namespace = namespace
        self.log_path = log_path
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "VISIONROLL_NAMESPACE": namespace,
            "VISIONROLL_BIND_ADDRESS": "127.0.0.1",
            "VISIONROLL_HEALTH_PORT": str(self.health_port),
            "VISIONROLL_METRICS_PORT": str(self.metrics_port),
            "VISIONROLL_RESYNC_SECONDS": str(resync_seconds),
            # The test Prometheus scrapes every second: a 20 s window holds 20 scrapes.
            "VISIONROLL_ANALYSIS_WINDOW_SECONDS": "20",
            "VISIONROLL_WORKERS": str(workers),
            "VISIONROLL_PROMETHEUS_URL": "http://127.0.0.1:9",  # nothing listens: analyses are inconclusive
            "VISIONROLL_ROUTER_IMAGE": "visionroll/router:test",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0
        self._sampler: threading.Thread | None = None
        self._stop_sampling = threading.Event()

    def start(self) -> OperatorProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        provide_data_plane(self.kubeconfig, self.namespace)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "visionroll"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self._sampler = threading.Thread(target=self._sample, name="operator-rss", daemon=True)
        self._sampler.start()
        return self

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.healthy():
                return
            time.sleep(0.2)
        raise TimeoutError(f"operator not healthy after {timeout}s; log: {self.log_path}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as answer:
            return str(answer.read().decode())

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"operator exited with {self.proc.returncode}; log: {self.log_path}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the operator process so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def rss_mb(self) -> float:
        assert self.proc is not None
        pages = int(Path(f"/proc/{self.proc.pid}/statm").read_text().split()[1])
        return pages * _PAGE / 2**20

    def _sample(self) -> None:
        while not self._stop_sampling.wait(0.2):
            try:
                self.peak_rss_mb = max(self.peak_rss_mb, self.rss_mb())
            except (OSError, AssertionError, IndexError):
                return

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        self._stop_sampling.set()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # kopf stops gracefully on SIGTERM
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

"""A real Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler, with either
a real node (mode "node", the default: containerd, runc, kubelet, kube-proxy, CoreDNS, metrics-server; see node.py)
or kwok's fake nodes (mode "kwok": Pods become Running and Ready without running, for scale benchmarks). Everything
it starts is recorded by PID in the run directory and stopped by PID; a node's leftovers are cleaned on stop.

    cluster = LocalCluster.start(run_dir)          # or Cluster.external(kubeconfig) for an existing cluster
    cluster.kubectl("get", "nodes")
    cluster.stop()
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localkube import build, certs, hostnet, node, versions
from localkube.procs import PIDS_FILE, Deadline, Proc, Supervisor, free_port, http_get, reset_run_dir, wait_until

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

# Room for thousands of Services (the operator makes two or more per VisionModel); 10.0.0.1 is the `kubernetes` one.
SERVICE_CIDR = "10.0.0.0/16"
POD_CIDR = "10.244.0.0/16"
MODES = ("node", "kwok")
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
NODE_ANNOTATION = "kwok.x-k8s.io/node"
# The node lifecycle controller lifts the not-ready taint from a real node once it is Ready.
NODE_CONTROLLERS = ["node-lifecycle-controller"]
CONTROLLERS = [
    "deployment-controller",
    "replicaset-controller",
    "horizontal-pod-autoscaler-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "endpointslice-controller",
    "disruption-controller",
]
STATE_FILE = "state.json"
RUN_DIR_MARKERS = (STATE_FILE, PIDS_FILE, "pki", "logs")
# Whether a real node runs the NetworkPolicy enforcer (localkube.netpol) when LocalCluster.start is not told:
# $VISIONROLL_NETWORK_POLICY "1" (on) or "0" (off), else NETWORK_POLICY_DEFAULT.
NETWORK_POLICY_ENV = "VISIONROLL_NETWORK_POLICY"
NETWORK_POLICY_DEFAULT = True


def network_policy_default() -> bool:
    value = os.environ.get(NETWORK_POLICY_ENV, "")
    return value == "1" if value in ("0", "1") else NETWORK_POLICY_DEFAULT


def stop_run_dir(run_dir: Path) -> list[str]:
    """Stop every process recorded in ``run_dir`` and, for a real node, remove what it leaves behind (containers,
    mounts, cgroups, network). Works after a crash too. Returns the names of the processes that were running."""
    sup = Supervisor.load(run_dir)
    names = [f"{p.name}[{p.pid}]" for p in sup.procs if p.running()]
    if (run_dir / hostnet.STATE_FILE).exists() or (run_dir / node.STATE_FILE).exists():
        node.stop_and_clean(run_dir, sup, sup.stop_all)
    else:
        sup.stop_all()
    return names


def default_run_dir() -> Path:
    """The well-known directory of the persistent cluster of `python -m localkube up`."""
    return build.cache_root() / "run" / "default"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    no_proxy = ",".join(x for x in (env.get("NO_PROXY", ""), "127.0.0.1,localhost") if x)
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    env.pop("KUBECONFIG", None)
    return env


def _log(msg: str) -> None:
    print(f"[localkube] {msg}", file=sys.stderr, flush=True)


class CommandFailed(subprocess.CalledProcessError):
    """A kubectl or helm run that failed; its message names the command and what it printed on stderr (a bare
    CalledProcessError says only the exit code)."""

    def __str__(self) -> str:
        command = " ".join(str(a) for a in self.cmd) if isinstance(self.cmd, list) else str(self.cmd)
        said = (self.stderr or self.stdout or "").strip()
        return f"`{command}` exited {self.returncode}: {said[-2000:] or '(nothing on stderr)'}"


class Cluster:
    """A handle to a Kubernetes cluster reachable through a kubeconfig: kubectl, helm and Python-client helpers."""

    def __init__(self, kubeconfig: Path, run_dir: Path | None = None, external: bool = True) -> None:
        self.kubeconfig = kubeconfig
        self.run_dir = run_dir
        self.external = external
        self._kubectl: str | None = None

    @classmethod
    def external_from_env(cls) -> Cluster | None:
        """The cluster named by $KUBECONFIG (first path), or None when it is unset."""
        value = os.environ.get("KUBECONFIG", "")
        if not value:
            return None
        return cls(Path(value.split(os.pathsep)[0]).expanduser(), run_dir=None, external=True)

    # -- tools -------------------------------------------------------------------------------------------------

    @property
    def log_dir(self) -> Path | None:
        return self.run_dir / "logs" if self.run_dir else None

    def kubectl_path(self) -> str:
        if self._kubectl is None:
            cached = build.bin_paths().kubectl
            if os.access(cached, os.X_OK):
                self._kubectl = str(cached)
            elif self.external and shutil.which("kubectl"):
                self._kubectl = str(shutil.which("kubectl"))
            else:
                self._kubectl = str(build.ensure_binaries().kubectl)
        return self._kubectl

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; returns the CompletedProcess (text), raises on failure with ``check``."""
        cmd = [self.kubectl_path(), f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=_child_env())
        if check and proc.returncode != 0:
            raise CommandFailed(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def kubectl_process(self, *args: str) -> subprocess.Popen[str]:
        """kubectl against this cluster started and left running, its stdin, stdout and stderr pipes (text): for a
        command driven while it runs (an `exec -i`). The caller waits for it, or kills it."""
        cmd = [self.kubectl_path(), f"--kubeconfig={self.kubeconfig}", *args]
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_child_env())  # fmt: skip

    def kubectl_json(self, *args: str) -> Any:
        """``kubectl <args> -o json``, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, manifest: str | dict[str, Any] | list[dict[str, Any]], namespace: str | None = None) -> str:
        """``kubectl apply -f -`` of a YAML/JSON string, an object or a list of objects; returns kubectl's output."""
        if isinstance(manifest, dict):
            text = json.dumps(manifest)
        elif isinstance(manifest, list):
            text = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifest})
        else:
            text = manifest
        ns = [f"--namespace={namespace}"] if namespace else []
        return self.kubectl("apply", *ns, "-f", "-", input=text).stdout

    def helm(self, *args: str, check: bool = True, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run the pinned helm against this cluster."""
        helm = shutil.which("helm") if self.external and not build.bin_paths().helm.exists() else None
        exe = helm or str(build.ensure_binaries().helm)
        cmd = [exe, f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_child_env())
        if check and proc.returncode != 0:
            raise CommandFailed(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def api_client(self) -> ApiClient:
        """A new `kubernetes.client.ApiClient` for this cluster (close it, or use it as a context manager)."""
        from kubernetes import config

        client: ApiClient = config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]
        return client

    # -- namespaces --------------------------------------------------------------------------------------------

    def create_namespace(self, prefix: str = "t") -> str:
        """Create a uniquely named namespace and wait for its `default` ServiceAccount (Pods need it)."""
        slug = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:40].strip("-") or "t"
        name = f"{slug}-{uuid.uuid4().hex[:6]}"
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self.kubectl("create", "-f", "-", input=json.dumps(ns))
        wait_until(
            f"ServiceAccount default in namespace {name}",
            lambda: self.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
            timeout=30,
            interval=0.2,
        )
        return name

    def delete_namespace(self, name: str, wait: bool = False, timeout: float = 60.0) -> None:
        self.kubectl(
            "delete",
            "namespace",
            name,
            "--ignore-not-found",
            f"--wait={'true' if wait else 'false'}",
            f"--timeout={int(timeout)}s",
            timeout=timeout + 10,
        )


class LocalCluster(Cluster):
    """The loopback control plane. Use :meth:`start`; :meth:`stop` kills every process it started, by PID."""

    def __init__(
        self,
        run_dir: Path,
        supervisor: Supervisor,
        bins: build.BinPaths,
        mode: str = "node",
        network_policy: bool = False,
    ) -> None:
        super().__init__(run_dir / "kubeconfig", run_dir=run_dir, external=False)
        self.supervisor = supervisor
        self.bins = bins
        self.mode = mode
        self.network_policy = network_policy and mode == "node"
        self._kubectl = str(bins.kubectl)
        self.apiserver_url = ""
        self.start_seconds = 0.0
        self.phases: dict[str, float] = {}  # seconds since start at which each component was ready

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        run_dir: Path,
        persistent: bool = False,
        nodes: int = 2,
        timeout: float = 90.0,
        mode: str = "node",
        network_policy: bool | None = None,
    ) -> LocalCluster:
        """Start a fresh cluster in ``run_dir`` (wiped first). With ``persistent`` the processes outlive this
        Python process (for `localkube up`); otherwise they are told to die with it (PR_SET_PDEATHSIG).
        ``mode``: "node" (one real node; ``nodes`` is ignored) or "kwok" (``nodes`` fake nodes).
        ``network_policy``: the real node enforces NetworkPolicy (localkube.netpol); None:
        :func:`network_policy_default` (``$VISIONROLL_NETWORK_POLICY``)."""
        if network_policy is None:
            network_policy = network_policy_default()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        bins = build.ensure_binaries()
        if mode == "node":
            from localkube import images

            node.check_host()
            node.check_run_dir(node.NodeDirs(run_dir))
            images.ensure_images()  # before the clock starts: a cold build takes minutes
        t0 = time.monotonic()
        for attempt in (1, 2):
            stop_run_dir(run_dir)  # a crashed earlier start may have left a node behind
            reset_run_dir(run_dir, RUN_DIR_MARKERS)
            sup = Supervisor(run_dir, die_with_parent=not persistent)
            cluster = cls(run_dir, sup, bins, mode, network_policy)
            try:
                cluster._start(nodes, timeout)
                break
            except Exception as e:
                cluster.stop()
                # A free port can be taken by someone else between picking and binding it: retry once, fresh ports.
                if attempt == 2 or isinstance(e, TimeoutError):
                    _log(f"start failed; logs in {sup.log_dir}")
                    raise
                _log(f"start failed ({str(e).splitlines()[0]}); retrying once with new ports")
            except BaseException:
                cluster.stop()
                raise
        cluster.start_seconds = time.monotonic() - t0
        return cluster

    @classmethod
    def attach(cls, run_dir: Path) -> LocalCluster:
        """A handle to a cluster started earlier (by another process) in ``run_dir``."""
        state = json.loads((run_dir / STATE_FILE).read_text())
        cluster = cls(
            run_dir,
            Supervisor.load(run_dir),
            build.bin_paths(),
            state.get("mode", "kwok"),
            state.get("network_policy", False),
        )
        cluster.apiserver_url = state["apiserver"]
        return cluster

    def stop(self) -> None:
        """Stop every process this cluster started (by PID, newest first) and wait for each to exit; for a real
        node, remove its pods, containers, mounts, cgroups and network first and last."""
        assert self.run_dir is not None
        if self.mode == "node":
            node.stop_and_clean(self.run_dir, self.supervisor, self.supervisor.stop_all)
        else:
            self.supervisor.stop_all()

    def running(self) -> dict[str, bool]:
        return {p.name: p.running() for p in self.supervisor.procs}

    def restart_apiserver(self, timeout: float = 60.0) -> float:
        """Stop the API server and start it again (etcd keeps the state); returns the seconds until it is ready."""
        t0 = time.monotonic()
        proc = self.supervisor.restart("kube-apiserver")
        wait_until(
            "kube-apiserver /readyz after a restart",
            lambda: self.kubectl("get", "--raw", "/readyz", check=False, timeout=10).stdout.strip() == "ok",
            timeout,
            interval=0.2,
            alive=proc.check_alive,
        )
        return time.monotonic() - t0

    def _start(self, nodes: int, timeout: float) -> None:
        run = self.run_dir
        assert run is not None
        env = _child_env()
        real_node = self.mode == "node"
        t0 = time.monotonic()
        deadline = Deadline(timeout)
        left = deadline.left

        def mark(name: str) -> None:
            self.phases[name] = round(time.monotonic() - t0, 2)

        # A real node's pods reach the API server at the node's address (the `kubernetes` Service points there);
        # with fake nodes nothing leaves loopback.
        host = hostnet.NODE_IP if real_node else "127.0.0.1"
        if real_node:
            hostnet.setup(run, SERVICE_CIDR)
            mark("host network")
        pki = certs.generate(run / "pki", extra_ips=(host,) if real_node else ())
        node_pki = certs.generate_node(pki, node.NODE_NAME, host) if real_node else None
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        kcm_port, sched_port, kwok_port = free_port(), free_port(), free_port()

        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd = self.supervisor.start(
            "etcd",
            [
                str(self.bins.etcd),
                f"--data-dir={run / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            env,
        )
        wait_until("etcd /health", lambda: b'"true"' in http_get(f"{etcd_url}/health"), left(), alive=etcd.check_alive)
        mark("etcd")

        self.apiserver_url = f"https://{host}:{api_port}"
        if node_pki is not None:
            node_flags = [
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                # The API server and the kubelet authenticate each other with certificates of the cluster CA.
                f"--kubelet-certificate-authority={pki.ca_cert}",
                f"--kubelet-client-certificate={node_pki.apiserver_kubelet_client_cert}",
                f"--kubelet-client-key={node_pki.apiserver_kubelet_client_key}",
                "--kubelet-preferred-address-types=InternalIP",
            ]
        else:
            node_flags = [
                "--authorization-mode=RBAC",
                # Fake nodes are Ready from the start; without a node-lifecycle controller nobody would lift the
                # not-ready taint this plugin puts on new nodes.
                "--disable-admission-plugins=TaintNodesByCondition",
                # The `kubernetes` Service cannot point at a loopback address; nothing in this cluster needs it.
                "--endpoint-reconciler-type=none",
            ]
        api = self.supervisor.start(
            "kube-apiserver",
            [
                str(self.bins.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={host}",
                f"--advertise-address={host}",
                f"--secure-port={api_port}",
                f"--cert-dir={pki.dir}",
                f"--tls-cert-file={pki.server_cert}",
                f"--tls-private-key-file={pki.server_key}",
                f"--client-ca-file={pki.ca_cert}",
                *node_flags,
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--requestheader-client-ca-file={pki.front_proxy_ca}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki.front_proxy_client_cert}",
                f"--proxy-client-key-file={pki.front_proxy_client_key}",
                "--profiling=false",
                "--v=1",
            ],
            env,
        )
        self.write_kubeconfig(self.kubeconfig, pki.admin_cert, pki.admin_key, pki=pki)
        ctx = _ssl_context(pki)
        wait_until(
            "kube-apiserver /readyz",
            lambda: http_get(f"{self.apiserver_url}/readyz", ctx) == b"ok",
            left(),
            interval=0.2,
            alive=api.check_alive,
        )

        mark("kube-apiserver")
        common = [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1"]
        delegated = [f"--authentication-kubeconfig={self.kubeconfig}", f"--authorization-kubeconfig={self.kubeconfig}"]
        kcm = self.supervisor.start(
            "kube-controller-manager",
            [
                str(self.bins.kube_controller_manager),
                *common,
                *delegated,
                f"--secure-port={kcm_port}",
                f"--controllers={','.join(CONTROLLERS + (NODE_CONTROLLERS if real_node else []))}",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--horizontal-pod-autoscaler-sync-period=5s",
                # The defaults (20 qps, 5 deployment/replicaset workers) are sized for shared production API servers;
                # here they made 400 Deployments crawl to Ready long after their pods ran (bench_operator_scale).
                "--kube-api-qps=100",
                "--kube-api-burst=200",
                "--concurrent-deployment-syncs=20",
                "--concurrent-replicaset-syncs=20",
                "--v=1",
            ],
            env,
        )
        sched = self.supervisor.start(
            "kube-scheduler",
            [str(self.bins.kube_scheduler), *common, *delegated, f"--secure-port={sched_port}", "--v=1"],
            env,
        )
        if real_node:
            from localkube import images

            assert node_pki is not None

            def import_images(ctr: Path, address: str) -> None:
                images.import_into_containerd(ctr, address)
                deadline.reset()  # a cold import of a large image is not start-up time

            node.start(
                node.NodeStart(
                    run_dir=run,
                    supervisor=self.supervisor,
                    bins=self.bins,
                    pki=pki,
                    node_pki=node_pki,
                    admin_kubeconfig=self.kubeconfig,
                    service_cidr=SERVICE_CIDR,
                    cluster_cidr=POD_CIDR,
                    write_kubeconfig=lambda path, cert, key: self.write_kubeconfig(path, cert, key, pki=pki),
                    kubectl=self.kubectl,
                    mark=mark,
                    network_policy=self.network_policy,
                ),
                import_images=import_images,
                pause_image=images.PAUSE_IMAGE,
                left=left,
            )
            procs = list(self.supervisor.procs)
        else:
            procs = [etcd, api, kcm, sched, self._start_kwok(nodes, kwok_port, env, left, ctx)]
        mark("nodes")

        def all_alive() -> None:
            for p in procs:
                p.check_alive()

        wait_until(
            "ServiceAccount default/default (controller-manager)",
            lambda: (
                b'"default"' in http_get(f"{self.apiserver_url}/api/v1/namespaces/default/serviceaccounts/default", ctx)
            ),
            left(),
            interval=0.2,
            alive=all_alive,
        )
        mark("default ServiceAccount")
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        for name, port in (("kube-controller-manager", kcm_port), ("kube-scheduler", sched_port)):
            wait_until(
                f"{name} /healthz",
                lambda port=port: http_get(f"https://127.0.0.1:{port}/healthz", insecure) == b"ok",  # type: ignore[misc]
                left(),
                interval=0.2,
                alive=all_alive,
            )
        mark("controller-manager + scheduler healthz")
        (run / STATE_FILE).write_text(
            json.dumps(
                {
                    "kubeconfig": str(self.kubeconfig),
                    "apiserver": self.apiserver_url,
                    "etcd": etcd_url,
                    "mode": self.mode,
                    "network_policy": self.network_policy,
                    "ports": {"kube-controller-manager": kcm_port, "kube-scheduler": sched_port, "kwok": kwok_port},
                    "versions": {
                        "kubernetes": versions.KUBERNETES,
                        "etcd": versions.ETCD,
                        "kwok": versions.KWOK,
                        "helm": versions.HELM,
                    },
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "ready_after_s": self.phases,
                },
                indent=1,
            )
        )

    def _start_kwok(
        self, nodes: int, kwok_port: int, env: dict[str, str], left: Callable[[], float], ctx: ssl.SSLContext
    ) -> Proc:
        assert self.run_dir is not None
        stages = self.run_dir / "kwok-stages.yaml"
        stages.write_text(
            "\n---\n".join(p.read_text().strip() for p in sorted(self.bins.kwok_stages.glob("*.yaml"))) + "\n"
        )
        kwok = self.supervisor.start(
            "kwok",
            [
                str(self.bins.kwok),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={stages}",
                f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
                f"--server-address=127.0.0.1:{kwok_port}",
                f"--node-port={kwok_port}",
            ],
            env,
        )
        self.kubectl("apply", "-f", "-", input=json.dumps(_nodes(nodes)))

        def nodes_ready() -> bool:
            items = json.loads(http_get(f"{self.apiserver_url}/api/v1/nodes", ctx))["items"]
            ready = [
                n
                for n in items
                if any(
                    c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", [])
                )
            ]
            return len(ready) >= nodes

        wait_until("kwok nodes Ready", nodes_ready, left(), interval=0.2, alive=kwok.check_alive)
        return kwok

    def write_kubeconfig(self, path: Path, cert: Path, key: Path, *, pki: certs.Pki) -> None:
        """A kubeconfig for this cluster with the client certificate ``cert``/``key``."""

        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "localkube",
                    "cluster": {"server": self.apiserver_url, "certificate-authority-data": b64(pki.ca_cert)},
                }
            ],
            "users": [
                {
                    "name": "localkube-admin",
                    "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
                }
            ],
            "contexts": [
                {
                    "name": "localkube",
                    "context": {"cluster": "localkube", "user": "localkube-admin", "namespace": "default"},
                }
            ],
            "current-context": "localkube",
        }
        path.write_text(json.dumps(config, indent=1))  # JSON is YAML
        path.chmod(0o600)


def _nodes(count: int) -> dict[str, Any]:
    items = []
    for i in range(count):
        name = f"kwok-node-{i}"
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "kubernetes.io/role": "agent",
                        "node-role.kubernetes.io/agent": "",
                    },
                },
                "spec": {},
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                },
            }
        )
    return {"apiVersion": "v1", "kind": "List", "items": items}


def _ssl_context(pki: certs.Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    return ctx


@contextlib.contextmanager
def env_or_local(run_dir: Path, *, nodes: int = 2, mode: str = "node") -> Iterator[Cluster]:
    """$KUBECONFIG's cluster, used as it is and left running; otherwise a fresh LocalCluster in ``run_dir``, stopped
    on the way out."""
    external = Cluster.external_from_env()
    if external is not None:
        yield external
        return
    cluster = LocalCluster.start(run_dir, nodes=nodes, mode=mode)
    try:
        yield cluster
    finally:
        cluster.stop()

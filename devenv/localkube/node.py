"""A real Kubernetes node on this machine: containerd with runc, the kubelet, kube-proxy in iptables mode, CNI
(Debian's bridge, host-local, portmap and loopback plugins), CoreDNS for Services, metrics-server for the
resource metrics API and, unless turned off, kube-router's network policy controller (localkube.netpol). Every
process is started through the cluster's Supervisor (recorded by PID, stopped by PID); :func:`cleanup` removes what
processes leave behind when they stop: pods and their containers, mounts, cgroups, network interfaces, iptables
chains (see hostnet) and ipsets.

The host reaches pods and Services directly (the node's address is the bridge's), so Prometheus, tests and load
generators run on the host. Images are never pulled: localkube.images builds them and imports them into
containerd's ``k8s.io`` namespace, whose root lives in the cache so that a warm start imports nothing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localkube import build, certs, hostnet, netpol
from localkube.procs import Proc, Supervisor, free_port, http_get, wait_until

NODE_NAME = "localkube-node"
CGROUP_ROOT = "localkube"
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
DNS_SERVICE_IP_OFFSET = 10  # kube-dns at <service network>.10, as kubeadm does
CLUSTER_DOMAIN = "cluster.local"
STATE_FILE = "node.json"


class NodeError(RuntimeError):
    pass


def containerd_root() -> Path:
    """containerd's root (content store, snapshots, metadata): in the cache, so imported images survive restarts."""
    return build.cache_root() / "containerd"


@dataclass(frozen=True)
class NodeDirs:
    run: Path

    @property
    def base(self) -> Path:
        return self.run / "node"

    @property
    def containerd_state(self) -> Path:
        return self.base / "containerd"

    @property
    def containerd_sock(self) -> Path:
        return self.containerd_state / "containerd.sock"

    @property
    def runc_root(self) -> Path:
        return self.base / "runc"

    @property
    def cni_conf(self) -> Path:
        return self.base / "cni" / "net.d"

    @property
    def cni_ipam(self) -> Path:
        return self.base / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.base / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.base / "pod-logs"


# The longest unix socket path a node's components accept: 104 bytes for containerd's ttrpc socket (the BSD limit it
# checks for; Linux's is 107), which the kubelet's sockets under its root must also stay within.
MAX_SOCKET_PATH = 104


def check_run_dir(dirs: NodeDirs) -> None:
    """Refuse a run directory whose path leaves no room for the unix sockets a node makes in it (containerd's, the
    kubelet's), naming the socket and the limit: they would otherwise fail to listen, deep in their logs."""
    sockets = [
        Path(f"{dirs.containerd_sock}.ttrpc"),
        dirs.kubelet_root / "device-plugins" / "kubelet.sock",
        dirs.kubelet_root / "pod-resources" / "kubelet.sock",
    ]
    for sock in sockets:
        if len(os.fsencode(sock)) > MAX_SOCKET_PATH:
            raise NodeError(
                f"run directory {dirs.run} is too long for a node: its socket {sock} would be {len(os.fsencode(sock))}"
                f" bytes, and a unix socket path may have at most {MAX_SOCKET_PATH}; use a shorter run directory"
            )


def dns_service_ip(service_cidr: str) -> str:
    network = service_cidr.split("/")[0].split(".")
    return ".".join([*network[:3], str(DNS_SERVICE_IP_OFFSET)])


def check_host() -> None:
    """Refuse early, naming what is missing, on a host that cannot run a node."""
    if os.geteuid() != 0:
        raise NodeError("a real node needs root (containers, network interfaces, iptables)")
    missing = [p for p in CNI_PLUGINS if not (CNI_BIN_DIR / p).exists()]
    if missing:
        raise NodeError(f"CNI plugins {missing} missing in {CNI_BIN_DIR}: apt-get install containernetworking-plugins")
    for tool in ("iptables", "ip6tables", "ip", "conntrack", "mount"):
        if shutil.which(tool) is None:
            raise NodeError(f"`{tool}` is not installed (make system-deps installs it)")


def _v1_cgroup_dirs() -> list[Path]:
    """The cgroup v1 hierarchies mounted under /sys/fs/cgroup (cgroup2's `unified` is left alone)."""
    base = Path("/sys/fs/cgroup")
    return sorted(p for p in base.iterdir() if p.is_dir() and p.name != "unified" and not p.is_symlink())


# On a machine of its own a node's pods share its CPUs only with one another. Here they share them with the host's
# processes (the control plane, Prometheus, tests and their load), and in cgroup v1 every runnable thread of the root
# cgroup weighs as much (1024) as the node's cgroup as a whole: under a test run's load, a few busy host threads left
# all the pods together a fifth of the machine, and a new TorchServe pod answered in 5-10 s for tens of seconds. The
# node's cgroup weighs as much as this many busy host threads per CPU: pods get most of the CPUs when they want them,
# and the host's threads still run beside them.
POD_CPU_WEIGHT_THREADS_PER_CPU = 4


def pods_cpu_shares() -> int:
    """cpu.shares of the node's cgroup (cgroup v1): POD_CPU_WEIGHT_THREADS_PER_CPU busy host threads per CPU."""
    return 1024 * POD_CPU_WEIGHT_THREADS_PER_CPU * (os.cpu_count() or 1)


def _weigh_pods_cpu() -> None:
    """Give the node's cgroup its CPU weight (above) where this host has the cgroup v1 cpu controller."""
    shares = Path("/sys/fs/cgroup/cpu") / CGROUP_ROOT / "cpu.shares"
    if shares.exists():
        shares.write_text(str(pods_cpu_shares()))


def _containerd_config(dirs: NodeDirs, bins: build.BinPaths, pause_image: str) -> str:
    root = containerd_root() / "root"
    return f"""version = 3
root = '{root}'
state = '{dirs.containerd_state}'
temp = '{dirs.base / "tmp"}'
# Plugins that would write outside the run directory or probe for storage this host does not have.
disabled_plugins = [
  'io.containerd.internal.v1.opt',
  'io.containerd.nri.v1.nri',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.blockfile',
  'io.containerd.snapshotter.v1.erofs',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.image-verifier.v1.bindir',
  'io.containerd.differ.v1.erofs',
]

[grpc]
  address = '{dirs.containerd_sock}'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{pause_image}'

[plugins.'io.containerd.cri.v1.runtime']
  # This VM lacks CAP_SYS_RESOURCE: a negative oom_score_adj is refused, so clamp it to containerd's own.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['{CNI_BIN_DIR}']
    conf_dir = '{dirs.cni_conf}'
    max_conf_num = 1
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '{bins.runc}'
        Root = '{dirs.runc_root}'
        SystemdCgroup = false

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
"""


def _cni_config(dirs: NodeDirs) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "localkube",
        "plugins": [
            {
                "type": "bridge",
                "bridge": hostnet.BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": hostnet.NODE_SUBNET, "gateway": hostnet.NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(dirs.cni_ipam),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def _kubelet_config(
    dirs: NodeDirs, pki: certs.Pki, node_pki: certs.NodePki, port: int, healthz_port: int, dns_ip: str
) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # This host mounts cgroup v1 controllers (hybrid); since 1.35 the kubelet refuses v1 unless told so.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "containerRuntimeEndpoint": f"unix://{dirs.containerd_sock}",
        "address": hostnet.NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki.ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(node_pki.kubelet_serving_cert),
        "tlsPrivateKeyFile": str(node_pki.kubelet_serving_key),
        "clusterDNS": [dns_ip],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": "",
        "podLogsDir": str(dirs.pod_logs),
        "volumePluginDir": str(dirs.base / "volume-plugins"),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        # Images cannot be pulled again here: never garbage-collect them, and do not evict on disk pressure of a
        # developer's machine.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        # The kubelet would otherwise set vm.overcommit_memory, kernel.panic*, ... (hostnet restores them anyway).
        "protectKernelDefaults": False,
        "shutdownGracePeriod": "0s",
        # A crashed container is restarted after at most 10 s (the default backoff doubles up to 300 s): the chaos
        # run (visionroll_demo.chaos) kills the operator's process 20 times in minutes. KEP-5593, beta since 1.35.
        "crashLoopBackOff": {"maxContainerRestartPeriod": "10s"},
        "maxPods": 110,
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "registerNode": True,
    }


def _kube_proxy_config(kubeconfig: Path, cluster_cidr: str, healthz_port: int, metrics_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": cluster_cidr,
        "hostnameOverride": NODE_NAME,
        "bindAddress": hostnet.NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "nodePortAddresses": [f"{hostnet.NODE_IP}/32"],
        # Leave the host's conntrack limits and timeouts as they are.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"syncPeriod": "30s", "minSyncPeriod": "0s"},
    }


def _corefile(kubeconfig: Path, port: int, ready_port: int) -> str:
    # No upstream: this machine has no network beyond its package registries, and pods need only cluster names.
    return f""".:{port} {{
    bind {hostnet.NODE_IP}
    errors
    ready 127.0.0.1:{ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} localkube
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
"""


def _host_service(name: str, ports: list[tuple[str, str, int, int]], cluster_ip: str | None) -> list[dict[str, Any]]:
    """A kube-system Service backed by a process on the host (the node's address): a Service without a selector and
    its EndpointSlice. ``ports``: (name, protocol, service port, host port)."""
    svc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"app.kubernetes.io/part-of": "localkube"}},
        "spec": {"ports": [{"name": n, "protocol": proto, "port": p, "targetPort": hp} for n, proto, p, hp in ports]},
    }
    if cluster_ip:
        svc["spec"]["clusterIP"] = cluster_ip
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-host",
            "namespace": "kube-system",
            "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "localkube"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [hostnet.NODE_IP], "conditions": {"ready": True}, "nodeName": NODE_NAME}],
        "ports": [{"name": n, "protocol": proto, "port": hp} for n, proto, _, hp in ports],
    }
    return [svc, slice_]


def _metrics_api_service(ca_bundle: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443},
            "caBundle": ca_bundle,
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }


def _env(bins: build.BinPaths) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    # containerd finds its shim on PATH; the kubelet and kube-proxy call iptables, mount, ...
    env["PATH"] = os.pathsep.join([str(bins.containerd.parent), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    return env


@dataclass
class NodeStart:
    """What :func:`start` needs from the control plane."""

    run_dir: Path
    supervisor: Supervisor
    bins: build.BinPaths
    pki: certs.Pki
    node_pki: certs.NodePki
    admin_kubeconfig: Path
    service_cidr: str
    cluster_cidr: str
    write_kubeconfig: Callable[[Path, Path, Path], None]  # (path, client cert, client key)
    kubectl: Callable[..., subprocess.CompletedProcess[str]]
    mark: Callable[[str], None]
    network_policy: bool = False  # run the NetworkPolicy enforcer (localkube.netpol)


def ctr(bins: build.BinPaths, dirs: NodeDirs, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(bins.ctr), "--address", str(dirs.containerd_sock), "--namespace", "k8s.io", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise NodeError(f"ctr {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def crictl(bins: build.BinPaths, dirs: NodeDirs, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bins.crictl), "--runtime-endpoint", f"unix://{dirs.containerd_sock}", "--timeout", "30s", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _start_containerd(sup: Supervisor, dirs: NodeDirs, bins: build.BinPaths, pause_image: str, timeout: float) -> Proc:
    """Start the node's containerd (with its configuration in ``dirs``) and wait until it answers."""
    cfg = dirs.base / "containerd.toml"
    cfg.write_text(_containerd_config(dirs, bins, pause_image))
    containerd = sup.start("containerd", [str(bins.containerd), "--config", str(cfg), "--log-level=warn"], _env(bins))
    wait_until(
        "containerd",
        lambda: ctr(bins, dirs, "version", check=False).returncode == 0,
        timeout,
        interval=0.1,
        alive=containerd.check_alive,
    )
    return containerd


def start(
    ctx: NodeStart, import_images: Callable[[Path, str], None], pause_image: str, left: Callable[[], float]
) -> None:
    """Start the node's processes and wait until the node is Ready and DNS answers. ``import_images(ctr, address)``
    brings the locally built images into containerd (a warm cache imports nothing)."""
    check_host()
    if ctx.network_policy:
        netpol.check_host()
    dirs = NodeDirs(ctx.run_dir)
    check_run_dir(dirs)
    for d in (dirs.containerd_state, dirs.runc_root, dirs.cni_conf, dirs.cni_ipam, dirs.kubelet_root, dirs.pod_logs):
        d.mkdir(parents=True, exist_ok=True)
    (containerd_root() / "root").mkdir(parents=True, exist_ok=True)
    node_pki = ctx.node_pki
    env = _env(ctx.bins)
    sup = ctx.supervisor

    # containerd (+ runc): the container runtime.
    containerd = _start_containerd(sup, dirs, ctx.bins, pause_image, left())
    ctx.mark("containerd")
    _remove_all_pods(ctx.bins, dirs)  # anything a crashed earlier run left in the persistent root
    import_images(ctx.bins.ctr, str(dirs.containerd_sock))
    ctx.mark("images")

    (dirs.cni_conf / "10-localkube.conflist").write_text(json.dumps(_cni_config(dirs), indent=1))
    for d in _v1_cgroup_dirs():
        with contextlib.suppress(OSError):
            (d / CGROUP_ROOT).mkdir(exist_ok=True)
    _weigh_pods_cpu()

    # kubelet: client cert system:node:<name> (Node authorizer), serving cert signed by the cluster CA.
    kubelet_kc = dirs.base / "kubelet.kubeconfig"
    ctx.write_kubeconfig(kubelet_kc, node_pki.kubelet_client_cert, node_pki.kubelet_client_key)
    dns_ip = dns_service_ip(ctx.service_cidr)
    kubelet_port, kubelet_healthz = free_port(), free_port()
    kubelet_cfg = dirs.base / "kubelet.json"
    kubelet_cfg.write_text(
        json.dumps(_kubelet_config(dirs, ctx.pki, node_pki, kubelet_port, kubelet_healthz, dns_ip), indent=1)
    )
    kubelet = sup.start(
        "kubelet",
        [
            str(ctx.bins.kubelet),
            f"--config={kubelet_cfg}",
            f"--kubeconfig={kubelet_kc}",
            f"--root-dir={dirs.kubelet_root}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={hostnet.NODE_IP}",
            "--v=1",
        ],
        env,
    )

    # kube-proxy: iptables mode, as system:kube-proxy.
    proxy_kc = dirs.base / "kube-proxy.kubeconfig"
    ctx.write_kubeconfig(proxy_kc, node_pki.kube_proxy_cert, node_pki.kube_proxy_key)
    proxy_healthz, proxy_metrics = free_port(), free_port()
    proxy_cfg = dirs.base / "kube-proxy.json"
    proxy_cfg.write_text(
        json.dumps(_kube_proxy_config(proxy_kc, ctx.cluster_cidr, proxy_healthz, proxy_metrics), indent=1)
    )
    proxy = sup.start("kube-proxy", [str(ctx.bins.kube_proxy), f"--config={proxy_cfg}", "--v=1"], env)

    # NetworkPolicy (optional): kube-router's firewall only, as localkube:network-policy (read-only rights).
    enforcer: Proc | None = None
    enforcer_health = 0
    if ctx.network_policy:
        ctx.kubectl(
            "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": netpol.rbac_objects()})
        )
        np_cert, np_key = netpol.client_cert(ctx.pki)
        np_kc = dirs.base / "network-policy.kubeconfig"
        ctx.write_kubeconfig(np_kc, np_cert, np_key)
        # kube-router jumps first in filter/FORWARD and accepts there, before hostnet's guard: guard mangle too.
        hostnet.add_guard("mangle")
        enforcer_health = free_port()
        enforcer = sup.start(
            netpol.COMPONENT,
            netpol.argv(ctx.bins.kube_router, np_kc, NODE_NAME, ctx.service_cidr, enforcer_health),
            env,
        )

    # CoreDNS on the node's address behind the kube-dns Service.
    dns_port, dns_ready = free_port(), free_port()
    corefile = dirs.base / "Corefile"
    corefile.write_text(_corefile(ctx.admin_kubeconfig, dns_port, dns_ready))
    coredns = sup.start("coredns", [str(ctx.bins.coredns), "-conf", str(corefile)], env)

    # metrics-server: the resource metrics API (kubectl top, HPAs on CPU), scraping the kubelet with a client
    # certificate and verifying the kubelet's serving certificate against the cluster CA.
    ms_port = free_port()
    metrics_server = sup.start(
        "metrics-server",
        [
            str(ctx.bins.metrics_server),
            f"--kubeconfig={ctx.admin_kubeconfig}",
            f"--authentication-kubeconfig={ctx.admin_kubeconfig}",
            f"--authorization-kubeconfig={ctx.admin_kubeconfig}",
            f"--bind-address={hostnet.NODE_IP}",
            f"--secure-port={ms_port}",
            f"--tls-cert-file={node_pki.metrics_server_cert}",
            f"--tls-private-key-file={node_pki.metrics_server_key}",
            f"--kubelet-certificate-authority={ctx.pki.ca_cert}",
            f"--kubelet-client-certificate={node_pki.apiserver_kubelet_client_cert}",
            f"--kubelet-client-key={node_pki.apiserver_kubelet_client_key}",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",  # the kubelet listens on a free port, not 10250
            "--metric-resolution=10s",
            "--kubelet-request-timeout=5s",
            "--v=1",
        ],
        env,
    )
    objects = [
        *_host_service("kube-dns", [("dns", "UDP", 53, dns_port), ("dns-tcp", "TCP", 53, dns_port)], dns_ip),
        *_host_service("metrics-server", [("https", "TCP", 443, ms_port)], None),
        _metrics_api_service(base64.b64encode(ctx.pki.ca_cert.read_bytes()).decode()),
    ]
    ctx.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    procs = [containerd, kubelet, proxy, coredns, metrics_server, *([enforcer] if enforcer else [])]

    def all_alive() -> None:
        for p in procs:
            p.check_alive()

    def node_ready() -> bool:
        node = json.loads(ctx.kubectl("get", "node", NODE_NAME, "-o", "json", check=False).stdout or "{}")
        conds = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    wait_until(f"node {NODE_NAME} Ready", node_ready, left(), interval=0.3, alive=all_alive)
    ctx.mark("node Ready")
    wait_until(
        "kube-proxy /healthz",
        lambda: http_get(f"http://127.0.0.1:{proxy_healthz}/healthz") is not None,
        left(),
        interval=0.2,
        alive=all_alive,
    )
    wait_until(
        "CoreDNS ready", lambda: http_get(f"http://127.0.0.1:{dns_ready}/ready") == b"OK", left(), alive=all_alive
    )
    ctx.mark("kube-proxy + DNS")
    if enforcer is not None:
        # Healthy, and its top-level chains are in place (they exist once the policy controller has started).
        wait_until(
            "kube-router /healthz and its KUBE-ROUTER-FORWARD chain",
            lambda: (
                http_get(f"http://127.0.0.1:{enforcer_health}/healthz") is not None
                and subprocess.run(
                    ["iptables", "-w", "-t", "filter", "-S", "KUBE-ROUTER-FORWARD"], capture_output=True
                ).returncode
                == 0
            ),
            left(),
            interval=0.2,
            alive=all_alive,
        )
        ctx.mark("network policy")
    ports = {"kubelet-healthz": kubelet_healthz, "coredns": dns_port, "metrics-server": ms_port}
    if enforcer is not None:
        ports["kube-router-healthz"] = enforcer_health
    state = {
        "node": NODE_NAME,
        "node_ip": hostnet.NODE_IP,
        "dns_ip": dns_ip,
        "containerd": str(dirs.containerd_sock),
        "kubelet_port": kubelet_port,
        "ports": ports,
        "network_policy": ctx.network_policy,
    }
    (ctx.run_dir / STATE_FILE).write_text(json.dumps(state, indent=1))


def preload_images(run_dir: Path, import_images: Callable[[Path, str], None], pause_image: str) -> bool:
    """Import the images pods run into the node's containerd root with no node running: containerd alone, started on
    the node's configuration in ``run_dir`` and stopped after (nothing else of a node starts). `localkube bins` does
    it beside the rest of the Go build, so that the first node start, which would import them, imports nothing.
    Returns False, having done nothing, when a node's containerd already runs: it owns the root, and imports at its
    own start."""
    bins = build.bin_paths()
    if _processes_of(bins.containerd):  # of any run directory
        return False
    dirs = NodeDirs(run_dir)
    check_run_dir(dirs)
    dirs.containerd_state.mkdir(parents=True, exist_ok=True)
    (containerd_root() / "root").mkdir(parents=True, exist_ok=True)
    sup = Supervisor(run_dir, die_with_parent=True)
    try:
        _start_containerd(sup, dirs, bins, pause_image, 60)
        import_images(bins.ctr, str(dirs.containerd_sock))
    finally:
        sup.stop_all()
        _unmount_under([dirs.base, containerd_root()])
    return True


def _remove_all_pods(bins: build.BinPaths, dirs: NodeDirs) -> None:
    """Stop and remove every pod sandbox and container through CRI (CNI teardown and netns included)."""
    proc = crictl(bins, dirs, "rmp", "--all", "--force", timeout=120)
    if proc.returncode != 0 and "no such file" not in proc.stderr.lower():
        crictl(bins, dirs, "rmp", "--all", "--force", timeout=120)


def _mounts_under(paths: list[Path]) -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        if any(mount_point == str(p) or mount_point.startswith(str(p) + "/") for p in paths):
            found.append(mount_point)
    return found


def _unmount_under(paths: list[Path]) -> list[str]:
    """Lazily unmount every mount under ``paths``, deepest first; returns those unmounted."""
    mounts = sorted(_mounts_under(paths), key=len, reverse=True)
    return [m for m in mounts if subprocess.run(["umount", "-l", m], capture_output=True).returncode == 0]


def _processes_of(exe: Path) -> list[int]:
    """The process ids of the programs running ``exe``."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(p / "exe") == str(exe):
                    pids.append(int(p.name))
    return pids


def _shims(bins: build.BinPaths) -> list[int]:
    return _processes_of(bins.containerd_shim)


def stop_and_clean(run_dir: Path, supervisor: Supervisor, stop_all: Callable[[], None]) -> None:
    """Stop the node and the control plane, then remove what they leave: pods and containers, shims, mounts,
    cgroups, network. ``stop_all`` stops every recorded process."""
    bins = build.bin_paths()
    dirs = NodeDirs(run_dir)
    procs = {p.name: p for p in supervisor.procs}
    kubelet: Proc | None = procs.get("kubelet")
    containerd: Proc | None = procs.get("containerd")
    if kubelet is not None and kubelet.running():
        Supervisor._stop(kubelet, 15.0)  # first, so that it does not restart what is removed next
    if containerd is not None and containerd.running() and dirs.containerd_sock.exists():
        _remove_all_pods(bins, dirs)
    stop_all()
    cleanup(run_dir)


def cleanup(run_dir: Path) -> list[str]:
    """Remove what a stopped node leaves: shims and their containers, mounts, cgroups, the network. Returns what it
    had to remove (empty when the node had cleaned up after itself)."""
    bins = build.bin_paths()
    dirs = NodeDirs(run_dir)
    removed: list[str] = []
    for pid in _shims(bins):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
            removed.append(f"shim pid {pid}")
    deadline = time.monotonic() + 10
    while _shims(bins) and time.monotonic() < deadline:
        time.sleep(0.1)
    removed += [f"mount {m}" for m in _unmount_under([dirs.base, containerd_root()])]
    for d in _v1_cgroup_dirs():
        root = d / CGROUP_ROOT
        if root.is_dir():
            for sub in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    sub.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()
                removed.append(f"cgroup {root}")
    hostnet.teardown(run_dir)
    removed += netpol.remove_ipsets()  # after the chains: a set a rule still refers to cannot be destroyed
    return removed


def leftovers(run_dir: Path | None = None) -> list[str]:
    """Whatever a node left on this machine: processes, mounts, cgroups, network (for tests of `down`)."""
    bins = build.bin_paths()
    found = [f"shim pid {pid}" for pid in _shims(bins)]
    names = {
        "containerd",
        "kubelet",
        "kube-proxy",
        "coredns",
        "metrics-server",
        "containerd-shim-runc-v2",
        netpol.COMPONENT,
    }
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                exe = os.readlink(p / "exe")
                if exe.startswith(str(build.cache_root() / "bin")) and Path(exe).name in names:
                    found.append(f"process {Path(exe).name} pid {p.name}")
    paths = [containerd_root()] + ([NodeDirs(run_dir).base] if run_dir else [])
    found += [f"mount {m}" for m in _mounts_under(paths)]
    if run_dir is None:
        found += [f"mount {m}" for m in _mounts_under([Path("/")]) if "/node/kubelet/" in m or "/node/containerd/" in m]
    found += [f"cgroup {d / CGROUP_ROOT}" for d in _v1_cgroup_dirs() if (d / CGROUP_ROOT).exists()]
    found += hostnet.leftovers()
    found += netpol.leftovers()
    return found

"""NetworkPolicy enforcement on the real node: kube-router's network policy controller, and nothing else of it.

The bridge CNI plugin ignores NetworkPolicy. kube-router's firewall (``--run-firewall``) implements it with iptables
and ipsets in the host's filter table: a ``KUBE-ROUTER-FORWARD`` chain (plus ``-INPUT`` / ``-OUTPUT``) sends
traffic to and from each local pod through a per-pod chain ``KUBE-POD-FW-*``, which applies the policies selecting
that pod (``KUBE-NWPLCY-*`` chains matching ``KUBE-SRC-*`` / ``KUBE-DST-*`` ipsets of pod addresses). Bridged
traffic between two pods on ``lkbr0`` passes the FORWARD chain because br_netfilter is on (hostnet). Its BGP router
and its service proxy (IPVS) are not run: kube-proxy keeps Services, and the advisory GHSA-phqm-jgc3-qf8g concerns
the service proxy only.

What it means for the host: kube-router accepts every packet to a local pod whose source is an address of this
host (``-m addrtype --src-type LOCAL``), so the kubelet's probes, Prometheus and tests on the host and the host's
connections to ClusterIPs (source: the node's address) are never filtered; pods' own egress is filtered only by
policies with ``Egress``.

Two things the node does besides starting it:

- an identity of its own: a client certificate of the cluster CA for the user ``localkube:network-policy``, bound
  to a ClusterRole that reads (get/list/watch) exactly the kinds its informers watch;
- a second copy of the guard that keeps pod packets on this machine, in the mangle table: kube-router keeps its
  jump at the top of the filter FORWARD chain and ACCEPTs policy-compliant traffic there, before hostnet's
  ``LOCALKUBE-GUARD`` would see it.

Everything it leaves is removed by :func:`remove_ipsets` after hostnet has removed the chains (a set still referenced
by a rule cannot be destroyed); its chains carry the ``KUBE-`` prefix hostnet already removes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from localkube import certs

COMPONENT = "kube-router"
USER = "localkube:network-policy"
ROLE = "localkube:network-policy"
# The ipsets kube-router's firewall creates: KUBE-SRC-*, KUBE-DST-* (and "inet6:"-prefixed ones with IPv6, off here).
IPSET_PREFIXES = ("KUBE-", "inet6:KUBE-")


class NetpolError(RuntimeError):
    pass


def check_host() -> None:
    if shutil.which("ipset") is None:
        raise NetpolError(
            "`ipset` is not installed (make system-deps installs it): the NetworkPolicy enforcer needs it"
        )


def client_cert(pki: certs.Pki) -> tuple[Path, Path]:
    """A client certificate of the cluster CA for :data:`USER` (no group: its rights are its ClusterRole's only)."""
    cert, key = pki.dir / "network-policy.crt", pki.dir / "network-policy.key"
    certs.client_certificate(pki, USER, cert, key)
    return cert, key


def rbac_objects() -> list[dict[str, Any]]:
    """Read-only rights on what kube-router's informers watch (its informer factory starts all seven even with only
    the firewall on) and ``get`` on nodes (it looks up its own node at start)."""
    labels = {"app.kubernetes.io/part-of": "localkube"}
    read = ["get", "list", "watch"]
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": ROLE, "labels": labels},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "namespaces", "nodes", "services", "endpoints"],
                    "verbs": read,
                },
                {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": ROLE, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
        },
    ]


def argv(binary: Path, kubeconfig: Path, node_name: str, service_cidr: str, health_port: int) -> list[str]:
    """kube-router with its network policy controller only. It calls `iptables`, `iptables-save`/`-restore` and
    `ipset` from PATH, as kube-proxy does: both use Debian's alternatives (nf_tables backend), never a mix."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node_name}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        "--enable-cni=false",
        "--enable-ipv4=true",
        "--enable-ipv6=false",
        f"--service-cluster-ip-range={service_cidr}",
        f"--health-port={health_port}",
        "--metrics-port=0",
        # A policy change applies at once (informer events); the full resync only repairs drift.
        "--iptables-sync-period=1m",
        "--v=1",
    ]


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetpolError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc


def _ipsets() -> list[str]:
    if shutil.which("ipset") is None:
        return []
    out = _run("ipset", "list", "-n", check=False).stdout
    return [name for name in out.split() if name.startswith(IPSET_PREFIXES)]


def remove_ipsets() -> list[str]:
    """Destroy the enforcer's ipsets (call after its iptables rules are gone). Returns what was removed."""
    removed = []
    for name in _ipsets():
        _run("ipset", "flush", name, check=False)
        if _run("ipset", "destroy", name, check=False).returncode == 0:
            removed.append(f"ipset {name}")
    return removed


def leftovers() -> list[str]:
    return [f"ipset {name}" for name in _ipsets()]

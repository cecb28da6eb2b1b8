"""The host side of a real node's network: a bridge for pod addresses with the node's address on it, the sysctls a
node needs, a guard that keeps pod traffic on this machine, and a teardown that leaves nothing behind.

Pods get addresses from ``NODE_SUBNET`` on the bridge ``BRIDGE`` (through the CNI bridge plugin); the node's address
``NODE_IP`` is the bridge's own, so the host reaches pods directly and pods reach the host (API server, DNS,
metrics-server). Service addresses are routed to the bridge too, so a packet for an address without a Service never
leaves the machine. The kubelet and kube-proxy add their own ``KUBE-*`` chains and the CNI plugins ``CNI-*`` chains;
:func:`teardown` removes every chain of those prefixes, for IPv4 and IPv6, and restores every sysctl it recorded.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
from pathlib import Path

BRIDGE = "lkbr0"
NODE_IP = "10.244.0.1"
NODE_SUBNET = "10.244.0.0/24"
# The bridge's own hardware address, set once. A Linux bridge given none takes the lowest of its ports' and changes
# it as veths come and go; when the pod holding the lowest leaves, every other pod's cached address for the node
# (their gateway, and the way to Services and the host) names a port that is gone, and their packets are lost until
# the entry is resolved again. Measured in a network namespace: 45.6 s without an answer; with a set address, 0.02 s.
# CI runs lost client requests to this (a router answering 8.3 s late, 5 s client timeouts after pod churn).
BRIDGE_MAC = "02:00:0a:f4:00:01"  # locally administered, unicast; the last four bytes are NODE_IP's
PREFIX_LEN = 24
GUARD_CHAIN = "LOCALKUBE-GUARD"
CHAIN_PREFIXES = ("KUBE-", "CNI-", "LOCALKUBE-")
TABLES = ("filter", "nat", "mangle")
# Every sysctl that the node's components (this module, the kubelet, kube-proxy) may change: recorded before the
# start, restored by teardown.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/ipv4/conf/all/route_localnet",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
STATE_FILE = "hostnet.json"


class HostNetError(RuntimeError):
    pass


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise HostNetError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def _read_sysctls() -> dict[str, str]:
    values: dict[str, str] = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    return values


def _write_sysctl(name: str, value: str) -> None:
    _sysctl_path(name).write_text(value + "\n")


def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def setup(run_dir: Path, service_cidr: str) -> None:
    """Create the bridge with the node's address, route ``service_cidr`` to it, enable forwarding and bridge
    netfilter, and guard against pod traffic leaving the machine. Records what it changed in ``run_dir``."""
    if bridge_exists():
        raise HostNetError(
            f"network interface {BRIDGE} exists: another localkube node runs here (stop it with "
            "`python -m localkube down`), or one was not cleaned up (`python -m localkube down` cleans it)"
        )
    state = {"sysctls": _read_sysctls(), "service_cidr": service_cidr}
    (run_dir / STATE_FILE).write_text(json.dumps(state, indent=1))
    _run("ip", "link", "add", BRIDGE, "address", BRIDGE_MAC, "type", "bridge")
    _run("ip", "addr", "add", f"{NODE_IP}/{PREFIX_LEN}", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    _run("ip", "route", "add", service_cidr, "dev", BRIDGE, "src", NODE_IP)
    _write_sysctl("net/ipv4/ip_forward", "1")
    # Pod-to-Service-to-pod on one bridge needs iptables to see bridged packets (kube-proxy's DNAT).
    if not _sysctl_path("net/bridge/bridge-nf-call-iptables").exists():
        raise HostNetError("br_netfilter is not available: /proc/sys/net/bridge/bridge-nf-call-iptables is missing")
    _write_sysctl("net/bridge/bridge-nf-call-iptables", "1")
    # Pods may talk to each other and to this host, never to another machine: nothing forwarded from the bridge
    # leaves through any other interface.
    add_guard("filter")


def add_guard(table: str) -> None:
    """In ``table``, drop what is forwarded from the bridge to any other interface, ahead of every FORWARD rule.
    :func:`teardown` removes the chain from every table."""
    _run("iptables", "-w", "-t", table, "-N", GUARD_CHAIN)
    _run("iptables", "-w", "-t", table, "-A", GUARD_CHAIN, "-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP")
    _run("iptables", "-w", "-t", table, "-I", "FORWARD", "1", "-j", GUARD_CHAIN)


def _chains(iptables: str, table: str) -> list[str]:
    out = _run(iptables, "-w", "-t", table, "-S", check=False).stdout
    return [line.split()[1] for line in out.splitlines() if line.startswith("-N ")]


def _ours(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def remove_chains() -> list[str]:
    """Delete every KUBE-/CNI-/LOCALKUBE- chain and every rule that jumps to one, in IPv4 and IPv6. Returns what
    was removed."""
    removed: list[str] = []
    for iptables in ("iptables", "ip6tables"):
        for table in TABLES:
            out = _run(iptables, "-w", "-t", table, "-S", check=False).stdout
            # Rules in built-in chains that jump to ours: delete them by their spec ("-A X ..." -> "-D X ...").
            for line in out.splitlines():
                parts = shlex.split(line)  # comments are quoted and hold spaces
                if len(parts) > 2 and parts[0] == "-A" and not _ours(parts[1]):
                    target = parts[parts.index("-j") + 1] if "-j" in parts else ""
                    if _ours(target):
                        _run(iptables, "-w", "-t", table, "-D", *parts[1:], check=False)
            chains = [c for c in _chains(iptables, table) if _ours(c)]
            for chain in chains:
                _run(iptables, "-w", "-t", table, "-F", chain, check=False)
            for chain in chains:
                if _run(iptables, "-w", "-t", table, "-X", chain, check=False).returncode == 0:
                    removed.append(f"{iptables}/{table}/{chain}")
    return removed


def leftovers() -> list[str]:
    """What of a node's network is still here: the bridge, veths on it, KUBE-/CNI- chains, CNI network namespaces."""
    found: list[str] = []
    if bridge_exists():
        found.append(f"interface {BRIDGE}")
    for link in Path("/sys/class/net").iterdir():
        if link.name.startswith("veth") and (link / "master").exists() and (link / "master").resolve().name == BRIDGE:
            found.append(f"interface {link.name}")
    for iptables in ("iptables", "ip6tables"):
        for table in TABLES:
            found += [f"{iptables}/{table} chain {c}" for c in _chains(iptables, table) if _ours(c)]
    netns = Path("/run/netns")
    if netns.is_dir():
        found += [f"netns {p.name}" for p in netns.iterdir() if p.name.startswith("cni-")]
    return found


def teardown(run_dir: Path) -> None:
    """Undo :func:`setup` and whatever the node's components added: chains, the bridge (its routes go with it),
    leftover CNI network namespaces, sysctls. Safe to call twice, or after a crash."""
    remove_chains()
    if bridge_exists():
        _run("ip", "link", "delete", BRIDGE, check=False)
    netns = Path("/run/netns")
    if netns.is_dir():
        for p in netns.iterdir():
            if p.name.startswith("cni-"):
                _run("ip", "netns", "delete", p.name, check=False)
    state_path = run_dir / STATE_FILE
    if state_path.exists():
        state = json.loads(state_path.read_text())
        for name, value in state.get("sysctls", {}).items():
            with contextlib.suppress(OSError):
                if _sysctl_path(name).read_text().strip() != value:
                    _write_sysctl(name, value)
        state_path.unlink()

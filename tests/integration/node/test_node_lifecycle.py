"""`python -m localkube up` starts a real node that runs pods; `down` leaves no process, container, mount, cgroup,
network interface, iptables chain or ipset behind (the node runs its NetworkPolicy enforcer here, which makes
ipsets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from localkube import build, images, netpol, node
from localkube.cluster import NETWORK_POLICY_ENV, LocalCluster
from localkube.procs import Supervisor, _pid_alive
from localkube.testing import NodeClusters
from support.kube import wait

pytestmark = [pytest.mark.slow, pytest.mark.node]


def _localkube(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env[NETWORK_POLICY_ENV] = "1"  # the enforcer's chains and ipsets must go too
    return subprocess.run(
        [sys.executable, "-m", "localkube", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a node's unix sockets live in its run directory (node.check_run_dir), and
    pytest's own temporary directories are long under pytest-xdist."""
    with tempfile.TemporaryDirectory(prefix="lk-", dir="/tmp") as name:
        yield Path(name)


def test_up_runs_pods_and_down_leaves_nothing_behind(node_clusters: NodeClusters, short_dir: Path) -> None:
    node_clusters.release()  # one node per machine: the session's is started again by the next test that needs it
    assert node.leftovers() == [], "a node was already running before this test"
    run_dir = short_dir / "up"
    up = _localkube("up", "--run-dir", str(run_dir), "--no-prometheus", timeout=600)
    try:
        assert up.returncode == 0, up.stderr
        assert f"export KUBECONFIG={run_dir / 'kubeconfig'}" in up.stdout
        cluster = LocalCluster.attach(run_dir)
        _only_current_images_stay(node.NodeDirs(run_dir))
        ns = cluster.create_namespace("leftovers")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sleeper"},
            "spec": {
                "automountServiceAccountToken": True,  # a projected volume: a tmpfs mount under the kubelet's root
                "containers": [
                    {
                        "name": "main",
                        "image": images.SERVING_IMAGE,
                        "command": ["python", "-c", "import time; time.sleep(3600)"],
                    }
                ],
            },
        }
        cluster.apply(pod, namespace=ns)
        policy = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny-ingress"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }
        cluster.apply(policy, namespace=ns)
        wait(
            "the pod to run",
            lambda: cluster.kubectl_json("get", "pod", "sleeper", "-n", ns)["status"].get("phase") == "Running",
            timeout=120,
            interval=1,
        )
        _pods_weigh_more_than_a_host_thread()
        running = node.leftovers(run_dir)
        # The probe sees a running node: what it reports after `down` is therefore meaningful.
        assert any(x.startswith("interface") for x in running), running
        assert any(x.startswith("mount") for x in running), running
        assert any("KUBE-SERVICES" in x for x in running), running
        wait("the enforcer's ipsets", lambda: netpol.leftovers(), timeout=60, interval=1)
        assert any("KUBE-ROUTER-FORWARD" in x for x in node.leftovers(run_dir)), running
        recorded = [(p.pid, p.argv[0]) for p in Supervisor.load(run_dir).procs]
        assert {Path(exe).name for _, exe in recorded} >= {
            "containerd",
            "kubelet",
            "kube-proxy",
            "kube-apiserver",
            netpol.COMPONENT,
        }
    finally:
        down = _localkube("down", "--run-dir", str(run_dir), timeout=300)
    assert down.returncode == 0, down.stderr
    assert node.leftovers(run_dir) == []
    assert [pid for pid, exe in recorded if _pid_alive(pid, exe)] == []
    state = json.loads((run_dir / "state.json").read_text())
    assert state["mode"] == "node"


def _pods_weigh_more_than_a_host_thread() -> None:
    """The node's cgroup has its CPU weight, and the pod's processes are under it (where cgroup v1's cpu controller
    is mounted; this machine has it)."""
    cpu = Path("/sys/fs/cgroup/cpu")
    if not (cpu / "cpu.shares").exists():
        pytest.skip("no cgroup v1 cpu controller on this host")
    assert int((cpu / node.CGROUP_ROOT / "cpu.shares").read_text()) == node.pods_cpu_shares() >= 4096
    pods = [f.read_text().split() for f in (cpu / node.CGROUP_ROOT).glob("kubepods*/**/pod*/*/cgroup.procs")]
    assert any(pods), "no process of a pod under the node's cgroup"


def _only_current_images_stay(dirs: node.NodeDirs) -> None:
    """Images of earlier builds (names the import no longer gives, like the runtime's by-ID names of an old build)
    are removed at the next start, so containerd's store does not grow by a serving image per build."""
    bins = build.bin_paths()
    node.ctr(bins, dirs, "images", "tag", images.PAUSE_IMAGE, "localhost/visionroll/earlier-build:0")

    def names() -> set[str]:
        listed = node.ctr(bins, dirs, "images", "ls", "--quiet").stdout.split()
        return set(listed)

    assert "localhost/visionroll/earlier-build:0" in names()
    images.import_into_containerd(bins.ctr, str(dirs.containerd_sock))
    left = names()
    assert "localhost/visionroll/earlier-build:0" not in left
    assert set(images.image_names()) <= left
    assert left <= set(images.image_names()) | {info.image_id for info in images.ensure_images().values()}


def test_preload_imports_the_images_with_no_node_running_and_leaves_nothing_behind(
    node_clusters: NodeClusters, short_dir: Path
) -> None:
    """`make bins` imports the images into the node's containerd beside the Go build (`localkube preload`), so that
    the first node start imports nothing: containerd alone starts, imports what is missing, and stops."""
    node_clusters.release()
    assert node.leftovers() == [], "a node was already running before this test"
    infos = images.ensure_images()

    def remove_pause(ctr: Path, address: str) -> None:
        rm = [str(ctr), "--address", address, "--namespace", "k8s.io", "images", "rm", "--sync", images.PAUSE_IMAGE]
        subprocess.run(rm, check=True, capture_output=True, timeout=120)

    assert node.preload_images(short_dir / "remove", remove_pause, images.PAUSE_IMAGE)
    assert node.leftovers() == []

    preload = _localkube("preload", timeout=600)
    assert preload.returncode == 0, preload.stderr
    assert f"imported {images.PAUSE_IMAGE} into containerd" in preload.stderr, preload.stderr
    assert "the images are in the node's containerd" in preload.stderr, preload.stderr
    assert node.leftovers() == []

    keys: dict[str, str] = {}

    def read_keys(ctr: Path, address: str) -> None:
        keys.update(images.containerd_keys(ctr, address, "k8s.io"))

    assert node.preload_images(short_dir / "check", read_keys, images.PAUSE_IMAGE)
    assert {name: keys.get(name) for name in images.image_names()} == {
        name: infos[name].key for name in images.image_names()
    }
    assert node.leftovers() == []  # containerd included

    # With a node running, its containerd owns the store: preload does nothing.
    node_clusters.get()
    again = _localkube("preload", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "skipped (a node's containerd runs" in again.stderr, again.stderr

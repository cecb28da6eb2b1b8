"""On the real node: spec.model.digest is checked by the init container, and a wrong one ends the rollout with the
reason in the VisionModel's status.

The operator (a local process, watching the test's namespace) serves digits 1.0, pinned to its real digest; then
2.0 is applied with a digest that is not 2.0's. The candidate's fetch-model init container downloads the archive from
the host's file server, refuses it (exit 3, both digests in its termination message), the operator reads that from
the pod's status and rolls the candidate back: status.history's last entry and status.message carry the reason, and
the stable keeps serving 1.0."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localkube import hostnet, images
from localkube.cluster import LocalCluster
from localkube.fileserver import serve_directory
from localkube.operator_process import OperatorProcess, install_crd
from support.kube import wait
from visionroll_demo.stack import manifest
from visionroll_serving import build as model_build

pytestmark = [pytest.mark.slow, pytest.mark.node, pytest.mark.torchserve]


@pytest.fixture
def archives(node_cluster: LocalCluster) -> Iterator[tuple[str, Path]]:
    """(URL of the archives directory on the node's address, the directory)."""
    result = model_build.build()
    directory = next(iter(result.archives.values())).parent
    with serve_directory(directory, host=hostnet.NODE_IP) as url:
        yield url, directory


def _digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _vm(namespace: str, url: str, version: str, digest: str) -> dict[str, Any]:
    vm = manifest(namespace, url, version, {"strategy": "immediate"})
    vm["spec"]["model"]["digest"] = digest
    vm["spec"]["serving"]["image"] = images.SERVING_IMAGE
    return vm


def test_an_archive_with_another_digest_is_rolled_back_with_the_reason_in_status(
    node_cluster: LocalCluster, node_namespace: str, archives: tuple[str, Path], tmp_path: Path
) -> None:
    ns, (url, directory) = node_namespace, archives
    install_crd(node_cluster.kubectl)
    op = OperatorProcess(
        node_cluster.kubeconfig,
        namespace=ns,
        log_path=tmp_path / "operator.log",
        resync_seconds=2,
        extra_env={"VISIONROLL_ROUTER_IMAGE": images.ROUTER_IMAGE},
    )
    op.start()
    try:
        op.wait_healthy()

        def status() -> dict[str, Any]:
            got: dict[str, Any] = node_cluster.kubectl_json("get", "visionmodel", "digits", "-n", ns)
            return dict(got.get("status") or {})

        node_cluster.apply(_vm(ns, url, "1.0", _digest(directory / "digits-1.0.mar")))
        wait("digits 1.0 stable", lambda: status().get("phase") == "Stable", timeout=60)
        wrong = _digest(directory / "digits-1.0.mar")  # 1.0's bytes pinned for 2.0's archive
        node_cluster.apply(_vm(ns, url, "2.0", wrong))
        done = wait(
            lambda: f"2.0 rolled back; status: {status()}\noperator log:\n{op.log_tail(40)}",
            lambda: s if (s := status()).get("phase") == "RolledBack" else None,
            timeout=300,
            interval=2,
        )
        archive = f"{url}/digits-2.0.mar"
        reason = (
            f"candidate pods failed: init container fetch-model: archive {archive} has digest "
            f"{_digest(directory / 'digits-2.0.mar')}, but spec.model.digest is {wrong}: "
            "refusing to serve an archive that is not the one published"
        )
        assert done["history"][-1]["version"] == "2.0"
        assert done["history"][-1]["reason"] == reason
        assert reason in done["message"]
        assert done["stable"]["version"] == "1.0"
        assert done["weights"] == {"stable": 100, "candidate": 0}
        events = node_cluster.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=digits")
        assert "has digest" in events.stdout, events.stdout
    finally:
        # Gone while the operator runs: its finalizer lets the VisionModel go, and the namespace with it.
        node_cluster.kubectl("delete", "visionmodel", "digits", "-n", ns, "--ignore-not-found", "--wait=true",
                             timeout=120, check=False)  # fmt: skip
        op.stop()

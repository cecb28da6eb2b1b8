"""The operator, authenticated as the chart's ServiceAccount, does its whole job with the chart's RBAC (the namespaced
Role, or the ClusterRole while the operator watches the test's namespace only, so it leaves other tests alone):
a VisionModel becomes Ready with every owned object written, and nothing it does is forbidden, neither by RBAC nor by
the chart's admission policy on what the operator writes. The router runs as the chart's ServiceAccount: the operator
writes no ServiceAccount or RBAC object.

The operator runs as a local process (`localkube.operator_process.OperatorProcess`) with a token of the
ServiceAccount the chart installed: no image is needed, the permissions are exactly the in-cluster ones."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from localkube.operator_process import OperatorProcess

CHART = Path(__file__).resolve().parents[3] / "charts" / "visionroll"

pytestmark = pytest.mark.slow


def _sa_kubeconfig(cluster: Any, namespace: str, sa: str, path: Path) -> Path:
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    current = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    server = next(c for c in admin["clusters"] if c["name"] == current["cluster"])["cluster"]
    token = cluster.kubectl("create", "token", sa, "-n", namespace, "--duration=1h").stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": server}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": sa, "namespace": namespace}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _ready(cluster: Any, namespace: str, name: str) -> dict[str, Any] | None:
    vm = cluster.kubectl_json("get", "visionmodel", name, "-n", namespace)
    for cond in vm.get("status", {}).get("conditions", []):
        if cond["type"] == "Ready" and cond["status"] == "True":
            return dict(vm)
    return None


@pytest.mark.parametrize("rbac", ["namespaced", "cluster-wide"])
def test_operator_does_its_job_with_the_charts_rbac(cluster, namespace, tmp_path, rbac):
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    release = f"op-{namespace}"[:40].rstrip("-")
    sa = f"{release}-visionroll"
    namespaced = "true" if rbac == "namespaced" else "false"
    proc = cluster.helm(
        "install",
        release,
        str(CHART),
        "-n",
        namespace,
        "--set",
        f"rbac.namespaced={namespaced}",
        "--set",
        f"dataPlane.namespaces={{{namespace}}}",
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    cluster.kubectl("wait", "--for=condition=Established", "crd/visionmodels.visionroll.io", "--timeout=60s")
    kubeconfig = _sa_kubeconfig(cluster, namespace, sa, tmp_path / "sa.kubeconfig")

    op = OperatorProcess(kubeconfig, namespace=namespace, log_path=tmp_path / "operator.log", resync_seconds=5)
    op.start()
    try:
        op.wait_healthy()
        vm = {
            "apiVersion": "visionroll.io/v1alpha1",
            "kind": "VisionModel",
            "metadata": {"name": "digits", "namespace": namespace},
            "spec": {
                "model": {
                    "name": "digits",
                    "version": "1.0",
                    "storageUri": "https://models.example.com/digits-1.0.mar",
                },
                "rollout": {"strategy": "immediate"},
            },
        }
        cluster.apply(vm)
        deadline = time.monotonic() + 90
        while _ready(cluster, namespace, "digits") is None:
            op.check_alive()
            assert time.monotonic() < deadline, f"VisionModel not Ready; operator log:\n{op.log_tail(80)}"
            time.sleep(0.5)
        kinds = "deployments,services,configmaps,serviceaccounts,roles,rolebindings,horizontalpodautoscalers"
        owned = cluster.kubectl("get", kinds, "-n", namespace, "-l", "visionroll.io/model=digits", "-o", "name")
        names = owned.stdout.split()
        assert not [n for n in names if n.split("/")[0].startswith(("serviceaccount", "role"))], names
        router = cluster.kubectl_json("get", "deployment", "digits-router", "-n", namespace)
        assert router["spec"]["template"]["spec"]["serviceAccountName"] == "visionroll-router"
        assert any(n.startswith("deployment.apps/digits-") for n in names), names
        log = op.log_path.read_text()
        refused = [line for line in log.splitlines() if "Forbidden" in line or " 403" in line]
        assert refused == [], "\n".join(refused)
    finally:
        op.stop()
        cluster.helm("uninstall", release, "-n", namespace, check=False)

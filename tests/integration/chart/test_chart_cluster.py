"""The chart against a real API server: its manifests pass a server-side dry run, and install → upgrade → uninstall
work with the operator pod admitted under Pod Security "restricted" and Running (on KWOK nodes).

The RBAC is checked with the real authorizer (SubjectAccessReviews for the operator's ServiceAccount)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.kube import wait

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART = REPO_ROOT / "charts" / "visionroll"
EXAMPLE = REPO_ROOT / "examples" / "canary.yaml"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}

pytestmark = pytest.mark.slow


def _restrict(cluster: Any, namespace: str) -> None:
    labels = [f"{k}={v}" for k, v in RESTRICTED.items()]
    cluster.kubectl("label", "namespace", namespace, "--overwrite", *labels)


def _helm(cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    proc: subprocess.CompletedProcess[str] = cluster.helm(*args, check=False)
    assert proc.returncode == 0, f"helm {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _template(cluster: Any, namespace: str, release: str, *sets: str) -> str:
    args = ["template", release, str(CHART), "--namespace", namespace, "--include-crds"]
    for item in sets:
        args += ["--set", item]
    return _helm(cluster, *args).stdout


def _can(cluster: Any, sa: str, verb: str, resource: str, *, namespace: str = "", subresource: str = "") -> bool:
    """The API server's own answer (a SubjectAccessReview), independent of which APIs the cluster serves."""
    group, _, plural = resource.rpartition("/")
    sa_namespace = sa.split(":")[2]
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": sa,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}", "system:authenticated"],
            "resourceAttributes": {
                "group": group,
                "resource": plural,
                "verb": verb,
                "namespace": namespace,
                "subresource": subresource,
            },
        },
    }
    answer = json.loads(cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(review)).stdout)
    return bool(answer["status"].get("allowed", False))


def _wait_running(cluster: Any, namespace: str, selector: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = []

    def running() -> list[dict[str, Any]] | None:
        nonlocal pods
        pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return live if live and all(p["status"].get("phase") == "Running" for p in live) else None

    return wait(
        lambda: f"pods {selector} in {namespace} Running: {[p['status'] for p in pods]}",
        running,
        timeout=timeout,
        interval=1,
    )


@pytest.mark.parametrize("mode", ["default", "namespaced"])
def test_rendered_manifests_pass_a_server_side_dry_run(cluster, namespace, mode):
    _restrict(cluster, namespace)
    sets = ("rbac.namespaced=true",) if mode == "namespaced" else ()
    manifests = _template(cluster, namespace, f"dry-{mode}", *sets)
    out = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=manifests).stdout
    assert "deployment.apps/dry-" in out and "serviceaccount/dry-" in out
    kind = "role.rbac" if mode == "namespaced" else "clusterrole.rbac"
    assert f"{kind}.authorization.k8s.io/dry-{mode}-visionroll" in out


def test_install_upgrade_uninstall_under_restricted_pod_security(cluster, namespace):
    _restrict(cluster, namespace)
    release = f"vr-{namespace}"[:40].rstrip("-")
    name = f"{release}-visionroll"
    sa = f"system:serviceaccount:{namespace}:{name}"
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator"

    # The namespace really enforces the profile: a pod without the restricted settings is refused.
    refused = cluster.kubectl(
        "run", "not-restricted", "-n", namespace, "--image=busybox", "--restart=Never", check=False
    )
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr

    installed = _helm(cluster, "install", release, str(CHART), "-n", namespace, "--wait", "--timeout", "3m")
    assert "kubectl get visionmodels" in installed.stdout and "kubectl visionmodel status" in installed.stdout
    try:
        (pod,) = _wait_running(cluster, namespace, selector)
        assert pod["spec"]["securityContext"]["runAsUser"] == 10001
        crd = cluster.kubectl_json("get", "crd", "visionmodels.visionroll.io")
        assert crd["status"]["acceptedNames"]["kind"] == "VisionModel"
        cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(EXAMPLE))

        # The real authorizer agrees with the chart's intent: the operator's verbs everywhere, no Secrets.
        assert _can(cluster, sa, "watch", "visionroll.io/visionmodels")
        assert _can(cluster, sa, "patch", "visionroll.io/visionmodels", namespace="default", subresource="status")
        assert _can(cluster, sa, "create", "apps/deployments", namespace="default")
        assert _can(cluster, sa, "create", "gateway.networking.k8s.io/httproutes", namespace="default")
        assert not _can(cluster, sa, "get", "/secrets", namespace=namespace)
        assert not _can(cluster, sa, "create", "/secrets", namespace=namespace)
        assert not _can(cluster, sa, "update", "apps/deployments", namespace="default")
        assert not _can(cluster, sa, "delete", "/pods", namespace="default")

        _helm(
            cluster,
            "upgrade",
            release,
            str(CHART),
            "-n",
            namespace,
            "--set",
            "operator.logLevel=DEBUG",
            "--wait",
            "--timeout",
            "3m",
        )
        deployment = cluster.kubectl_json("get", "deployment", name, "-n", namespace)
        env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["VISIONROLL_LOG_LEVEL"] == "DEBUG"
        (upgraded,) = _wait_running(cluster, namespace, selector)
        assert upgraded["metadata"]["uid"] != pod["metadata"]["uid"]
    finally:
        cluster.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "2m", check=False)

    left = cluster.kubectl("get", "deployment,serviceaccount,service", "-n", namespace, "-l", selector, "-o", "name")
    assert left.stdout.strip() == ""
    gone = cluster.kubectl("get", "clusterrole", name, "--ignore-not-found", "-o", "name")
    assert gone.stdout.strip() == ""
    # Helm never deletes what it installed from crds/: VisionModels outlive the operator.
    cluster.kubectl("get", "crd", "visionmodels.visionroll.io")


def test_namespaced_install_is_confined_to_its_namespace(cluster, namespace):
    _restrict(cluster, namespace)
    release = f"ns-{namespace}"[:40].rstrip("-")
    name = f"{release}-visionroll"
    sa = f"system:serviceaccount:{namespace}:{name}"
    _helm(cluster, "install", release, str(CHART), "-n", namespace, "--set", "rbac.namespaced=true", "--wait")
    try:
        _wait_running(cluster, namespace, f"app.kubernetes.io/instance={release}")
        assert cluster.kubectl("get", "clusterrole", name, "--ignore-not-found", "-o", "name").stdout.strip() == ""
        assert _can(cluster, sa, "watch", "visionroll.io/visionmodels", namespace=namespace)
        assert not _can(cluster, sa, "watch", "visionroll.io/visionmodels")
        assert not _can(cluster, sa, "create", "apps/deployments", namespace="default")
    finally:
        proc = cluster.helm("uninstall", release, "-n", namespace, "--wait", check=False)
        assert proc.returncode == 0, proc.stderr


def test_helm_reports_a_bad_value_before_touching_the_cluster(cluster, namespace):
    with pytest.raises(subprocess.CalledProcessError) as failed:
        cluster.helm("install", "bad", str(CHART), "-n", namespace, "--set", "runAsUser=0")
    assert "schema" in failed.value.stderr
    assert cluster.kubectl("get", "deployment", "-n", namespace, "-o", "name").stdout.strip() == ""

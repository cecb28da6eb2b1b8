"""Least privilege of the default (cluster-wide) install, asked of the real API server after `helm install`.

SubjectAccessReviews for the operator's ServiceAccount: it cannot touch RBAC objects or ServiceAccounts, escalate,
bind, impersonate, read Secrets, write pods, exec, or mint tokens, anywhere; it can do its job. The router's
ServiceAccount (the chart's, in a data-plane namespace) reads ConfigMaps there and nothing else. Then the admission
policies, with requests made as the operator's ServiceAccount (impersonated, server-side dry run): a Deployment that
would run its pods as another ServiceAccount, with a token, with host access, or a Service that is a NodePort, has
externalIPs or exposes TorchServe's management port, is refused; the Deployments and Services the operator really
builds are admitted; a user's own Deployment is not the policy's business. And the warning for an http:// archive
without spec.model.digest.

The table of answers is printed (pytest -s) and written to $VISIONROLL_SAR_TABLE when set."""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from visionroll import vocabulary
from visionroll.api import VisionModelSpec
from visionroll.traffic import Backend, TrafficPlan, provider
from visionroll.traffic.router import SERVICE_ACCOUNT
from visionroll.workloads import Owner, Variant, front_service, naming, serving_objects
from visionroll.workloads.meta import metadata
from visionroll.workloads.security import container_security_context, pod_security_context

CHART = Path(__file__).resolve().parents[3] / "charts" / "visionroll"

pytestmark = pytest.mark.slow

# (verb, "group/resource[/subresource]", namespace or "" for all/cluster, expected) for the operator.
OPERATOR_TABLE: list[tuple[str, str, str, bool]] = [
    # What it must never do.
    ("create", "rbac.authorization.k8s.io/roles", "{other}", False),
    ("create", "rbac.authorization.k8s.io/rolebindings", "{other}", False),
    ("create", "rbac.authorization.k8s.io/rolebindings", "{data}", False),
    ("create", "rbac.authorization.k8s.io/clusterroles", "", False),
    ("create", "rbac.authorization.k8s.io/clusterrolebindings", "", False),
    ("patch", "rbac.authorization.k8s.io/clusterroles", "", False),
    ("escalate", "rbac.authorization.k8s.io/clusterroles", "", False),
    ("escalate", "rbac.authorization.k8s.io/roles", "{other}", False),
    ("bind", "rbac.authorization.k8s.io/clusterroles", "", False),
    ("bind", "rbac.authorization.k8s.io/roles", "{other}", False),
    ("impersonate", "/users", "", False),
    ("impersonate", "/groups", "", False),
    ("impersonate", "/serviceaccounts", "{other}", False),
    ("get", "/secrets", "{other}", False),
    ("list", "/secrets", "", False),
    ("watch", "/secrets", "", False),
    ("create", "/pods", "{other}", False),
    ("create", "/pods", "{data}", False),
    ("patch", "/pods", "{other}", False),
    ("delete", "/pods", "{other}", False),
    ("create", "/pods/exec", "{other}", False),
    ("create", "/serviceaccounts", "{other}", False),
    ("create", "/serviceaccounts/token", "{other}", False),
    ("patch", "/nodes", "", False),
    ("create", "networking.k8s.io/networkpolicies", "{other}", False),
    ("delete", "networking.k8s.io/networkpolicies", "{data}", False),
    ("create", "admissionregistration.k8s.io/validatingadmissionpolicies", "", False),
    ("delete", "admissionregistration.k8s.io/validatingadmissionpolicybindings", "", False),
    ("create", "apps/daemonsets", "{other}", False),
    ("create", "batch/jobs", "{other}", False),
    ("update", "apps/deployments", "{other}", False),
    # What its job needs.
    ("watch", "visionroll.io/visionmodels", "", True),
    ("patch", "visionroll.io/visionmodels/status", "{data}", True),
    ("create", "apps/deployments", "{data}", True),
    ("patch", "apps/deployments", "{data}", True),
    ("create", "/services", "{data}", True),
    ("create", "/configmaps", "{data}", True),
    ("list", "/pods", "{data}", True),
    ("get", "/persistentvolumeclaims", "{data}", True),
    ("create", "/events", "{data}", True),
    ("create", "autoscaling/horizontalpodautoscalers", "{data}", True),
    ("create", "policy/poddisruptionbudgets", "{data}", True),
    ("watch", "apiextensions.k8s.io/customresourcedefinitions", "", True),
]

# The router's ServiceAccount in the data-plane namespace.
ROUTER_TABLE: list[tuple[str, str, str, bool]] = [
    ("watch", "/configmaps", "{data}", True),
    ("get", "/configmaps", "{data}", True),
    ("get", "/configmaps", "{other}", False),
    ("get", "/secrets", "{data}", False),
    ("create", "/configmaps", "{data}", False),
    ("list", "/pods", "{data}", False),
    ("get", "visionroll.io/visionmodels", "{data}", False),
]


def _can(cluster: Any, user: str, verb: str, resource: str, namespace: str) -> bool:
    group, _, rest = resource.partition("/")
    plural, _, subresource = rest.partition("/")
    sa_namespace = user.split(":")[2]
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}", "system:authenticated"],
            "resourceAttributes": {
                "group": group,
                "resource": plural,
                "subresource": subresource,
                "verb": verb,
                "namespace": namespace,
            },
        },
    }
    answer = json.loads(cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(review)).stdout)
    return bool(answer["status"].get("allowed", False))


@pytest.fixture
def installed(cluster: Any, namespace: str) -> Any:
    """The chart installed in its default (cluster-wide) mode, release in `namespace`, with a second namespace as
    its data plane; yields (release namespace, data-plane namespace, other namespace, operator user)."""
    data = cluster.create_namespace("lp-data")
    other = cluster.create_namespace("lp-other")
    release = f"lp-{namespace}"[:40].rstrip("-")
    proc = cluster.helm(
        "install", release, str(CHART), "-n", namespace, "--set", f"dataPlane.namespaces={{{data}}}", check=False
    )
    assert proc.returncode == 0, proc.stderr
    operator = f"system:serviceaccount:{namespace}:{release}-visionroll"
    try:
        policies = cluster.kubectl_json(
            "get", "validatingadmissionpolicies", "-l", f"app.kubernetes.io/instance={release}"
        )
        assert len(policies["items"]) == 2, "the chart installs its admission policies where the cluster serves them"
        # A new policy takes effect once the API server's policy informer has it: wait for a known refusal.
        probe = _deployment(data, serviceAccountName="builder")
        deadline = time.monotonic() + 30
        while _dry_run_as(cluster, operator, probe).returncode == 0:
            assert time.monotonic() < deadline, json.dumps(
                cluster.kubectl_json("get", "validatingadmissionpolicies")["items"], indent=1
            )
            time.sleep(0.5)
        yield namespace, data, other, operator
    finally:
        cluster.helm("uninstall", release, "-n", namespace, "--wait", check=False)
        for ns in (data, other):
            cluster.delete_namespace(ns, wait=False)


def test_the_default_install_cannot_grant_impersonate_read_secrets_or_run_pods(cluster, installed):
    release_ns, data, other, operator = installed
    router = f"system:serviceaccount:{data}:{SERVICE_ACCOUNT}"
    rows, wrong = [], []
    for who, user, table in (("operator", operator, OPERATOR_TABLE), ("router", router, ROUTER_TABLE)):
        for verb, resource, ns_template, expected in table:
            ns = ns_template.format(other=other, data=data)
            allowed = _can(cluster, user, verb, resource, ns)
            where = ns_template.strip("{}") or "cluster"
            rows.append(f"| {who} | {verb} | {resource.lstrip('/')} | {where} | {'yes' if allowed else 'no'} |")
            if allowed != expected:
                wrong.append(rows[-1] + f" expected {'yes' if expected else 'no'}")
    table = "\n".join(["| who | verb | resource | namespace | allowed |", "|---|---|---|---|---|", *rows])
    print(table)
    if os.environ.get("VISIONROLL_SAR_TABLE"):
        Path(os.environ["VISIONROLL_SAR_TABLE"]).write_text(table + "\n")
    assert wrong == [], "\n".join(wrong)
    # The ClusterRole itself holds nothing on RBAC, ServiceAccounts or Secrets.
    (role,) = [
        r
        for r in cluster.kubectl_json("get", "clusterroles", "-l", "app.kubernetes.io/component=operator")["items"]
        if r["metadata"]["name"] == operator.rsplit(":", 1)[1]
    ]
    resources = {res for rule in role["rules"] for res in rule["resources"]}
    assert not resources & {
        "roles",
        "rolebindings",
        "clusterroles",
        "clusterrolebindings",
        "serviceaccounts",
        "secrets",
    }


def _operator_objects(namespace: str) -> list[dict[str, Any]]:
    """The Deployments and Services the operator builds for a VisionModel (TorchServe and the router)."""
    spec = VisionModelSpec.model_validate(
        {
            "model": {"name": "digits", "version": "1.0", "storageUri": "https://m.example.com/digits-1.0.mar"},
            "rollout": {"strategy": "immediate"},
        }
    )
    owner = Owner(name="digits", namespace=namespace, uid="unused")
    rev = naming.revision(spec.model, spec.serving)
    variant = Variant("stable", rev, spec.model, spec.serving, weight=100)
    plan = TrafficPlan(
        namespace=namespace,
        visionmodel="digits",
        model="digits",
        backends=(Backend("stable", rev, "1.0", vocabulary.variant_name("digits", rev), 8080, 100),),
        metadata=functools.partial(metadata, owner),
        front_service=functools.partial(front_service, owner),
        mirror_percent=0,
        router_image="router:test",
        pod_security_context=pod_security_context(),
        container_security_context=container_security_context(),
    )
    objects = [*serving_objects(owner, variant, spec.autoscaling), *provider("router").objects(plan)]
    out = [o for o in objects if o["kind"] in ("Deployment", "Service")]
    for obj in out:
        obj["metadata"].pop("ownerReferences", None)  # no such VisionModel: the dry run would still admit them
    return out


def _dry_run_as(cluster: Any, user: str, obj: dict[str, Any]) -> Any:
    namespace = user.split(":")[2]
    return cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=visionroll",
        "--dry-run=server",
        f"--as={user}",
        "--as-group=system:serviceaccounts",
        f"--as-group=system:serviceaccounts:{namespace}",
        "-f",
        "-",
        input=json.dumps(obj),
        check=False,
    )


def _deployment(namespace: str, **pod: Any) -> dict[str, Any]:
    labels = {"app": "probe"}
    spec = {"containers": [{"name": "c", "image": "busybox"}], **pod}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "probe", "namespace": namespace},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": spec}},
    }


def _service(namespace: str, **spec: Any) -> dict[str, Any]:
    ports = spec.pop("ports", [{"name": "http", "port": 8080, "targetPort": 8080}])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "probe", "namespace": namespace},
        "spec": {"selector": {"app": "probe"}, "ports": ports, **spec},
    }


REFUSED = [
    ("another-service-account", lambda ns: _deployment(ns, serviceAccountName="builder"), "not builder"),
    ("deprecated-service-account-field", lambda ns: _deployment(ns, serviceAccount="builder"), "not builder"),
    ("default-with-a-token", lambda ns: _deployment(ns), "automountServiceAccountToken false"),
    (
        "projected-token",
        lambda ns: _deployment(
            ns,
            automountServiceAccountToken=False,
            volumes=[{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}],
        ),
        "no projected ServiceAccount token",
    ),
    (
        "host-path",
        lambda ns: _deployment(
            ns, automountServiceAccountToken=False, volumes=[{"name": "h", "hostPath": {"path": "/"}}]
        ),
        "no hostPath",
    ),
    (
        "host-network",
        lambda ns: _deployment(ns, automountServiceAccountToken=False, hostNetwork=True),
        "no host namespaces",
    ),
    (
        "privileged",
        lambda ns: _deployment(
            ns,
            automountServiceAccountToken=False,
            containers=[{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}],
        ),
        "no privileged containers",
    ),
    ("node-port", lambda ns: _service(ns, type="NodePort"), "ClusterIP with no externalIPs"),
    ("external-ips", lambda ns: _service(ns, externalIPs=["10.9.9.9"]), "ClusterIP with no externalIPs"),
    (
        "management-port",
        lambda ns: _service(ns, ports=[{"name": "m", "port": 80, "targetPort": 8081}]),
        "management API",
    ),
    (
        "management-port-by-name",
        lambda ns: _service(ns, ports=[{"name": "m", "port": 80, "targetPort": "management"}]),
        "management API",
    ),
]


@pytest.mark.parametrize(("case", "build", "reason"), REFUSED, ids=[c[0] for c in REFUSED])
def test_the_operator_cannot_write_a_deployment_or_service_beyond_the_data_plane(
    cluster, installed, case, build, reason
):
    _, data, _, operator = installed
    obj = build(data)
    refused = _dry_run_as(cluster, operator, obj)
    assert refused.returncode != 0, f"{case} was admitted:\n{refused.stdout}"
    assert "ValidatingAdmissionPolicy" in refused.stderr and reason in refused.stderr, refused.stderr
    # The same object from someone else (here the cluster admin) is not this policy's business.
    assert cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(obj), check=False).returncode == 0


def test_what_the_operator_builds_is_admitted(cluster, installed):
    _, data, _, operator = installed
    objects = _operator_objects(data)
    assert {o["kind"] for o in objects} == {"Deployment", "Service"}
    router = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "digits-router"]
    assert router[0]["spec"]["template"]["spec"]["serviceAccountName"] == SERVICE_ACCOUNT
    for obj in objects:
        done = _dry_run_as(cluster, operator, obj)
        assert done.returncode == 0, f"{obj['kind']}/{obj['metadata']['name']}: {done.stderr}"


def test_an_http_archive_without_a_digest_is_admitted_with_a_warning(cluster, installed, crd):
    _, data, _, _ = installed
    vm = {
        "apiVersion": "visionroll.io/v1alpha1",
        "kind": "VisionModel",
        "metadata": {"name": "digits", "namespace": data},
        "spec": {
            "model": {"name": "digits", "version": "1.0", "storageUri": "http://models.example.com/digits-1.0.mar"},
            "rollout": {"strategy": "immediate"},
        },
    }
    warned = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(vm))
    assert "Warning:" in warned.stderr and "spec.model has no digest" in warned.stderr, warned.stderr
    vm["spec"]["model"]["digest"] = "sha256:" + "0" * 64
    pinned = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(vm))
    assert "spec.model has no digest" not in pinned.stderr, pinned.stderr
    vm["spec"]["model"].pop("digest")
    vm["spec"]["model"]["storageUri"] = "https://models.example.com/digits-1.0.mar"
    secure = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(vm))
    assert "spec.model has no digest" not in secure.stderr, secure.stderr


def test_the_network_policy_passes_the_api_servers_validation(cluster, installed):
    _, data, _, _ = installed
    (policy,) = cluster.kubectl_json("get", "networkpolicies", "-n", data)["items"]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "visionroll-serving"

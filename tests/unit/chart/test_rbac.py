"""The operator's RBAC is exactly what its code uses: no wildcards, nothing on Secrets, no escalation verbs, and in
namespaced mode nothing cluster-wide at all."""

from __future__ import annotations

from typing import Any

import pytest

from visionroll.k8s.resources import EVENT, KINDS, POD, PVC, VISIONMODEL

OWNED_VERBS = {"get", "list", "watch", "create", "patch", "delete"}  # server-side apply creates; kopf watches
CRD_DISCOVERY = ("apiextensions.k8s.io", "customresourcedefinitions")


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def expected_grants(*, cluster_wide: bool) -> dict[tuple[str, str], set[str]]:
    """What the operator does with each kind it knows (visionroll.k8s.resources), as RBAC grants."""
    grants = {(_group(k.api_version), k.plural): set(OWNED_VERBS) for k in KINDS.values()}
    grants[(_group(VISIONMODEL.api_version), VISIONMODEL.plural)] = {"get", "list", "watch", "patch"}
    grants[(_group(VISIONMODEL.api_version), f"{VISIONMODEL.plural}/status")] = {"get", "patch"}
    grants[(_group(PVC.api_version), PVC.plural)] = {"get"}
    grants[(_group(EVENT.api_version), EVENT.plural)] = {"create"}
    grants[(_group(POD.api_version), POD.plural)] = {"list"}  # why a candidate cannot start
    if cluster_wide:
        grants[CRD_DISCOVERY] = {"list", "watch"}  # kopf's runtime CRD observation
    return grants


def grants_of(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def operator_role(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (role,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == "vr-visionroll"]
    return role


def all_roles(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in ("Role", "ClusterRole")]


@pytest.mark.parametrize("sets", [(), ("rbac.namespaced=true",), ("watchNamespace=ml",)])
def test_no_wildcards_no_secrets_no_escalation(render, sets):
    roles = all_roles(render(*sets))
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], (role["metadata"]["name"], rule)
            assert not {"secrets"} & set(rule["resources"]), rule
            assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"]), rule


def test_cluster_wide_grants_exactly_what_the_operator_uses(render):
    objects = render()
    assert grants_of(operator_role(objects, "ClusterRole")) == expected_grants(cluster_wide=True)
    (binding,) = [o for o in objects if o["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "vr-visionroll",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "vr-visionroll", "namespace": "visionroll-system"}
    ]
    assert not [o for o in objects if o["kind"] in ("Role", "RoleBinding")]


@pytest.mark.parametrize(
    ("sets", "watched"), [(("watchNamespace=ml",), "ml"), (("rbac.namespaced=true",), "visionroll-system")]
)
def test_namespaced_mode_grants_nothing_cluster_wide(render, sets, watched):
    objects = render(*sets)
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = operator_role(objects, "Role")
    assert role["metadata"]["namespace"] == watched
    assert grants_of(role) == expected_grants(cluster_wide=False)
    (binding,) = [o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["name"] == "vr-visionroll"]
    assert binding["metadata"]["namespace"] == watched
    assert binding["roleRef"]["kind"] == "Role"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "vr-visionroll", "namespace": "visionroll-system"}
    ]


def test_user_roles_aggregate_visionmodels_only(render):
    aggregated = [o for o in render() if o["kind"] == "ClusterRole" and o["metadata"]["name"] != "vr-visionroll"]
    assert {o["metadata"]["name"] for o in aggregated} == {"vr-visionroll-view", "vr-visionroll-edit"}
    for role in aggregated:
        assert {g for rule in role["rules"] for g in rule["apiGroups"]} == {"visionroll.io"}
    assert not [o for o in render("rbac.aggregateToDefaultRoles=false") if o["metadata"]["name"].endswith("-view")]


def test_rbac_and_service_account_can_be_left_to_the_user(render):
    objects = render("rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=ops")
    assert not [o for o in objects if o["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]
    assert not [o for o in objects if o["kind"] == "ServiceAccount"]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "ops"

"""The operator Deployment as rendered: Pod Security "restricted", one replica replaced by Recreate, probes on kopf's
health endpoint, ports and settings as docs/contracts.md names them."""

from __future__ import annotations

from typing import Any

import pytest

from visionroll.settings import Settings

MODES = {
    "default": (),
    "namespaced": ("rbac.namespaced=true",),
    "watchNamespace": ("watchNamespace=ml-team",),
    "everything on": (
        "monitoring.serviceMonitor.enabled=true",
        "monitoring.podMonitor.enabled=true",
        "monitoring.prometheusRule.enabled=true",
        "operator.routerImage=example.org/router:1",
    ),
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"}
# Pod Security "restricted" (v1.30+): what a pod may carry.
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Pod":
        return dict(obj["spec"])
    if obj["kind"] == "CronJob":
        return dict(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return dict(obj["spec"]["template"]["spec"])


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What keeps a pod spec from the Pod Security "restricted" profile (empty: admitted)."""
    problems = []
    psc = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problems.append(f"{flag} is set")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} is {sorted(kinds)}")
    containers = pod.get("containers", []) + pod.get("initContainers", []) + pod.get("ephemeralContainers", [])
    assert containers, "a pod without containers"
    for c in containers:
        sc = c.get("securityContext", {})
        name = c["name"]
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            problems.append(f"{name}: capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {caps['add']}")
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{name}: runAsNonRoot must be true")
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if not isinstance(uid, int) or uid == 0:
            problems.append(f"{name}: runAsUser must be a non-zero number, got {uid!r}")
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost, got {seccomp!r}")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


def test_the_checker_knows_a_bad_pod():
    bad = {"hostNetwork": True, "containers": [{"name": "c", "securityContext": {"privileged": True}}]}
    assert len(restricted_violations(bad)) >= 5


@pytest.mark.parametrize("mode", MODES)
def test_every_workload_is_pod_security_restricted(render, mode):
    objects = render(*MODES[mode])
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    assert [w["kind"] for w in workloads] == ["Deployment"]
    for workload in workloads:
        assert restricted_violations(pod_spec(workload)) == [], workload["metadata"]["name"]


def _deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    return deployment


def test_one_replica_replaced_not_rolled(render):
    deployment = _deployment(render())
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_probes_ports_and_settings_follow_the_contract(render):
    defaults = Settings()
    (container,) = pod_spec(_deployment(render()))["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": defaults.metrics_port, "health": defaults.health_port}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["VISIONROLL_METRICS_PORT"] == str(defaults.metrics_port)
    assert env["VISIONROLL_HEALTH_PORT"] == str(defaults.health_port)
    assert env["VISIONROLL_PROMETHEUS_URL"] == defaults.prometheus_url
    assert env["VISIONROLL_NAMESPACE"] == ""  # all namespaces
    assert "VISIONROLL_ROUTER_IMAGE" not in env  # the operator's default
    assert set(env) <= {"VISIONROLL_" + name.upper() for name in vars(defaults)}, "a setting the operator ignores"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_settings_come_from_values(render):
    objects = render(
        "watchNamespace=ml-team",
        "operator.prometheusUrl=http://prom.mon.svc:9090",
        "operator.routerImage=example.org/router:2",
        "operator.logLevel=DEBUG",
        "extraEnv[0].name=VISIONROLL_BIND_ADDRESS",
        "extraEnv[0].value=0.0.0.0",
        "image.digest=sha256:" + "a" * 64,
    )
    (container,) = pod_spec(_deployment(objects))["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["VISIONROLL_NAMESPACE"] == "ml-team"
    assert env["VISIONROLL_PROMETHEUS_URL"] == "http://prom.mon.svc:9090"
    assert env["VISIONROLL_ROUTER_IMAGE"] == "example.org/router:2"
    assert env["VISIONROLL_LOG_LEVEL"] == "DEBUG"
    assert env["VISIONROLL_BIND_ADDRESS"] == "0.0.0.0"
    assert container["image"].endswith("@sha256:" + "a" * 64)


def test_namespaced_rbac_alone_watches_the_release_namespace(render):
    (container,) = pod_spec(_deployment(render("rbac.namespaced=true", namespace="team-a")))["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["VISIONROLL_NAMESPACE"] == "team-a"

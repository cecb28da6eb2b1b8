"""The chart's Prometheus Operator objects against the Prometheus Operator's own CRDs on a real API server.

The ServiceMonitor, the PodMonitors (operator, routers, TorchServe) and the PrometheusRule the chart renders pass a
server-side dry run with strict field validation, so a misspelled or mistyped field in a template is refused here as
it would be on a user's cluster. The CRDs come from the pinned Prometheus Operator Go module
(``localkube.monitoring_crds``); the test installs them and removes them afterwards."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from localkube import monitoring_crds
from support.kube import wait

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART = REPO_ROOT / "charts" / "visionroll"
GROUP = "monitoring.coreos.com"
MONITORING_ON = (
    "monitoring.serviceMonitor.enabled=true",
    "monitoring.podMonitor.enabled=true",
    "monitoring.dataPlane.enabled=true",
    "monitoring.prometheusRule.enabled=true",
)

pytestmark = pytest.mark.slow


@pytest.fixture
def prometheus_operator_crds(cluster: Any) -> Iterator[list[str]]:
    """ServiceMonitor, PodMonitor and PrometheusRule served by the API server; removed after the test."""
    paths = monitoring_crds.ensure()
    names = [f"{p.name.removeprefix(GROUP + '_').removesuffix('.yaml')}.{GROUP}" for p in paths]
    files = [arg for p in paths for arg in ("-f", str(p))]
    # Server-side: the CRDs are too large for the last-applied annotation of a client-side apply.
    cluster.kubectl("apply", "--server-side", *files)
    try:
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names])
        yield names
    finally:
        cluster.kubectl("delete", "--ignore-not-found", "--wait=true", "--timeout=60s", *files, check=False)
        wait(
            "the monitoring CRDs to be gone",
            lambda: not cluster.kubectl("get", "crd", *names, "--ignore-not-found", "-o", "name").stdout.strip(),
        )


def _render(cluster: Any, namespace: str, release: str, *sets: str, validate: bool = False) -> list[dict[str, Any]]:
    args = ["template", release, str(CHART), "--namespace", namespace]
    if validate:
        args.append("--validate")  # the cluster's APIs decide the "auto" settings
    for item in sets:
        args += ["--set", item]
    proc: subprocess.CompletedProcess[str] = cluster.helm(*args, check=False)
    assert proc.returncode == 0, f"helm {' '.join(args)}:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def _monitoring_objects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["apiVersion"].startswith(GROUP + "/")]


def _dry_run(cluster: Any, namespace: str, objects: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    manifest = yaml.safe_dump_all(objects)
    result: subprocess.CompletedProcess[str] = cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-n", namespace, "-f", "-", input=manifest, check=False
    )
    return result


@pytest.mark.parametrize("mode", ["all-namespaces", "namespaced"])
def test_every_monitoring_object_is_accepted_by_the_prometheus_operator_crds(
    cluster, namespace, prometheus_operator_crds, mode
):
    release = "mon"
    sets = (*MONITORING_ON, "rbac.namespaced=true") if mode == "namespaced" else MONITORING_ON
    objects = _monitoring_objects(_render(cluster, namespace, release, *sets))
    rendered = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert rendered == [
        ("PodMonitor", "mon-visionroll"),
        ("PodMonitor", "mon-visionroll-router"),
        ("PodMonitor", "mon-visionroll-torchserve"),
        ("PrometheusRule", "mon-visionroll"),
        ("ServiceMonitor", "mon-visionroll"),
    ]

    applied = _dry_run(cluster, namespace, objects)

    assert applied.returncode == 0, applied.stderr
    assert applied.stderr.strip() == "", applied.stderr  # no warning either (e.g. a field the CRD drops)
    for kind, name in rendered:
        assert f"{kind.lower()}.{GROUP}/{name} created (server dry run)" in applied.stdout, applied.stdout


def test_by_default_the_chart_renders_them_when_the_cluster_serves_the_crds(
    cluster, namespace, prometheus_operator_crds
):
    # monitoring.*.enabled "auto": the operator's ServiceMonitor, the data plane's PodMonitors and the rules appear
    # because the cluster serves monitoring.coreos.com/v1; the operator's PodMonitor stays an opt-in alternative.
    objects = _monitoring_objects(_render(cluster, namespace, "auto", validate=True))
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("PodMonitor", "auto-visionroll-router"),
        ("PodMonitor", "auto-visionroll-torchserve"),
        ("PrometheusRule", "auto-visionroll"),
        ("ServiceMonitor", "auto-visionroll"),
    ]
    applied = _dry_run(cluster, namespace, objects)
    assert applied.returncode == 0, applied.stderr


def _router_podmonitor(cluster: Any, namespace: str) -> dict[str, Any]:
    objects = _monitoring_objects(_render(cluster, namespace, "neg", *MONITORING_ON))
    (router,) = [o for o in objects if o["metadata"]["name"] == "neg-visionroll-router"]
    return router


@pytest.mark.parametrize(
    ("breakage", "refusal"),
    [
        pytest.param(
            lambda endpoint: endpoint.update(interval="30 seconds"),
            'spec.podMetricsEndpoints[0].interval: Invalid value: "30 seconds"',
            id="interval-not-a-duration",
        ),
        pytest.param(
            lambda endpoint: endpoint.update(honourLabels=endpoint.pop("honorLabels")),
            'unknown field "spec.podMetricsEndpoints[0].honourLabels"',
            id="misspelled-field",
        ),
    ],
)
def test_a_broken_field_is_refused(cluster, namespace, prometheus_operator_crds, breakage, refusal):
    router = _router_podmonitor(cluster, namespace)
    assert _dry_run(cluster, namespace, [router]).returncode == 0  # the same object, unbroken, is accepted
    breakage(router["spec"]["podMetricsEndpoints"][0])

    refused = _dry_run(cluster, namespace, [router])

    assert refused.returncode != 0
    assert refusal in refused.stderr, refused.stderr

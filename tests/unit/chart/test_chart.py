"""The chart as a whole: it lints, its CRD is the generated one, its values are validated, and the monitoring objects
(Prometheus Operator, Grafana sidecar) render when they should and carry what the rules and dashboards expect."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import yaml

from visionroll_build import crd as crdgen
from visionroll_build.dashboards.__main__ import render as render_dashboard

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART = REPO_ROOT / "charts" / "visionroll"
ALERTS = CHART / "files" / "alerts.yaml"
MONITORING_API = "monitoring.coreos.com/v1"


@pytest.mark.parametrize("sets", [(), ("rbac.namespaced=true",), ("watchNamespace=ml",)])
def test_helm_lint(helm_run, sets):
    args = ["lint", "--strict", str(CHART)]
    for item in sets:
        args += ["--set", item]
    proc = helm_run(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_chart_crds_are_the_generated_ones():
    chart_crds = sorted(p.name for p in (CHART / "crds").iterdir())
    repo_crds = sorted(p.name for p in (REPO_ROOT / "crds").iterdir())
    assert chart_crds == repo_crds
    for name in chart_crds:
        assert (CHART / "crds" / name).read_bytes() == (REPO_ROOT / "crds" / name).read_bytes(), name
    assert CHART / "crds" / crdgen.CRD_FILE in crdgen.CRD_PATHS, "crdgen --write must write the chart's copy"


@pytest.mark.parametrize(
    "bad",
    [
        "runAsUser=0",
        "monitoring.serviceMonitor.enabled=maybe",
        "watchNamespace=Not_A_Namespace",
        "operator.prometheusUrl=prometheus:9090",
        "operator.logLevel=LOUD",
        "image.pullPolicy=Sometimes",
        "replicas=2",  # one replica is not a setting: kopf runs standalone
        "rbac.namespaced=yes",
    ],
)
def test_values_schema_rejects(helm_run, bad):
    proc = helm_run("template", "vr", str(CHART), "--set", bad)
    assert proc.returncode != 0, bad
    assert "schema" in proc.stderr, proc.stderr


def _kinds(objects):
    return sorted(o["kind"] for o in objects)


def test_prometheus_operator_objects_follow_the_cluster(render):
    assert not {"ServiceMonitor", "PodMonitor", "PrometheusRule"} & set(_kinds(render()))
    with_api = _kinds(render(api_versions=(MONITORING_API,)))
    assert with_api.count("ServiceMonitor") == 1 and with_api.count("PrometheusRule") == 1
    assert with_api.count("PodMonitor") == 2  # the data plane's: routers and TorchServe pods
    forced = _kinds(render("monitoring.podMonitor.enabled=true", "monitoring.prometheusRule.enabled=true"))
    assert "PodMonitor" in forced and "PrometheusRule" in forced
    off = render(
        "monitoring.serviceMonitor.enabled=false",
        "monitoring.prometheusRule.enabled=false",
        api_versions=(MONITORING_API,),
    )
    assert not {"ServiceMonitor", "PrometheusRule"} & set(_kinds(off))


def test_prometheus_rule_is_the_alerts_file(render):
    (rule,) = [o for o in render("monitoring.prometheusRule.enabled=true") if o["kind"] == "PrometheusRule"]
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())


def test_scrape_objects_name_the_job_the_alerts_select(render):
    objects = render("monitoring.serviceMonitor.enabled=true", "monitoring.podMonitor.enabled=true")
    (service,) = [o for o in objects if o["kind"] == "Service"]
    (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
    (pod_monitor,) = [o for o in objects if o["kind"] == "PodMonitor"]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert 'job="visionroll-operator"' in ALERTS.read_text()
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "visionroll-operator"
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["relabelings"] == [
        {"targetLabel": "job", "replacement": "visionroll-operator"}
    ]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (service["spec"]["selector"], monitor["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics"]


def test_data_plane_monitors_select_the_pods_the_operator_creates(render):
    """The PodMonitors select the labels the operator's own builders put on router and TorchServe pods, scrape the
    port those pods name `metrics`, and keep the router's `namespace` label (honorLabels)."""
    from visionroll.api import VisionModelSpec
    from visionroll.traffic import provider
    from visionroll.traffic.base import Backend, TrafficPlan
    from visionroll.workloads import Owner, Variant, front_service, naming, serving_objects
    from visionroll.workloads.meta import metadata

    monitors = {
        o["metadata"]["name"].rsplit("-", 1)[1]: o
        for o in render("monitoring.dataPlane.enabled=true")
        if o["kind"] == "PodMonitor"
    }
    assert sorted(monitors) == ["router", "torchserve"]
    spec = VisionModelSpec.model_validate(
        {
            "model": {"name": "digits", "version": "1.0", "storageUri": "https://m.example.com/d.mar"},
            "rollout": {"strategy": "immediate"},
        }
    )
    owner = Owner(name="digits", namespace="ml", uid="u")
    variant = Variant("stable", naming.revision(spec.model, spec.serving), spec.model, spec.serving, weight=100)
    (ts,) = [o for o in serving_objects(owner, variant, spec.autoscaling) if o["kind"] == "Deployment"]
    plan = TrafficPlan(
        namespace="ml",
        visionmodel="digits",
        model="digits",
        backends=(Backend("stable", variant.revision, "1.0", ts["metadata"]["name"], 8080, 100),),
        metadata=functools.partial(metadata, owner),
        front_service=functools.partial(front_service, owner),
    )
    (router,) = [o for o in provider("router").objects(plan) if o["kind"] == "Deployment"]
    pods = {"torchserve": ts["spec"]["template"], "router": router["spec"]["template"]}
    for component, template in pods.items():
        monitor = monitors[component]["spec"]
        labels = template["metadata"]["labels"]
        selector = monitor["selector"]
        assert selector.get("matchLabels", {}).items() <= labels.items()
        for expr in selector.get("matchExpressions", []):
            assert expr["operator"] == "Exists" and expr["key"] in labels
        ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        (endpoint,) = monitor["podMetricsEndpoints"]
        assert endpoint["port"] in ports and endpoint["honorLabels"] is True
        assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert monitors["router"]["spec"]["namespaceSelector"] == {"any": True}


def test_dashboards_ship_as_sidecar_config_maps(render):
    maps = [o for o in render() if o["kind"] == "ConfigMap"]
    assert {m["metadata"]["name"] for m in maps} == {
        "vr-visionroll-dashboard-rollout",
        "vr-visionroll-dashboard-operator",
    }
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, text),) = cm["data"].items()
        assert json.loads(text) == json.loads(render_dashboard(key.removesuffix(".json")))
    elsewhere = [o for o in render("dashboards.namespace=grafana") if o["kind"] == "ConfigMap"]
    assert {cm["metadata"]["namespace"] for cm in elsewhere} == {"grafana"}
    assert not [o for o in render("dashboards.enabled=false") if o["kind"] == "ConfigMap"]


def test_long_release_names_keep_object_names_unique_and_valid(helm_run):
    release = "team-a-" + "x" * 46  # helm's longest release name, 53 characters
    proc = helm_run("template", release, str(CHART))
    assert proc.returncode == 0, proc.stderr
    objects = [o for o in yaml.safe_load_all(proc.stdout) if o]
    keys = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys)), keys
    assert all(len(name) <= 63 for _, name in keys), keys

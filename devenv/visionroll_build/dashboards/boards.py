"""The two dashboards: one VisionModel's rollout, and the operator across all VisionModels.

The rollout dashboard answers the on-call questions in order: where is the rollout (phase, weights, decisions as
markers), is the candidate worse (traffic, errors, latency per variant), is it *wrong* (drift, shadow agreement,
predicted classes), and does it have the capacity (replicas, HPA targets; those series come from kube-state-metrics).
"""

from __future__ import annotations

from collections.abc import Callable

from visionroll_build.dashboards.grafana import (
    Json,
    Panel,
    Row,
    Target,
    annotation,
    custom_variable,
    dashboard,
    datasource_variable,
    query_variable,
    window_variable,
)

_BY_VARIANT = "{{variant}}"


def rollout_dashboard() -> Json:
    panels: list[Panel | Row] = [
        Row("Rollout"),
        Panel(
            "Phase",
            (Target("operator:rollout_phase", "{{phase}}"),),
            kind="state-timeline",
            width=24,
            height=5,
            description="The VisionModel's status.phase over time. Markers: the operator's decisions.",
            extra_options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8},
        ),
        Panel(
            "Live traffic weight",
            (Target("operator:rollout_weight", _BY_VARIANT),),
            unit="percent",
            stack=True,
            min=0,
            max=100,
            description="Percent of live requests the router sends to each variant (status.weights).",
        ),
        Panel(
            "Gates: last value and threshold",
            (Target("operator:gate_value", "{{gate}}"), Target("operator:gate_threshold", "{{gate}} threshold")),
            dashed=".* threshold$",
            description="The values the last analysis measured (status.analysis.gates) and their thresholds.",
        ),
        Panel(
            "Gate verdicts",
            (Target("operator:gate_verdicts", "{{gate}} {{verdict}}"),),
            bars=True,
            stack=True,
            width=24,
            height=6,
            description="Verdicts per gate in each window: pass, fail, inconclusive (too few samples or no data).",
        ),
        Row("Traffic per variant"),
        Panel(
            "Requests / s",
            (Target("dashboard:request_rate", "{{variant}} {{traffic}}"),),
            unit="reqps",
            width=8,
            description="Live and mirrored (shadow) requests per second, as the router sent them.",
        ),
        Panel(
            "Error rate",
            (Target("dashboard:error_rate", _BY_VARIANT),),
            unit="percentunit",
            width=8,
            min=0,
            description="Share of requests answered 5xx or not at all.",
        ),
        Panel(
            "Latency p50 / p99",
            (
                Target("dashboard:latency_p50_seconds", "{{variant}} p50"),
                Target("dashboard:latency_p99_seconds", "{{variant}} p99"),
            ),
            unit="s",
            width=8,
            description="Upstream round trip seen by the router (TorchServe's own latency metrics are counters).",
        ),
        Row("Model quality"),
        Panel(
            "Drift (Jensen-Shannon, bits)",
            (Target("operator:drift_value", "drift"), Target("operator:drift_threshold", "threshold")),
            dashed="^threshold$",
            width=8,
            min=0,
            description="Divergence of the candidate's predicted-class distribution from stable's (drift gate).",
        ),
        Panel(
            "Shadow agreement",
            (
                Target("dashboard:shadow_agreement_rate", _BY_VARIANT),
                Target("operator:agreement_threshold", "threshold"),
            ),
            dashed="^threshold$",
            unit="percentunit",
            width=8,
            max=1,
            description="Top-1 agreement of the shadow variant with stable on the same mirrored input.",
        ),
        Panel(
            "Accuracy on labels",
            (Target("dashboard:accuracy", _BY_VARIANT), Target("operator:accuracy_threshold", "threshold")),
            dashed="^threshold$",
            unit="percentunit",
            width=8,
            max=1,
            description="Share of labelled live answers (POST /feedback) whose top-1 was the true label (accuracy "
            "gates). Labels arrive late and for some requests only: no labels, no line.",
        ),
        Panel(
            "Recall by class",
            (
                Target("dashboard:recall_by_class", "{{variant}} {{class}}"),
                Target("operator:recall_threshold", "threshold"),
            ),
            dashed="^threshold$",
            unit="percentunit",
            width=8,
            max=1,
            description="Per true class, the share of its labelled answers the variant got right; the recall gate "
            "holds the candidate's worst class to its minimum.",
        ),
        Panel(
            "Shadow requests dropped / s",
            (Target("dashboard:shadow_dropped_rate", "{{variant}} {{reason}}"),),
            unit="reqps",
            width=8,
            description="Mirrored requests the router dropped rather than delay a client (e.g. a full queue).",
        ),
        Panel(
            "Predicted classes",
            (Target("dashboard:predicted_class_rate", "{{variant}} {{class}}"),),
            unit="reqps",
            stack=True,
            description="Top-1 predictions per class and variant: what the drift gate compares.",
        ),
        Panel(
            "Mean top-1 confidence",
            (Target("dashboard:confidence_mean", _BY_VARIANT),),
            unit="percentunit",
            max=1,
            description="A model that is unsure of itself shows here before it shows in errors.",
        ),
        Row("Capacity"),
        Panel(
            "Replicas available per revision",
            (Target("kube:revision_replicas_available", "{{deployment}}"),),
            width=8,
            min=0,
            description="From kube-state-metrics (kube_deployment_status_replicas_available).",
        ),
        Panel(
            "Autoscaler replicas",
            (
                Target("kube:hpa_current_replicas", "{{horizontalpodautoscaler}} current"),
                Target("kube:hpa_desired_replicas", "{{horizontalpodautoscaler}} desired"),
                Target("kube:hpa_max_replicas", "{{horizontalpodautoscaler}} max"),
            ),
            dashed=".* max$",
            width=8,
            min=0,
            description="Current, desired and maximum replicas of each revision's HPA (kube-state-metrics).",
        ),
        Panel(
            "Autoscaler targets",
            (Target("kube:hpa_target_metric", "{{horizontalpodautoscaler}} {{metric_name}} {{metric_target_type}}"),),
            width=8,
            description="The HPA target from spec.autoscaling: CPU utilization (the only target the API has).",
        ),
    ]
    variables = [
        datasource_variable(),
        query_variable("namespace", "Namespace", "label_values(visionroll_rollout_phase, namespace)"),
        query_variable(
            "visionmodel", "VisionModel", 'label_values(visionroll_rollout_phase{namespace="$namespace"}, visionmodel)'
        ),
        custom_variable("variant", "Variant", ["stable", "candidate"]),
        query_variable(
            "revision",
            "Revision",
            'label_values(visionroll_router_requests_total{namespace="$namespace", visionmodel="$visionmodel"}, '
            "revision)",
            multi=True,
        ),
        window_variable(),
    ]
    return dashboard(
        uid="visionroll-rollout",
        title="visionroll / VisionModel rollout",
        description="One VisionModel: phase, weights and decisions; traffic, errors and latency per variant; drift, "
        "shadow agreement; replicas and autoscaling.",
        panels=panels,
        variables=variables,
        annotations=[
            annotation("Decisions", "operator:decisions", title="{{outcome}}", tags="outcome", color="orange"),
        ],
    )


def operator_dashboard() -> Json:
    panels: list[Panel | Row] = [
        Row("Operator"),
        Panel(
            "Up",
            (Target("operator:up", "{{instance}}"),),
            kind="stat",
            width=4,
            height=6,
            description="1 when Prometheus scrapes the operator (job visionroll-operator).",
            extra_options={"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        Panel(
            "Reconciles / s",
            (Target("operator:reconcile_rate", "{{result}}"),),
            unit="ops",
            width=10,
            height=6,
            stack=True,
            description="Reconcile ticks by result (ok, error).",
        ),
        Panel(
            "Reconcile error ratio",
            (Target("operator:reconcile_error_ratio", "errors"),),
            unit="percentunit",
            width=10,
            height=6,
            min=0,
            description="The alert VisionRollReconcileErrors fires above 10% for 15 minutes.",
        ),
        Panel(
            "Reconcile duration",
            (
                Target("operator:reconcile_duration_p50_seconds", "p50"),
                Target("operator:reconcile_duration_p99_seconds", "p99"),
            ),
            unit="s",
            description="Time of one tick: snapshot, apply, measure, decide, write status.",
        ),
        Panel(
            "VisionModels by phase",
            (Target("operator:models_by_phase", "{{phase}}"),),
            stack=True,
            min=0,
            description="How many VisionModels are in each phase.",
        ),
        Row("Decisions"),
        Panel(
            "Decisions by VisionModel",
            (Target("operator:decisions_by_model", "{{namespace}}/{{visionmodel}} {{outcome}}"),),
            bars=True,
            stack=True,
            width=24,
            description="Promotions, rollbacks, advanced steps and pauses in each window.",
        ),
        Panel(
            "Gate verdicts",
            (Target("operator:gate_verdicts_by_model", "{{gate}} {{verdict}}"),),
            bars=True,
            stack=True,
            description="All VisionModels' gate verdicts: pass, fail, inconclusive.",
        ),
        Panel(
            "Current phase",
            (Target("operator:current_phase", "", instant=True),),
            kind="table",
            description="Every VisionModel the operator reports, with its phase now.",
            extra_options={"showHeader": True},
        ),
    ]
    variables = [
        datasource_variable(),
        query_variable("namespace", "Namespace", "label_values(visionroll_rollout_phase, namespace)", multi=True),
        query_variable(
            "visionmodel",
            "VisionModel",
            'label_values(visionroll_rollout_phase{namespace=~"$namespace"}, visionmodel)',
            multi=True,
        ),
        window_variable(),
    ]
    return dashboard(
        uid="visionroll-operator",
        title="visionroll / operator",
        description="The visionroll operator: up, reconciles, errors, durations, and the rollout decisions it took.",
        panels=panels,
        variables=variables,
        annotations=[
            annotation(
                "Rollbacks",
                "operator:rollbacks",
                title="rolled back {{namespace}}/{{visionmodel}}",
                tags="",
                color="red",
            ),
        ],
    )


# File name (without .json) → builder. The chart ships one ConfigMap per file.
DASHBOARDS: dict[str, Callable[[], Json]] = {
    "visionroll-rollout": rollout_dashboard,
    "visionroll-operator": operator_dashboard,
}

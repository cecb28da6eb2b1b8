"""The query catalogue: every PromQL the project runs, by name. The analysis, the Grafana dashboards and the alert rules
use these strings and no others.

Variables are Grafana-style: `$namespace`, `$visionmodel`, `$revision`, `$variant`, `$window`. `revision` and
`variant` are matched with `=~` so a dashboard can pass a multi-value variable (`a|b`, `.*`) while the analysis passes
one revision (revisions are `[a-z0-9-]`, so an exact name is also a regular expression that matches only itself).
The analysis renders a template with `render(name, ...)`; `$window` becomes the seconds since the stage began,
e.g. `95s` (Grafana: `$__rate_interval`).

`analysis:*` templates feed the gates and are evaluated per revision; `dashboard:*` templates are per variant and
only plotted, as are `operator:*` (the operator's own series, docs/contracts.md) and `kube:*` (kube-state-metrics:
replicas and HPA targets); `alert:<Alert>` is the expression of that alert in charts/visionroll/files/alerts.yaml,
whole (fixed windows, no variables), which a unit test holds equal. One name, one query.
"""

from __future__ import annotations

from string import Template

_SEL = 'namespace="$namespace", visionmodel="$visionmodel", revision=~"$revision"'
_VAR = 'namespace="$namespace", visionmodel="$visionmodel", variant=~"$variant"'
# An answer that is not a served prediction is the variant's error: any upstream status but 2xx (a 404 for a
# model/version TorchServe does not hold, a handler's 400 on input the router already checked, 5xx) and `error` (no
# answer: connection failed or timed out). The router's own refusals are in no variant's series (docs/contracts.md).
_ERROR_CODES = 'code!~"2.."'
_VM = 'namespace="$namespace", visionmodel="$visionmodel"'
# The operator dashboard spans models: multi-value variables, matched as regular expressions.
_ANY_VM = 'namespace=~"$namespace", visionmodel=~"$visionmodel"'
# Workloads of one VisionModel are named `<vm>-<revision>`; the router `<vm>-router` is not a revision.
_REVISION_DEPLOYMENTS = 'namespace="$namespace", deployment=~"$visionmodel-.+", deployment!="$visionmodel-router"'
_REVISION_HPAS = 'namespace="$namespace", horizontalpodautoscaler=~"$visionmodel-.+"'
# The phases of a rollout in progress (status.phase), as the operator metric `visionroll_rollout_phase` labels them.
_ROLLING = 'phase=~"Progressing|Promoting|Paused"'

TEMPLATES: dict[str, str] = {
    # --- analysis: one revision, counts over the stage so far ($window = seconds since the stage began) ---
    "analysis:requests": f"sum(increase(visionroll_router_requests_total{{{_SEL}}}[$window]))",
    "analysis:errors": f"sum(increase(visionroll_router_requests_total{{{_SEL}, {_ERROR_CODES}}}[$window]))",
    "analysis:latency_buckets": (
        f"sum by (le) (increase(visionroll_router_request_duration_seconds_bucket{{{_SEL}}}[$window]))"
    ),
    "analysis:predictions_by_class": (
        f"sum by (class) (increase(visionroll_router_predictions_total{{{_SEL}}}[$window]))"
    ),
    # Top-1 of the candidate compared with stable's on the same input: mirrored copies while shadowing
    # (traffic="shadow"), paired copies on canary and split (traffic="paired"); both on the candidate's labels.
    "analysis:comparisons_by_result": (
        f"sum by (result) (increase(visionroll_router_shadow_comparisons_total{{{_SEL}}}[$window]))"
    ),
    # Ground-truth labels sent to the router's /feedback for the revision's live answers: accuracy = correct / all,
    # recall of a class = correct / all of that true class.
    "analysis:feedback_by_outcome": (
        f"sum by (outcome) (increase(visionroll_router_feedback_total{{{_SEL}}}[$window]))"
    ),
    "analysis:feedback_by_class_and_outcome": (
        f"sum by (class, outcome) (increase(visionroll_router_feedback_class_total{{{_SEL}}}[$window]))"
    ),
    # --- dashboards: per variant, rates ---
    "dashboard:request_rate": f"sum by (variant, traffic) (rate(visionroll_router_requests_total{{{_VAR}}}[$window]))",
    "dashboard:error_rate": (
        f"sum by (variant) (rate(visionroll_router_requests_total{{{_VAR}, {_ERROR_CODES}}}[$window]))"
        f" / sum by (variant) (rate(visionroll_router_requests_total{{{_VAR}}}[$window]))"
    ),
    "dashboard:latency_p50_seconds": (
        "histogram_quantile(0.5, sum by (variant, le) "
        f"(rate(visionroll_router_request_duration_seconds_bucket{{{_VAR}}}[$window])))"
    ),
    "dashboard:latency_p99_seconds": (
        "histogram_quantile(0.99, sum by (variant, le) "
        f"(rate(visionroll_router_request_duration_seconds_bucket{{{_VAR}}}[$window])))"
    ),
    "dashboard:predicted_class_rate": (
        f"sum by (variant, class) (rate(visionroll_router_predictions_total{{{_VAR}}}[$window]))"
    ),
    "dashboard:shadow_agreement_rate": (
        f'sum by (variant) (rate(visionroll_router_shadow_comparisons_total{{{_VAR}, result="agree"}}[$window]))'
        f" / sum by (variant) (rate(visionroll_router_shadow_comparisons_total{{{_VAR}}}[$window]))"
    ),
    "dashboard:shadow_dropped_rate": (
        f"sum by (variant, reason) (rate(visionroll_router_shadow_dropped_total{{{_VAR}}}[$window]))"
    ),
    "dashboard:accuracy": (
        f'sum by (variant) (rate(visionroll_router_feedback_total{{{_VAR}, outcome="correct"}}[$window]))'
        f" / sum by (variant) (rate(visionroll_router_feedback_total{{{_VAR}}}[$window]))"
    ),
    "dashboard:recall_by_class": (
        f'sum by (variant, class) (rate(visionroll_router_feedback_class_total{{{_VAR}, outcome="correct"}}[$window]))'
        f" / sum by (variant, class) (rate(visionroll_router_feedback_class_total{{{_VAR}}}[$window]))"
    ),
    "dashboard:confidence_mean": (
        f"sum by (variant) (rate(visionroll_router_prediction_confidence_sum{{{_VAR}}}[$window]))"
        f" / sum by (variant) (rate(visionroll_router_prediction_confidence_count{{{_VAR}}}[$window]))"
    ),
    # one VisionModel: the rollout as the operator sees it
    "operator:rollout_phase": f"max by (phase) (visionroll_rollout_phase{{{_VM}}}) == 1",
    "operator:rollout_weight": f'max by (variant) (visionroll_rollout_weight{{{_VM}, variant=~"$variant"}})',
    "operator:gate_value": f"max by (gate) (visionroll_gate_value{{{_VM}}})",
    "operator:gate_threshold": f"max by (gate) (visionroll_gate_threshold{{{_VM}}})",
    "operator:drift_value": f'max(visionroll_gate_value{{{_VM}, gate="drift"}})',
    "operator:drift_threshold": f'max(visionroll_gate_threshold{{{_VM}, gate="drift"}})',
    "operator:agreement_threshold": f'max(visionroll_gate_threshold{{{_VM}, gate="agreement"}})',
    "operator:accuracy_threshold": f'max(visionroll_gate_threshold{{{_VM}, gate="accuracy"}})',
    "operator:recall_threshold": f'max(visionroll_gate_threshold{{{_VM}, gate="recall"}})',
    "operator:gate_verdicts": f"sum by (gate, verdict) (increase(visionroll_gate_verdict_total{{{_VM}}}[$window]))",
    "operator:decisions": f"sum by (outcome) (increase(visionroll_rollout_decisions_total{{{_VM}}}[$window])) > 0",
    # all VisionModels: the operator's health and work
    "operator:up": 'up{job="visionroll-operator"}',
    "operator:reconcile_rate": "sum by (result) (rate(visionroll_reconcile_total[$window]))",
    "operator:reconcile_error_ratio": (
        'sum(rate(visionroll_reconcile_total{result="error"}[$window]))'
        " / sum(rate(visionroll_reconcile_total[$window]))"
    ),
    "operator:reconcile_duration_p50_seconds": (
        "histogram_quantile(0.5, sum by (le) (rate(visionroll_reconcile_duration_seconds_bucket[$window])))"
    ),
    "operator:reconcile_duration_p99_seconds": (
        "histogram_quantile(0.99, sum by (le) (rate(visionroll_reconcile_duration_seconds_bucket[$window])))"
    ),
    "operator:decisions_by_model": (
        f"sum by (namespace, visionmodel, outcome) (increase(visionroll_rollout_decisions_total{{{_ANY_VM}}}[$window]))"
    ),
    "operator:rollbacks": (
        "sum by (namespace, visionmodel) "
        f'(increase(visionroll_rollout_decisions_total{{{_ANY_VM}, outcome="rolled-back"}}[$window])) > 0'
    ),
    "operator:gate_verdicts_by_model": (
        f"sum by (gate, verdict) (increase(visionroll_gate_verdict_total{{{_ANY_VM}}}[$window]))"
    ),
    "operator:models_by_phase": f"count by (phase) (visionroll_rollout_phase{{{_ANY_VM}}} == 1)",
    "operator:current_phase": f"max by (namespace, visionmodel, phase) (visionroll_rollout_phase{{{_ANY_VM}}}) == 1",
    # kube-state-metrics: replicas and autoscaling of one VisionModel's revisions
    "kube:revision_replicas_available": (
        f"max by (deployment) (kube_deployment_status_replicas_available{{{_REVISION_DEPLOYMENTS}}})"
    ),
    "kube:hpa_current_replicas": (
        f"max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{{{_REVISION_HPAS}}})"
    ),
    "kube:hpa_desired_replicas": (
        f"max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_desired_replicas{{{_REVISION_HPAS}}})"
    ),
    "kube:hpa_max_replicas": (
        f"max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{{{_REVISION_HPAS}}})"
    ),
    "kube:hpa_target_metric": (
        "max by (horizontalpodautoscaler, metric_name, metric_target_type) "
        f"(kube_horizontalpodautoscaler_spec_target_metric{{{_REVISION_HPAS}}})"
    ),
    # --- alerts (charts/visionroll/files/alerts.yaml; tests/unit/chart/test_alert_queries.py holds them equal) ---
    "alert:VisionModelRolledBack": (
        'sum by (namespace, visionmodel) (increase(visionroll_rollout_decisions_total{outcome="rolled-back"}[15m])) > 0'
    ),
    "alert:VisionModelRolloutStuck": (
        "(time() - max by (namespace, visionmodel) (visionroll_rollout_started_timestamp_seconds))"
        " > on (namespace, visionmodel) max by (namespace, visionmodel) (visionroll_rollout_progress_deadline_seconds)"
        " and on (namespace, visionmodel)"
        f" max by (namespace, visionmodel) (visionroll_rollout_phase{{{_ROLLING}}}) == 1"
    ),
    "alert:VisionModelServingErrors": (
        "(sum by (namespace, visionmodel) "
        f'(rate(visionroll_router_requests_total{{traffic="live", {_ERROR_CODES}}}[10m]))'
        ' / sum by (namespace, visionmodel) (rate(visionroll_router_requests_total{traffic="live"}[10m]))) > 0.05'
    ),
    "alert:VisionRollOperatorDown": 'absent(up{job="visionroll-operator"} == 1)',
    "alert:VisionRollReconcileErrors": (
        'sum(rate(visionroll_reconcile_total{result="error"}[15m])) / sum(rate(visionroll_reconcile_total[15m])) > 0.1'
    ),
}


def render(
    name: str, *, namespace: str, visionmodel: str, window: str, revision: str = ".*", variant: str = ".*"
) -> str:
    """The template `name` with its variables substituted; KeyError naming the template when it is unknown."""
    values = {
        "namespace": namespace,
        "visionmodel": visionmodel,
        "revision": revision,
        "variant": variant,
        "window": window,
    }
    return Template(query(name)).substitute(values)


def query(name: str) -> str:
    """The template `name` unrendered (Grafana substitutes the variables); KeyError naming it when it is unknown."""
    if name not in TEMPLATES:
        raise KeyError(f"unknown PromQL template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    return TEMPLATES[name]


def render_custom(
    query: str, *, namespace: str, visionmodel: str, window: str, revision: str, stable_revision: str
) -> str:
    """A user's custom gate query. It may use the same `$` variables plus `$stable_revision`; `{{.Var}}`-style
    placeholders (`{{.Namespace}}`, `{{.VisionModel}}`, `{{.Revision}}`, `{{.StableRevision}}`, `{{.Window}}`) too."""
    values = {
        "namespace": namespace,
        "visionmodel": visionmodel,
        "revision": revision,
        "variant": "candidate",
        "window": window,
        "stable_revision": stable_revision,
    }
    for key, value in {
        "Namespace": namespace,
        "VisionModel": visionmodel,
        "Revision": revision,
        "StableRevision": stable_revision,
        "Window": window,
    }.items():
        query = query.replace("{{." + key + "}}", value).replace("{{ ." + key + " }}", value)
    return Template(query).safe_substitute(values)

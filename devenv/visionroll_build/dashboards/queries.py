"""The PromQL a dashboard may plot: the shared templates, plus the few the dashboards need that are not there yet.

EXTRA_TEMPLATES holds series of the operator itself (docs/contracts.md, "Operator metrics") and of kube-state-metrics
(replicas, HPA targets). They follow the same conventions as `visionroll.metrics.queries.TEMPLATES` (Grafana-style
`$namespace`, `$visionmodel`, `$variant`, `$window`) and are candidates to move there; until then the names carry the
prefixes `operator:` and `kube:` so they cannot collide with the shared `analysis:` and `dashboard:` names.
"""

from __future__ import annotations

from visionroll.metrics.queries import TEMPLATES

_VM = 'namespace="$namespace", visionmodel="$visionmodel"'
# The operator dashboard spans models: multi-value variables, matched as regular expressions.
_ANY_VM = 'namespace=~"$namespace", visionmodel=~"$visionmodel"'
# Workloads of one VisionModel are named `<vm>-<revision>`; the router `<vm>-router` is not a revision.
_REVISION_DEPLOYMENTS = 'namespace="$namespace", deployment=~"$visionmodel-.+", deployment!="$visionmodel-router"'
_REVISION_HPAS = 'namespace="$namespace", horizontalpodautoscaler=~"$visionmodel-.+"'

# --- not (yet) in visionroll.metrics.queries.TEMPLATES ---
EXTRA_TEMPLATES: dict[str, str] = {
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
}


def template_names() -> frozenset[str]:
    return frozenset(TEMPLATES) | frozenset(EXTRA_TEMPLATES)


def query(name: str) -> str:
    """The PromQL of a named template, unrendered: Grafana substitutes the variables."""
    if name in TEMPLATES:
        return TEMPLATES[name]
    if name in EXTRA_TEMPLATES:
        return EXTRA_TEMPLATES[name]
    raise KeyError(f"unknown PromQL template {name!r}; known: {', '.join(sorted(template_names()))}")

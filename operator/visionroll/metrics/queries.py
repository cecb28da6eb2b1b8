"""PromQL templates over the router's metrics, by name: the analysis and the Grafana dashboards use the same strings.

Variables are Grafana-style: `$namespace`, `$visionmodel`, `$revision`, `$variant`, `$window`. `revision` and
`variant` are matched with `=~` so a dashboard can pass a multi-value variable (`a|b`, `.*`) while the analysis passes
one revision (revisions are `[a-z0-9-]`, so an exact name is also a regular expression that matches only itself).
The analysis renders a template with `render(name, ...)`; `$window` becomes the seconds since the stage began,
e.g. `95s` (Grafana: `$__rate_interval`).

`analysis:*` templates feed the gates and are evaluated per revision; `dashboard:*` templates are per variant and
only plotted. One name, one query.
"""

from __future__ import annotations

from string import Template

_SEL = 'namespace="$namespace", visionmodel="$visionmodel", revision=~"$revision"'
_VAR = 'namespace="$namespace", visionmodel="$visionmodel", variant=~"$variant"'
# An answer that is not a served prediction is the variant's error: any upstream status but 2xx (a 404 for a
# model/version TorchServe does not hold, a handler's 400 on input the router already checked, 5xx) and `error` (no
# answer: connection failed or timed out). The router's own refusals are in no variant's series (docs/contracts.md).
_ERROR_CODES = 'code!~"2.."'

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
}


def render(
    name: str, *, namespace: str, visionmodel: str, window: str, revision: str = ".*", variant: str = ".*"
) -> str:
    """The template `name` with its variables substituted; KeyError naming the template when it is unknown."""
    if name not in TEMPLATES:
        raise KeyError(f"unknown PromQL template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    values = {
        "namespace": namespace,
        "visionmodel": visionmodel,
        "revision": revision,
        "variant": variant,
        "window": window,
    }
    return Template(TEMPLATES[name]).substitute(values)


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

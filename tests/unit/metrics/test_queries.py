"""PromQL templates: named, fully substituted, filtered by namespace, visionmodel and revision/variant."""

from __future__ import annotations

import re

import pytest

from visionroll.metrics.queries import TEMPLATES, render, render_custom

DASHBOARD_NEEDS = {
    "dashboard:request_rate",
    "dashboard:latency_p50_seconds",
    "dashboard:latency_p99_seconds",
    "dashboard:error_rate",
    "dashboard:predicted_class_rate",
    "dashboard:shadow_agreement_rate",
    "dashboard:confidence_mean",
}


def test_dashboards_find_the_templates_they_need() -> None:
    assert set(TEMPLATES) >= DASHBOARD_NEEDS


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_renders_completely_and_filters(name: str) -> None:
    text = render(name, namespace="ns1", visionmodel="digits", window="30s", revision="2-0-abcdef")
    assert "$" not in text
    assert 'namespace="ns1"' in text and 'visionmodel="digits"' in text
    assert ("revision=~" in text) if name.startswith("analysis:") else ('variant=~".*"' in text)
    assert "[30s]" in text
    assert text.count("(") == text.count(")") and text.count("{") == text.count("}")
    assert re.search(r"visionroll_router_[a-z_]+", text)


def test_grafana_variables_are_left_for_grafana() -> None:
    assert "$window" in TEMPLATES["dashboard:request_rate"] and "$variant" in TEMPLATES["dashboard:request_rate"]


def test_unknown_template_is_named() -> None:
    with pytest.raises(KeyError, match="nope"):
        render("nope", namespace="a", visionmodel="b", window="1m")


def test_error_codes_are_5xx_and_unreachable() -> None:
    assert 'code=~"5..|error"' in TEMPLATES["analysis:errors"]


def test_custom_queries_get_both_variable_styles() -> None:
    q = 'sum(x{ns="{{.Namespace}}", rev="$revision", s="{{ .StableRevision }}"}[$window]) > $1'
    out = render_custom(q, namespace="n", visionmodel="m", window="20s", revision="r2", stable_revision="r1")
    assert out == 'sum(x{ns="n", rev="r2", s="r1"}[20s]) > $1'

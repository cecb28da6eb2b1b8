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


ROUTER_TEMPLATES = sorted(n for n in TEMPLATES if n.startswith(("analysis:", "dashboard:")))


@pytest.mark.parametrize("name", ROUTER_TEMPLATES)
def test_every_router_template_renders_completely_and_filters(name: str) -> None:
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


def _code_matches(query: str, code: str) -> bool:
    """Whether the `code` label matcher of `query` selects a series with this code (PromQL regex matchers are
    anchored at both ends, like re.fullmatch)."""
    found = re.findall(r'\bcode(=~|!~|=|!=)"([^"]*)"', query)
    assert len(found) == 1, f"expected one code matcher in {query}"
    op, value = found[0]
    hit = re.fullmatch(value, code) is not None if "~" in op else value == code
    return hit if op in ("=~", "=") else not hit


# Every `code` the router records (docs/contracts.md), and whether it is the variant's error.
ROUTER_CODES = {
    "200": False,
    "201": False,
    "400": True,  # the handler refused a body the router had accepted
    "404": True,  # TorchServe holds no such model/version (e.g. the archive's version differs from the spec's)
    "413": True,
    "500": True,
    "503": True,
    "507": True,
    "error": True,  # no answer: connection failed or timed out
}


@pytest.mark.parametrize("name", ["analysis:errors", "dashboard:error_rate"])
@pytest.mark.parametrize(("code", "is_error"), sorted(ROUTER_CODES.items()))
def test_every_answer_but_a_2xx_is_an_error(name: str, code: str, is_error: bool) -> None:
    query = render(name, namespace="ns1", visionmodel="digits", window="30s", revision="2-0-abcdef")
    errors_part = query.split(" / ")[0]  # the dashboard's ratio: errors / all
    assert _code_matches(errors_part, code) is is_error


def test_requests_count_every_code() -> None:
    assert "code" not in render("analysis:requests", namespace="n", visionmodel="m", window="30s")


def test_custom_queries_get_both_variable_styles() -> None:
    q = 'sum(x{ns="{{.Namespace}}", rev="$revision", s="{{ .StableRevision }}"}[$window]) > $1'
    out = render_custom(q, namespace="n", visionmodel="m", window="20s", revision="r2", stable_revision="r1")
    assert out == 'sum(x{ns="n", rev="r2", s="r1"}[20s]) > $1'

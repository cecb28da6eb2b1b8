"""The Grafana dashboards: generated (the committed JSON is fresh), every query a named PromQL template that promtool
parses, every variable defined, panels laid out without overlap, and the panels the on-call engineer needs."""

from __future__ import annotations

import re
import subprocess
from string import Template
from typing import Any

import pytest
import yaml

from visionroll.metrics.queries import TEMPLATES
from visionroll_build.dashboards import DASHBOARDS, query, template_names
from visionroll_build.dashboards.__main__ import stale_files
from visionroll_build.dashboards.grafana import expressions

BOARDS = {name: build() for name, build in DASHBOARDS.items()}
# Sample values for the Grafana variables, so that promtool can parse the rendered expressions.
SAMPLE = {"namespace": "ml", "visionmodel": "digits", "revision": ".*", "variant": "stable|candidate", "window": "5m"}


def test_committed_dashboards_are_fresh():
    assert stale_files() == [], "run `python -m visionroll_build.dashboards --write`"


def test_every_expression_is_a_named_template():
    known = {query(name) for name in template_names()}
    for name, board in BOARDS.items():
        for expr in expressions(board):
            assert expr in known, f"{name}: {expr!r} is no named template"


def test_each_query_of_the_catalogue_is_named_once_by_its_use():
    assert all(name.split(":")[0] in ("analysis", "dashboard", "operator", "kube", "alert") for name in TEMPLATES)
    assert len(set(TEMPLATES.values())) == len(TEMPLATES), "one query, one name"


def _used_templates() -> set[str]:
    by_expr = {query(name): name for name in template_names()}
    return {by_expr[e] for board in BOARDS.values() for e in expressions(board)}


def test_every_dashboard_template_is_plotted():
    used = _used_templates()
    assert {n for n in TEMPLATES if n.startswith(("dashboard:", "operator:", "kube:"))} <= used, "a query nobody plots"


def test_the_rollout_dashboard_answers_the_on_call_questions():
    board = BOARDS["visionroll-rollout"]
    used = {query(n): n for n in template_names()}
    names = {used[e] for e in expressions(board)}
    assert {
        "operator:rollout_phase",
        "operator:rollout_weight",
        "operator:decisions",  # decision markers
        "dashboard:request_rate",
        "dashboard:latency_p50_seconds",
        "dashboard:latency_p99_seconds",
        "dashboard:error_rate",
        "operator:drift_value",
        "dashboard:shadow_agreement_rate",
        "kube:revision_replicas_available",
        "kube:hpa_target_metric",
    } <= names
    assert [a["name"] for a in board["annotations"]["list"] if "expr" in a] == ["Decisions"]


def test_the_operator_dashboard_shows_reconciles_errors_durations_decisions():
    names = {n for n in template_names() if query(n) in expressions(BOARDS["visionroll-operator"])}
    assert {
        "operator:up",
        "operator:reconcile_rate",
        "operator:reconcile_error_ratio",
        "operator:reconcile_duration_p99_seconds",
        "operator:decisions_by_model",
    } <= names


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_variable_an_expression_uses_is_defined(name):
    board = BOARDS[name]
    defined = {v["name"] for v in board["templating"]["list"]}
    definitions = [v.get("definition", "") for v in board["templating"]["list"]]
    for text in [*expressions(board), *definitions]:
        for var in re.findall(r"\$(\w+)", text):
            assert var in defined, f"{name}: ${var} is not a dashboard variable"


def _boxes(board: dict[str, Any]) -> list[tuple[int, int, int, int, str]]:
    return [
        (p["gridPos"]["x"], p["gridPos"]["y"], p["gridPos"]["w"], p["gridPos"]["h"], p["title"])
        for p in board["panels"]
    ]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panels_have_queries_unique_ids_and_do_not_overlap(name):
    board = BOARDS[name]
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for p in panels:
        assert p["type"] == "row" or p["targets"], p["title"]
    cells: dict[tuple[int, int], str] = {}
    for x, y, w, h, title in _boxes(board):
        assert x >= 0 and x + w <= 24, title
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                assert (cx, cy) not in cells, f"{title} overlaps {cells[(cx, cy)]}"
                cells[(cx, cy)] = title


def test_promtool_parses_every_expression(tmp_path, promtool):
    exprs = sorted({e for board in BOARDS.values() for e in expressions(board)})
    rules = [
        {"record": f"visionroll:dashboard_check_{i}", "expr": Template(e).substitute(SAMPLE)}
        for i, e in enumerate(exprs)
    ]
    path = tmp_path / "dashboard_queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr

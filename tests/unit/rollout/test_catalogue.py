"""The gate catalogue is the one declaration of each gate: its queries are templates the provider can render, its
panel is on the rollout dashboard, and its threshold text is what judge reports."""

from __future__ import annotations

from datetime import UTC, datetime

from support.rollout_sim import make_spec
from visionroll.metrics.queries import TEMPLATES
from visionroll.rollout.analysis import judge
from visionroll.rollout.catalogue import CATALOGUE, Scope, custom_entries, entries
from visionroll.rollout.types import Measurements
from visionroll_build.dashboards.boards import rollout_dashboard

ALL_GATES = {
    "latencyP99": {"maxMs": 150, "maxRatioToStable": 1.5},
    "errorRate": {"max": 0.01},
    "drift": {"max": 0.1},
    "agreement": {"min": 0.97, "pairedPercent": 10},
    "accuracy": {"min": 0.95, "maxDropVsStable": 0.01},
    "recall": {"min": 0.9},
    "custom": [{"name": "queue", "query": "q", "max": 5}],
}


def _titles(panels: list[dict[str, object]]) -> set[str]:
    out: set[str] = set()
    for p in panels:
        out.add(str(p.get("title", "")))
        out |= _titles(p.get("panels", []))  # type: ignore[arg-type]
    return out


def test_every_query_is_a_template_and_every_panel_is_on_the_dashboard() -> None:
    titles = _titles(rollout_dashboard()["panels"])
    gates = make_spec("split", gates=ALL_GATES).rollout.analysis.gates
    for entry in (*CATALOGUE, *custom_entries(gates)):
        assert set(entry.queries) <= set(TEMPLATES), entry.name
        assert entry.panel in titles, entry.name


def test_judge_reports_the_catalogue_threshold_text() -> None:
    spec = make_spec("split", gates=ALL_GATES)
    gates = spec.rollout.analysis.gates
    scope = Scope(gates=gates, stage="split", vs_stable=True, min_samples=spec.rollout.analysis.min_samples)
    results = judge(spec.rollout.analysis, "split", Measurements(time=datetime.now(UTC), window_seconds=10))
    assert [(r.name, r.threshold) for r in results] == [(e.name, e.threshold(gates)) for e in entries(scope)]
    assert {r.name for r in results} == {
        "latencyP99",
        "latencyVsStable",
        "errorRate",
        "errorRateVsStable",
        "drift",
        "agreement",
        "accuracy",
        "accuracyVsStable",
        "recall",
        "custom:queue",
    }

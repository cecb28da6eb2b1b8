"""The alert rules fire on the query catalogue's own strings: each alert's `expr` in charts/visionroll/files/alerts.yaml
is `visionroll.metrics.queries.TEMPLATES["alert:<Alert>"]` (whitespace aside), and every alert query has its alert."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from visionroll.metrics.queries import TEMPLATES

ALERTS = Path(__file__).resolve().parents[3] / "charts" / "visionroll" / "files" / "alerts.yaml"


def _bare(promql: str) -> str:
    return re.sub(r"\s+", "", promql)


def test_every_alert_is_its_catalogue_query() -> None:
    rules = yaml.safe_load(ALERTS.read_text())
    exprs = {r["alert"]: r["expr"] for group in rules["groups"] for r in group["rules"]}
    catalogue = {name.removeprefix("alert:"): q for name, q in TEMPLATES.items() if name.startswith("alert:")}
    assert sorted(exprs) == sorted(catalogue), "an alert without its query in the catalogue, or the other way"
    for alert, expr in exprs.items():
        assert _bare(expr) == _bare(catalogue[alert]), f"{alert}: alerts.yaml and the catalogue differ"

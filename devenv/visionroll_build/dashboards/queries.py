"""The PromQL a dashboard may plot: every query of the catalogue (`visionroll.metrics.queries.TEMPLATES`) but the
alerts'. Grafana substitutes the variables (`$namespace`, `$visionmodel`, `$variant`, `$window`)."""

from __future__ import annotations

from visionroll.metrics.queries import TEMPLATES, query

__all__ = ["query", "template_names"]


def template_names() -> frozenset[str]:
    return frozenset(name for name in TEMPLATES if not name.startswith("alert:"))

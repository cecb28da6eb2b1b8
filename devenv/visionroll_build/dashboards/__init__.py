"""Grafana dashboards generated from code: a per-VisionModel rollout dashboard and an operator dashboard.

Every panel query is a PromQL template by name from the one query catalogue, `visionroll.metrics.queries.TEMPLATES`
(the strings the analysis judges gates with and the alerts fire on). `python -m visionroll_build.dashboards --write`
writes the JSON into `charts/visionroll/files/dashboards/`, where the chart ships each file as a ConfigMap for the
Grafana sidecar; `--check` fails when a committed file is stale.
"""

from visionroll_build.dashboards.boards import DASHBOARDS, operator_dashboard, rollout_dashboard
from visionroll_build.dashboards.queries import query, template_names

__all__ = ["DASHBOARDS", "operator_dashboard", "query", "rollout_dashboard", "template_names"]

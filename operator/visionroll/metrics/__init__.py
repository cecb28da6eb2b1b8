"""The query catalogue (every PromQL the analysis, the dashboards and the alerts use, by name) and the provider that
turns the analysis' queries into the rollout's measurements."""

from visionroll.metrics.provider import MetricsProvider, PrometheusProvider, QueryClient
from visionroll.metrics.queries import TEMPLATES, render

__all__ = ["TEMPLATES", "MetricsProvider", "PrometheusProvider", "QueryClient", "render"]

"""Prometheus queries as named templates, and the provider that turns them into the rollout's measurements."""

from visionroll.metrics.provider import MetricsProvider, PrometheusProvider, QueryClient
from visionroll.metrics.queries import TEMPLATES, render

__all__ = ["TEMPLATES", "MetricsProvider", "PrometheusProvider", "QueryClient", "render"]

"""The operator's settings, read once from the environment (`VISIONROLL_*`) into one frozen object.

Nothing else in the package reads the environment: the process entry point builds `Settings.from_env()` and passes it
down. Names are listed in docs/contracts.md ("Operator process").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from visionroll.api.pods import ROUTER_IMAGE

PREFIX = "VISIONROLL_"


@dataclass(frozen=True)
class Settings:
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    """Prometheus the analysis queries (`VISIONROLL_PROMETHEUS_URL`)."""

    namespace: str = ""
    """The one namespace to watch; empty watches all namespaces (`VISIONROLL_NAMESPACE`)."""

    metrics_port: int = 8000
    """Port of the operator's own Prometheus endpoint `/metrics`; 0 disables it (`VISIONROLL_METRICS_PORT`)."""

    health_port: int = 8080
    """Port of kopf's liveness endpoint `/healthz`; 0 disables it (`VISIONROLL_HEALTH_PORT`)."""

    bind_address: str = "0.0.0.0"
    """Address the metrics and health endpoints listen on; tests use 127.0.0.1 (`VISIONROLL_BIND_ADDRESS`)."""

    log_level: str = "INFO"
    """Python logging level name (`VISIONROLL_LOG_LEVEL`)."""

    router_image: str = ROUTER_IMAGE
    """Image of the built-in router, run for VisionModels whose traffic provider is `router`: by default the router
    image this project builds (serving/router/Dockerfile), whose `/visionroll-router` it runs
    (`VISIONROLL_ROUTER_IMAGE`)."""

    analysis_window_seconds: float = 120.0
    """Shortest window an analysis reads from Prometheus (`VISIONROLL_ANALYSIS_WINDOW_SECONDS`); the window is the
    analysis interval when that is longer. `increase()` needs at least two scrapes inside the window, and a window of
    a few scrape intervals keeps healthy traffic from looking like noise: keep it at least 4 x the scrape interval
    (the default suits Prometheus's common 30 s). docs/rollout.md says how it relates to `minSamples`."""

    resync_seconds: float = 60.0
    """Longest time between two reconciles of one VisionModel, even when nothing changed; it also bounds how long
    a missed watch event can go unnoticed (`VISIONROLL_RESYNC_SECONDS`)."""

    workers: int = 8
    """Reconciles running at the same time (threads talking to the API server) (`VISIONROLL_WORKERS`)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (default: `os.environ`); unset or empty variables keep their defaults."""
        env = os.environ if environ is None else environ
        defaults = cls()
        values: dict[str, object] = {}
        for name, default in vars(defaults).items():
            raw = env.get(PREFIX + name.upper(), "").strip()
            if not raw:
                continue
            try:
                values[name] = type(default)(raw)
            except ValueError as exc:
                raise ValueError(f"{PREFIX}{name.upper()}={raw!r}: expected {type(default).__name__}") from exc
        return cls(**values)  # type: ignore[arg-type]

"""A test exporter serving router-named metrics with known values, on a loopback port.

Counters grow linearly in time (value = rate x seconds since start), so `increase()` over any window Prometheus
evaluates is exact up to scrape jitter, and every ratio (error rate, quantile position, class mix, agreement) is exact.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from localkube.procs import free_port

NAMESPACE, VISIONMODEL = "itest", "digits"
LABELS = ["namespace", "visionmodel", "variant", "revision", "traffic"]


@dataclass
class Variant:
    name: str
    revision: str
    rps: float = 50.0
    error_fraction: float = 0.0
    # cumulative fraction of requests at or below each bucket bound (seconds); +Inf is 1.0
    latency: dict[float, float] = field(default_factory=lambda: {0.05: 0.5, 0.1: 0.995, 0.15: 1.0, 0.25: 1.0})
    classes: dict[str, float] = field(default_factory=lambda: {"1": 0.5, "7": 0.3, "9": 0.2})
    traffic: str = "live"
    comparisons: dict[str, float] = field(default_factory=dict)  # result -> fraction of requests (shadow only)
    # true class -> (fraction of requests labelled with it through POST /feedback, fraction of those correct)
    labels: dict[str, tuple[float, float]] = field(default_factory=dict)


class RouterExporter:
    def __init__(self, variants: Iterable[Variant]) -> None:
        self.variants = list(variants)
        self.start = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        t = time.monotonic() - self.start
        requests = CounterMetricFamily("visionroll_router_requests", "requests", labels=[*LABELS, "code"])
        duration = HistogramMetricFamily("visionroll_router_request_duration_seconds", "latency", labels=LABELS)
        predictions = CounterMetricFamily("visionroll_router_predictions", "top-1", labels=[*LABELS, "class"])
        shadow = CounterMetricFamily("visionroll_router_shadow_comparisons", "cmp", labels=[*LABELS, "result"])
        feedback = CounterMetricFamily("visionroll_router_feedback", "labels", labels=[*LABELS, "outcome"])
        by_class = CounterMetricFamily(
            "visionroll_router_feedback_class", "labels", labels=[*LABELS, "class", "outcome"]
        )
        for v in self.variants:
            base = [NAMESPACE, VISIONMODEL, v.name, v.revision, v.traffic]
            total = v.rps * t
            requests.add_metric([*base, "200"], total * (1 - v.error_fraction))
            requests.add_metric([*base, "500"], total * v.error_fraction)
            buckets = [(str(le), total * frac) for le, frac in sorted(v.latency.items())] + [("+Inf", total)]
            duration.add_metric(base, buckets=buckets, sum_value=total * 0.06)
            for cls, frac in v.classes.items():
                predictions.add_metric([*base, cls], total * (1 - v.error_fraction) * frac)
            for result, frac in v.comparisons.items():
                shadow.add_metric([*base, result], total * frac)
            if v.labels:
                right = sum(share * correct for share, correct in v.labels.values())
                feedback.add_metric([*base, "correct"], total * right)
                feedback.add_metric([*base, "wrong"], total * (sum(s for s, _ in v.labels.values()) - right))
            for cls, (share, correct) in v.labels.items():
                by_class.add_metric([*base, cls, "correct"], total * share * correct)
                by_class.add_metric([*base, cls, "wrong"], total * share * (1 - correct))
        yield from (requests, duration, predictions, shadow, feedback, by_class)


@pytest.fixture
def serve_router_metrics() -> Iterator[object]:
    """`serve(variants) -> "127.0.0.1:PORT"`; every server started is shut down after the test."""
    servers = []

    def serve(variants: Iterable[Variant]) -> str:
        registry = CollectorRegistry()
        registry.register(RouterExporter(variants))  # type: ignore[arg-type]
        port = free_port()
        server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        servers.append((server, thread))
        return f"127.0.0.1:{port}"

    yield serve
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

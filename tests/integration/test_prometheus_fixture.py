"""The Prometheus fixture: a real Prometheus that scrapes the targets a test adds to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from localkube.procs import free_port, wait_until
from localkube.prometheus import Prometheus

pytestmark = [pytest.mark.prometheus]


@pytest.fixture
def exporter() -> Iterator[tuple[str, Counter]]:
    registry = CollectorRegistry()
    counter = Counter("localkube_test_requests", "requests seen by the test exporter", ["code"], registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{port}", counter
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_added_target_is_scraped_and_up(prometheus: Prometheus, exporter: tuple[str, Counter]) -> None:
    target, counter = exporter
    counter.labels(code="200").inc(7)
    prometheus.add_scrape_target("exporter", target, labels={"namespace": "demo", "visionmodel": "digits"})

    result = prometheus.wait_for('up{job="exporter"}', lambda r: bool(r) and r[0]["value"][1] == "1", timeout=30)
    assert result[0]["metric"]["instance"] == target
    assert result[0]["metric"]["namespace"] == "demo"

    samples = prometheus.wait_for('localkube_test_requests_total{job="exporter",code="200"}')
    assert float(samples[0]["value"][1]) == 7.0

    prometheus.remove_job("exporter")
    wait_until(
        "the exporter job to be dropped",
        lambda: not any(t["labels"].get("job") == "exporter" for t in prometheus.targets()),
        timeout=15,
    )


def test_prometheus_scrapes_itself(prometheus: Prometheus) -> None:
    assert prometheus.url.startswith("http://127.0.0.1:")
    prometheus.wait_for('up{job="prometheus"} == 1')

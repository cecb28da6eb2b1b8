"""The provider against a real Prometheus scraping router-named metrics with known values; a stopped Prometheus
yields inconclusive measurements, never a pass, and so no promotion."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from localkube.prometheus import Prometheus
from support.rollout_sim import CAND, STABLE, make_spec
from visionroll.api import VisionModelSpec, VisionModelStatus
from visionroll.metrics import PrometheusProvider
from visionroll.rollout import decide
from visionroll.rollout.analysis import judge, overall
from visionroll.rollout.stats import js_divergence
from visionroll.rollout.types import Context, Measurement

from .conftest import NAMESPACE, VISIONMODEL, Variant  # noqa: TID252

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

GATES = {
    "latencyP99": {"maxMs": 150, "maxRatioToStable": 1.5},
    "errorRate": {"max": 0.01},
    "drift": {"max": 0.1},
    "agreement": {"min": 0.95},
}
SPEC: VisionModelSpec = make_spec("shadow", gates=GATES, interval="5s", minSamples=50)
SHADOWING = VisionModelStatus(phase="Progressing", stable=STABLE, candidate=CAND, strategy="shadow", stage="shadow")
WINDOW = 6.0


def _unique(variants: list[Variant]) -> tuple[list[Variant], VisionModelStatus]:
    """Revisions unique to this test, so the shared Prometheus never mixes series of two tests."""
    tag = uuid.uuid4().hex[:6]
    for v in variants:
        v.revision = f"{v.revision}-{tag}"
    stable, cand = variants[0].revision, variants[1].revision
    status = SHADOWING.model_copy(
        update={
            "stable": STABLE.model_copy(update={"revision": stable}),
            "candidate": CAND.model_copy(update={"revision": cand}),
        }
    )
    return variants, status


def _measure(provider: PrometheusProvider, status: VisionModelStatus) -> Any:
    now = datetime.now(UTC)
    return provider.measure(namespace=NAMESPACE, visionmodel=VISIONMODEL, spec=SPEC, status=status, now=now)


def _measure_when_ready(
    provider: PrometheusProvider, status: VisionModelStatus, *, timeout: float = 40
) -> dict[str, Measurement]:
    """Measure once the window is full of samples (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        ms = _measure(provider, status)
        got = {m.gate: m for m in ms.values}
        full = all(m.error is None and m.value is not None for m in got.values())
        if full and got["errorRate"].samples >= 0.9 * 50 * WINDOW or time.monotonic() > deadline:
            return got
        time.sleep(1.0)


def test_arithmetic_against_real_prometheus(prometheus: Any, serve_router_metrics: Any) -> None:
    variants, status = _unique(
        [
            Variant(
                "stable", STABLE.revision, rps=200, error_fraction=0.001, latency={0.05: 0.6, 0.1: 0.995, 0.25: 1.0}
            ),
            Variant(
                "candidate",
                CAND.revision,
                rps=50,
                error_fraction=0.04,
                latency={0.05: 0.5, 0.1: 0.98, 0.25: 1.0},
                classes={"1": 0.05, "7": 0.05, "9": 0.9},
                traffic="shadow",
                comparisons={"agree": 0.9, "disagree": 0.06, "error": 0.04},
            ),
        ]
    )
    target = serve_router_metrics(variants)
    prometheus.add_scrape_target(f"router-{status.candidate.revision}", target)  # type: ignore[union-attr]
    provider = PrometheusProvider.from_url(prometheus.url, min_window_seconds=WINDOW)
    m = _measure_when_ready(provider, status)

    # p99 by interpolation inside the bucket holding rank 0.99: candidate (0.1, 0.25] with 2% of requests in it.
    assert m["latencyP99"].value == pytest.approx((0.1 + 0.15 * (0.01 / 0.02)) * 1000, rel=0.02)
    assert m["latencyP99.stable"].value == pytest.approx((0.05 + 0.05 * (0.39 / 0.395)) * 1000, rel=0.02)
    assert m["errorRate"].value == pytest.approx(0.04, rel=0.02)
    assert m["errorRate"].samples == pytest.approx(50 * WINDOW, rel=0.25)
    assert m["latencyP99"].samples == pytest.approx(50 * WINDOW, rel=0.25)
    expected_js = js_divergence({"1": 0.05, "7": 0.05, "9": 0.9}, {"1": 0.5, "7": 0.3, "9": 0.2})
    assert m["drift"].value == pytest.approx(expected_js, rel=0.02)
    assert m["drift"].samples == pytest.approx(50 * 0.96 * WINDOW, rel=0.25)
    assert m["agreement"].value == pytest.approx(0.9, rel=0.01)
    assert m["agreement"].samples == pytest.approx(50 * WINDOW, rel=0.25)

    verdicts = {r.name: r.verdict for r in judge(SPEC.rollout.analysis, "shadow", _as_measurements(m))}
    assert verdicts == {
        "latencyP99": "fail",  # 175 ms > 150 ms
        "latencyP99Ratio": "fail",  # 175 / ~99.4 > 1.5
        "errorRate": "fail",  # 4% with ~300 samples: the lower bound is well above 1%
        "drift": "fail",  # JS ~0.37 > 0.1
        "agreement": "fail",
    }


def test_healthy_candidate_passes_every_gate(prometheus: Any, serve_router_metrics: Any) -> None:
    variants, status = _unique(
        [
            Variant("stable", STABLE.revision, rps=200),
            Variant(
                "candidate", CAND.revision, rps=50, traffic="shadow", comparisons={"agree": 0.99, "disagree": 0.01}
            ),
        ]
    )
    prometheus.add_scrape_target(f"router-{status.candidate.revision}", serve_router_metrics(variants))  # type: ignore[union-attr]
    m = _measure_when_ready(PrometheusProvider.from_url(prometheus.url, min_window_seconds=WINDOW), status)
    results = judge(SPEC.rollout.analysis, "shadow", _as_measurements(m))
    assert overall(results) == "pass", [r for r in results if r.verdict != "pass"]
    assert m["drift"].value == pytest.approx(0.0, abs=1e-6)


def test_stopped_prometheus_is_inconclusive_and_never_promotes(tmp_path: Path, serve_router_metrics: Any) -> None:
    variants, status = _unique(
        [
            Variant("stable", STABLE.revision, rps=200),
            Variant("candidate", CAND.revision, rps=50, traffic="shadow", comparisons={"agree": 1.0}),
        ]
    )
    own = Prometheus.start(tmp_path / "prometheus")
    try:
        own.add_scrape_target("router", serve_router_metrics(variants))
        provider = PrometheusProvider.from_url(own.url, min_window_seconds=WINDOW, timeout_seconds=2)
        assert all(x.error is None for x in _measure_when_ready(provider, status).values())
    finally:
        own.stop()
    started = time.monotonic()
    ms = _measure(provider, status)
    assert time.monotonic() - started < 5  # no retry backoff: one tick stays short
    assert all(m.error and m.value is None for m in ms.values)
    results = judge(SPEC.rollout.analysis, "shadow", ms)
    assert {r.verdict for r in results} == {"inconclusive"}
    # Even at the end of the shadow stage, an inconclusive analysis does not promote.
    late = status.model_copy(update={"step_started_at": "2000-01-01T00:00:00Z", "last_analysis_at": None})
    decision = decide(
        Context(
            spec=SPEC,
            status=late,
            generation=2,
            desired=late.candidate,  # type: ignore[arg-type]
            now=datetime.now(UTC),
            measurements=ms,
        )
    )
    assert decision.outcome != "promoted" and decision.status.stable == late.stable
    assert decision.status.inconclusive_checks == 1


def _as_measurements(m: dict[str, Measurement]) -> Any:
    from visionroll.rollout.types import Measurements

    return Measurements(time=datetime.now(UTC), window_seconds=WINDOW, values=tuple(m.values()))

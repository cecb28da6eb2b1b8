"""The provider against a real Prometheus scraping router-named metrics with known values: evidence accumulates from
the stage's start, the gates judge it with their bounds; a stopped Prometheus yields inconclusive measurements, never a
pass, and so no promotion."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
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
from visionroll.rollout.clock import stamp
from visionroll.rollout.types import Context, Measurement, Measurements

from .conftest import NAMESPACE, VISIONMODEL, Variant  # noqa: TID252

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

GATES = {
    "latencyP99": {"maxMs": 150, "maxRatioToStable": 1.5},
    "errorRate": {"max": 0.01},
    "drift": {"max": 0.1},
    "agreement": {"min": 0.95},
}
SPEC: VisionModelSpec = make_spec("shadow", gates=GATES, interval="5s", minSamples=50)
SHADOWING = VisionModelStatus(
    phase="Progressing", stable=STABLE, candidate=CAND, strategy="shadow", stage="shadow", mirror_percent=100
)
WINDOW = 6.0  # the provider's floor; the stages below run longer, so their windows reach back to the stage's start
# Same buckets for both variants (the latency comparison needs them), one of them at maxMs.
STABLE_LATENCY = {0.05: 0.6, 0.1: 0.995, 0.15: 0.998, 0.25: 1.0}


def _unique(variants: list[Variant]) -> tuple[list[Variant], VisionModelStatus]:
    """Revisions unique to this test, so the shared Prometheus never mixes series of two tests; the stage begins now,
    with the exporter's counters at zero."""
    tag = uuid.uuid4().hex[:6]
    for v in variants:
        v.revision = f"{v.revision}-{tag}"
    stable, cand = variants[0].revision, variants[1].revision
    status = SHADOWING.model_copy(
        update={
            "stable": STABLE.model_copy(update={"revision": stable}),
            "candidate": CAND.model_copy(update={"revision": cand}),
            "step_started_at": stamp(datetime.now(UTC)),
        }
    )
    return variants, status


def _measure(provider: PrometheusProvider, status: VisionModelStatus) -> Measurements:
    now = datetime.now(UTC)
    return provider.measure(namespace=NAMESPACE, visionmodel=VISIONMODEL, spec=SPEC, status=status, now=now)


def _measure_until(
    provider: PrometheusProvider,
    status: VisionModelStatus,
    done: Callable[[dict[str, Measurement]], bool],
    *,
    timeout: float = 60,
) -> dict[str, Measurement]:
    """Measure every second (evidence accumulating) until `done` or the bounded wait ends."""
    deadline = time.monotonic() + timeout
    while True:
        got = {m.gate: m for m in _measure(provider, status).values}
        full = all(m.error is None and (m.value is not None or m.counts) for m in got.values())
        if (full and done(got)) or time.monotonic() > deadline:
            return got
        time.sleep(1.0)


def _verdicts(m: dict[str, Measurement]) -> dict[str, str]:
    ms = Measurements(time=datetime.now(UTC), window_seconds=WINDOW, values=tuple(m.values()))
    return {r.name: r.verdict for r in judge(SPEC.rollout.analysis, "shadow", ms)}


def test_evidence_from_the_stage_start_against_real_prometheus(prometheus: Any, serve_router_metrics: Any) -> None:
    variants, status = _unique(
        [
            Variant("stable", STABLE.revision, rps=200, error_fraction=0.001, latency=STABLE_LATENCY),
            Variant(
                "candidate",
                CAND.revision,
                rps=50,
                error_fraction=0.04,
                latency={0.05: 0.1, 0.1: 0.6, 0.15: 0.95, 0.25: 1.0},
                classes={"1": 0.05, "7": 0.05, "9": 0.9},
                traffic="shadow",
                comparisons={"agree": 0.9, "disagree": 0.06, "error": 0.04},
            ),
        ]
    )
    started = time.monotonic()
    prometheus.add_scrape_target(f"router-{status.candidate.revision}", serve_router_metrics(variants))  # type: ignore[union-attr]
    provider = PrometheusProvider.from_url(prometheus.url, min_window_seconds=WINDOW)
    m = _measure_until(provider, status, lambda got: got["errorRate"].samples >= 600)
    stage_seconds = time.monotonic() - started

    # The counts reach back to the stage's start, past the 6 s floor: ~50 req/s x the stage's age, less a scrape.
    assert 600 <= m["errorRate"].samples <= 50 * stage_seconds * 1.1
    assert m["errorRate"].value == pytest.approx(0.04, rel=0.05)
    lat = m["latency"]
    assert lat.samples == m["errorRate"].samples
    assert lat.counts["0.1"] / lat.counts["+Inf"] == pytest.approx(0.6, rel=0.02)
    # p99 for display by interpolation inside the bucket holding rank 0.99: (0.15, 0.25] with 5% of requests in it.
    assert lat.value == pytest.approx((0.15 + 0.1 * (0.04 / 0.05)) * 1000, rel=0.02)
    assert m["latency.stable"].counts["0.05"] / m["latency.stable"].counts["+Inf"] == pytest.approx(0.6, rel=0.02)
    cand_classes = m["predictions"].counts
    assert cand_classes["9"] / sum(cand_classes.values()) == pytest.approx(0.9, rel=0.02)
    assert set(m["predictions.stable"].counts) == {"1", "7", "9"}
    assert m["agreement"].value == pytest.approx(0.9, rel=0.01)

    assert _verdicts(m) == {
        "latencyP99": "fail",  # 5% slower than 150 ms, proven above 1%
        "latencyVsStable": "fail",  # a candidate request is slower than a stable one ~83% of the time
        "errorRate": "fail",  # 4%: the lower bound is well above 1%
        "drift": "fail",  # JS ~0.37: the lower bound is above 0.1
        "agreement": "fail",  # 0.9: the upper bound is below 0.95
    }


def test_a_healthy_candidate_passes_every_gate_once_the_evidence_suffices(
    prometheus: Any, serve_router_metrics: Any
) -> None:
    variants, status = _unique(
        [
            Variant("stable", STABLE.revision, rps=200),
            Variant(
                "candidate", CAND.revision, rps=100, traffic="shadow", comparisons={"agree": 0.995, "disagree": 0.005}
            ),
        ]
    )
    prometheus.add_scrape_target(f"router-{status.candidate.revision}", serve_router_metrics(variants))  # type: ignore[union-attr]
    provider = PrometheusProvider.from_url(prometheus.url, min_window_seconds=WINDOW)
    m = _measure_until(provider, status, lambda got: set(_verdicts(got).values()) == {"pass"})
    ms = Measurements(time=datetime.now(UTC), window_seconds=WINDOW, values=tuple(m.values()))
    results = judge(SPEC.rollout.analysis, "shadow", ms)
    assert overall(results) == "pass", [r for r in results if r.verdict != "pass"]
    assert all(r.lower is not None and r.upper is not None for r in results)


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
        got = _measure_until(provider, status, lambda got: got["errorRate"].samples >= 100)
        assert all(x.error is None for x in got.values())
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

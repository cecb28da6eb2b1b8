"""The router's latency histogram buckets (serving/router/metrics.go, `latencyBuckets`), for what reproduces its
series: the rollout simulations (tests/support/rollout_sim.py) and the gates benchmark. A test scrapes the router
and holds the two equal (tests/integration/serving/test_router.py)."""

from __future__ import annotations

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0065, 0.008, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03,
    0.04, 0.05, 0.065, 0.08, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip

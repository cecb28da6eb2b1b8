"""Gate and measurement names, shared by the catalogue, the provider, the operator metrics
(`visionroll_gate_value{gate}`) and the dashboards.

A *measurement* is what the provider reads from Prometheus over the current stage (`Measurement.gate` carries its
name); a *gate* is one rule judged on one or more measurements (`GateResult.name`).
"""

from __future__ import annotations

# Measurements (candidate unless suffixed `.stable`), each counted from the start of the stage.
LATENCY = "latency"  # the router histogram's cumulative bucket counts by bound (`counts`); samples = requests
LATENCY_STABLE = "latency.stable"
ERROR_RATE = "errorRate"  # share of requests not answered 2xx; samples = requests
ERROR_RATE_STABLE = "errorRate.stable"
PREDICTIONS = "predictions"  # predicted top-1 class counts (`counts`); samples = predictions
PREDICTIONS_STABLE = "predictions.stable"
AGREEMENT = "agreement"  # agree / (agree + disagree + error) on compared copies; samples = comparisons
CUSTOM_PREFIX = "custom:"  # + the custom gate's name; samples = candidate requests

# Gates.
LATENCY_P99 = "latencyP99"  # share of candidate requests slower than maxMs <= 1%
LATENCY_VS_STABLE = "latencyVsStable"  # P(a candidate request is slower than a stable one), Mann-Whitney
DRIFT = "drift"  # Jensen-Shannon divergence (bits) of predicted classes, candidate vs stable
ERROR_RATE_VS_STABLE = "errorRateVsStable"  # split only: candidate rate - stable rate


def custom(name: str) -> str:
    return CUSTOM_PREFIX + name

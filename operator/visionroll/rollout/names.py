"""Gate and measurement names, shared by the catalogue, the provider, the operator metrics
(`visionroll_gate_value{gate}`) and the dashboards.

A *measurement* is what the provider reads from Prometheus over the current stage (`Measurement.gate` carries its
name); a *gate* is one rule judged on one or more measurements (`GateResult.name`).
"""

from __future__ import annotations

from collections.abc import Mapping

# Measurements (candidate unless suffixed `.stable`), each counted from the start of the stage.
LATENCY = "latency"  # the router histogram's cumulative bucket counts by bound (`counts`); samples = requests
LATENCY_STABLE = "latency.stable"
ERROR_RATE = "errorRate"  # share of requests not answered 2xx; samples = requests
ERROR_RATE_STABLE = "errorRate.stable"
PREDICTIONS = "predictions"  # predicted top-1 class counts (`counts`); samples = predictions
PREDICTIONS_STABLE = "predictions.stable"
AGREEMENT = "agreement"  # agree / (agree + disagree + error) on compared copies; samples = comparisons
ACCURACY = "accuracy"  # correct / labelled answers, from POST /feedback; samples = labels
ACCURACY_STABLE = "accuracy.stable"
RECALL = "recall"  # labels by `<outcome>|<true class>` (`counts`, outcome correct or wrong); samples = labels
CUSTOM_PREFIX = "custom:"  # + the custom gate's name; samples = candidate requests

# Gates.
LATENCY_P99 = "latencyP99"  # share of candidate requests slower than maxMs <= 1%
LATENCY_VS_STABLE = "latencyVsStable"  # P(a candidate request is slower than a stable one), Mann-Whitney
DRIFT = "drift"  # Jensen-Shannon divergence (bits) of predicted classes, candidate vs stable
ERROR_RATE_VS_STABLE = "errorRateVsStable"  # split only: candidate rate - stable rate
ACCURACY_VS_STABLE = "accuracyVsStable"  # stable accuracy - candidate accuracy (the drop)
# `accuracy` (candidate accuracy >= min) and `recall` (the worst class's >= min) are gates of the same names.


def recall_key(outcome: str, true_class: str) -> str:
    """The `counts` key of the `recall` measurement for labels of `true_class` with `outcome` (correct | wrong)."""
    return f"{outcome}|{true_class}"


def recall_counts(counts: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """(correct, labelled) by true class from the `recall` measurement's `counts`."""
    out: dict[str, tuple[float, float]] = {}
    for key, value in counts.items():
        outcome, _, true_class = key.partition("|")
        correct, labelled = out.get(true_class, (0.0, 0.0))
        out[true_class] = (correct + (value if outcome == "correct" else 0.0), labelled + value)
    return out


def custom(name: str) -> str:
    return CUSTOM_PREFIX + name

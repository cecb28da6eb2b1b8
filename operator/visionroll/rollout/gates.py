"""Gate and measurement names (from `names.py`), what the provider must measure for a stage, and whether the stable
serves live traffic to compare with.

Which gates apply is the catalogue's (`catalogue.py`) over `defaults.effective_gates`: the spec's, or the default
gates when it sets none, so every stage of a rollout needs at least one measurement and none advances on time alone.
"""

from __future__ import annotations

from visionroll.api import Analysis, VisionModelStatus
from visionroll.rollout.catalogue import entries
from visionroll.rollout.defaults import scope
from visionroll.rollout.names import (
    ACCURACY,
    ACCURACY_STABLE,
    ACCURACY_VS_STABLE,
    AGREEMENT,
    CUSTOM_PREFIX,
    DRIFT,
    ERROR_RATE,
    ERROR_RATE_STABLE,
    ERROR_RATE_VS_STABLE,
    LATENCY,
    LATENCY_P99,
    LATENCY_STABLE,
    LATENCY_VS_STABLE,
    PREDICTIONS,
    PREDICTIONS_STABLE,
    RECALL,
    custom,
    recall_key,
)

__all__ = [
    "ACCURACY",
    "ACCURACY_STABLE",
    "ACCURACY_VS_STABLE",
    "AGREEMENT",
    "CUSTOM_PREFIX",
    "DRIFT",
    "ERROR_RATE",
    "ERROR_RATE_STABLE",
    "ERROR_RATE_VS_STABLE",
    "LATENCY",
    "LATENCY_P99",
    "LATENCY_STABLE",
    "LATENCY_VS_STABLE",
    "PREDICTIONS",
    "PREDICTIONS_STABLE",
    "RECALL",
    "custom",
    "recall_key",
    "required_measurements",
    "stable_serves",
]


def stable_serves(status: VisionModelStatus) -> bool:
    """False at a canary step of 100%: the stable answers no client then, so gates that compare the candidate with
    the stable's live answers (latency, drift, the split's error comparison, paired agreement) have nothing to
    compare with and do not apply; the candidate's own gates (maxMs, errorRate, custom) still judge the step."""
    return status.weights.stable > 0 or status.mirror_percent > 0


def equal_load(status: VisionModelStatus) -> bool:
    """Whether the candidate serves at least the stable's share of the traffic (a canary step of 50% or more, a split
    at 50/50 or in its favour, a shadow mirroring at least half of it), so that their latencies compare: with less,
    its TorchServe batches wait longer for company (up to maxBatchDelayMs) and its caches are colder, and it looks
    slower than the same model would at full traffic. The latency comparison with stable is judged only then; a
    candidate's own latency (`latencyP99.maxMs`) is judged at every step."""
    if status.stage == "shadow":
        return status.mirror_percent >= 50
    return status.weights.candidate >= status.weights.stable


def required_measurements(
    analysis: Analysis, stage: str | None, *, vs_stable: bool = True, equal_load: bool = True
) -> tuple[str, ...]:
    """The measurement names the provider should read for `stage`, in a stable order, each once: those of the gates
    the catalogue applies (the spec's, or the defaults). `vs_stable=False` leaves out the comparisons with stable,
    `equal_load=False` the latency comparison."""
    names: list[str] = []
    for entry in entries(scope(analysis, stage, vs_stable=vs_stable, equal_load=equal_load)):
        names.extend(m for m in entry.measurements if m not in names)
    return tuple(names)

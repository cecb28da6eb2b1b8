"""Gate and measurement names: what the provider must measure for a stage, and what the verdicts are called.

A *measurement* is one number the provider reads from Prometheus (`Measurement.gate` carries its name); a *gate* is
one rule judged on one or more measurements (`GateResult.name`). The names are shared with the operator metrics
(`visionroll_gate_value{gate}`) and the dashboards.

Which gates apply is `defaults.effective_gates`: the spec's, or the default gates when it sets none, so every stage of
a rollout needs at least one measurement and none advances on time alone.
"""

from __future__ import annotations

from visionroll.api import Analysis, VisionModelStatus
from visionroll.rollout.defaults import compares_medians, effective_gates

# Measurements (candidate unless suffixed `.stable`).
LATENCY_P99 = "latencyP99"  # milliseconds; samples = requests in the window
LATENCY_P99_STABLE = "latencyP99.stable"
LATENCY_P50 = "latencyP50"  # milliseconds, for a split's "not worse than stable" comparison
LATENCY_P50_STABLE = "latencyP50.stable"
ERROR_RATE = "errorRate"  # fraction of requests answered 5xx or `error`; samples = requests
ERROR_RATE_STABLE = "errorRate.stable"
DRIFT = "drift"  # Jensen-Shannon divergence (bits) of predicted classes vs stable; samples = candidate predictions
AGREEMENT = "agreement"  # agree / (agree + disagree + error) on mirrored requests; samples = comparisons
CUSTOM_PREFIX = "custom:"  # + the custom gate's name; samples = candidate requests

# Gates judged on top of the measurements.
LATENCY_RATIO = "latencyP99Ratio"  # candidate p99 / stable p99
ERROR_RATE_VS_STABLE = "errorRateVsStable"  # split only: is the candidate's error rate worse than stable's?
LATENCY_VS_STABLE = "latencyP50VsStable"  # medians compared: the default gates, or a split with no ratio configured


def custom(name: str) -> str:
    return CUSTOM_PREFIX + name


def stable_serves(status: VisionModelStatus) -> bool:
    """False at a canary step of 100%: the stable answers no client then, so gates that compare the candidate with
    the stable's live answers (latency ratio or medians, drift, the split's error comparison) have nothing to compare
    with and do not apply; the candidate's own gates (maxMs, errorRate, custom) still judge the step."""
    return status.weights.stable > 0 or status.mirror_percent > 0


def required_measurements(analysis: Analysis, stage: str | None, *, vs_stable: bool = True) -> tuple[str, ...]:
    """The measurement names the provider should read for `stage`, in a stable order: those of the effective gates
    (the spec's, or the defaults). `vs_stable=False` (see `stable_serves`) leaves out the comparisons with stable."""
    gates = effective_gates(analysis, stage)
    names: list[str] = []
    if gates.latency_p99 is not None:
        names.append(LATENCY_P99)
        if gates.latency_p99.max_ratio_to_stable is not None and vs_stable:
            names.append(LATENCY_P99_STABLE)
    if compares_medians(analysis, stage) and vs_stable:
        names.extend((LATENCY_P50, LATENCY_P50_STABLE))
    if gates.error_rate is not None:
        names.append(ERROR_RATE)
        if stage == "split":
            names.append(ERROR_RATE_STABLE)
    if gates.drift is not None and vs_stable:
        names.append(DRIFT)
    # Only mirrored traffic is compared, so agreement exists only while shadowing.
    if gates.agreement is not None and stage == "shadow":
        names.append(AGREEMENT)
    names.extend(custom(c.name) for c in gates.custom)
    return tuple(names)

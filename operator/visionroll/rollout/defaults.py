"""The gates a rollout is judged by: the spec's own, or, when the spec sets none, defaults for a vision classifier.

A VisionModel without gates is not promoted on time alone (design rule 1): it is held to what any classifier served
through the router can be measured on, namely its errors, its speed next to stable, the distribution of the classes it
predicts next to stable's, and, while shadowing, its top-1 agreement with stable on the same inputs. A spec that sets
any gate (a custom one included) gets exactly its own gates and no defaults. Why each number: docs/rollout.md,
"Default gates".
"""

from __future__ import annotations

from visionroll.api import Analysis, Gates
from visionroll.api.spec import AgreementGate, DriftGate, ErrorRateGate

# 1% of answers may fail; the gate fails only when the one-sided 95% Wilson lower bound is above it.
DEFAULT_ERROR_RATE = ErrorRateGate(max=0.01, confidence=0.95)
# Jensen-Shannon divergence in bits between the candidate's and stable's predicted classes.
DEFAULT_DRIFT = DriftGate(max=0.1)
# Shadow stage only: share of mirrored inputs on which the candidate's top-1 class equals stable's.
DEFAULT_AGREEMENT = AgreementGate(min=0.9)

# Latency next to stable, compared by *medians*: candidate median <= MEDIAN_TOLERANCE x stable median + MEDIAN_SLACK_MS.
# The default gates use it in every stage; a spec's latencyP99 gate without maxRatioToStable uses it in a split. Two
# p99 tails over one window differ by 2x on scheduling noise alone (measured here: 46 ms vs 20 ms for the same model;
# 2.7x for a healthy canary at 5% of the traffic), while medians hold still; a model that is slower per inference is
# slower at its median. Tolerance and slack keep millisecond medians from flipping. Gates has no field for this rule,
# so `compares_medians` says where it applies.
MEDIAN_TOLERANCE = 1.2
MEDIAN_SLACK_MS = 2.0


def uses_defaults(analysis: Analysis, stage: str | None) -> bool:
    """True when none of the spec's gates applies to `stage`, so the default gates judge it: the spec sets no gate,
    or only `agreement` (which compares mirrored traffic, so judges a shadow stage and not the canary after it)."""
    gates = analysis.gates
    return (
        gates.latency_p99 is None
        and gates.error_rate is None
        and gates.drift is None
        and (gates.agreement is None or stage != "shadow")
        and not gates.custom
    )


def effective_gates(analysis: Analysis, stage: str | None) -> Gates:
    """The gates that judge `stage`: the spec's, or the defaults when none of them applies (agreement only while
    shadowing). The median latency rule is not a field of Gates: see `compares_medians`."""
    if not uses_defaults(analysis, stage):
        return analysis.gates
    agreement = DEFAULT_AGREEMENT if stage == "shadow" else None
    return Gates(error_rate=DEFAULT_ERROR_RATE, drift=DEFAULT_DRIFT, agreement=agreement)


def compares_medians(analysis: Analysis, stage: str | None) -> bool:
    """True when latency is judged against stable by medians in `stage`: always under the default gates, and in a
    split whose latencyP99 gate sets no maxRatioToStable."""
    if uses_defaults(analysis, stage):
        return True
    latency = analysis.gates.latency_p99
    return stage == "split" and latency is not None and latency.max_ratio_to_stable is None


def defaults_note(analysis: Analysis, stage: str | None) -> str | None:
    """One line naming the default gates that judge `stage`, for the RolloutStarted Event and status.message (what
    `kubectl describe` shows); None when the spec's own gates judge it."""
    if not uses_defaults(analysis, stage):
        return None
    gates = effective_gates(analysis, stage)
    rules = [
        f"errorRate <= {DEFAULT_ERROR_RATE.max:g} ({DEFAULT_ERROR_RATE.confidence:.0%} one-sided Wilson)",
        f"latency median <= {MEDIAN_TOLERANCE:g}x stable + {MEDIAN_SLACK_MS:g}ms",
        f"drift <= {DEFAULT_DRIFT.max:g} (Jensen-Shannon bits of predicted classes vs stable)",
    ]
    if gates.agreement is not None:
        rules.append(f"agreement >= {gates.agreement.min:g} (top-1 vs stable on mirrored inputs)")
    return (
        f"default gates in force (spec.rollout.analysis.gates sets none for the {stage or 'current'} stage): "
        f"{', '.join(rules)}; each needs minSamples {analysis.min_samples} per window"
    )

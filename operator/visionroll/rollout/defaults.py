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
from visionroll.rollout.catalogue import SLOWER_SHARE_MAX, Scope

# 1% of answers may fail; the gate passes when the 95% confidence sequence's upper bound is at or below it.
DEFAULT_ERROR_RATE = ErrorRateGate(max=0.01, confidence=0.95)
# Jensen-Shannon divergence in bits between the candidate's and stable's predicted classes.
DEFAULT_DRIFT = DriftGate(max=0.1)
# Shadow stage only: share of mirrored inputs on which the candidate's top-1 class equals stable's.
DEFAULT_AGREEMENT = AgreementGate(min=0.9)


def uses_defaults(analysis: Analysis, stage: str | None) -> bool:
    """True when none of the spec's gates applies to `stage`, so the default gates judge it: the spec sets no gate,
    or only `agreement` without paired copies (it compares mirrored traffic, so judges a shadow stage and not the
    canary after it), or only ground-truth gates (accuracy, recall) in a shadow stage (labels count for live answers
    only)."""
    gates = analysis.gates
    agreement_here = gates.agreement is not None and (stage == "shadow" or gates.agreement.paired_percent > 0)
    labels_here = (gates.accuracy is not None or gates.recall is not None) and stage != "shadow"
    return (
        gates.latency_p99 is None
        and gates.error_rate is None
        and gates.drift is None
        and not agreement_here
        and not labels_here
        and not gates.custom
    )


def effective_gates(analysis: Analysis, stage: str | None) -> Gates:
    """The gates that judge `stage`: the spec's, or the defaults when none of them applies (agreement only while
    shadowing). Under the defaults latency is judged next to stable (catalogue: latencyVsStable)."""
    if not uses_defaults(analysis, stage):
        return analysis.gates
    agreement = DEFAULT_AGREEMENT if stage == "shadow" else None
    return Gates(error_rate=DEFAULT_ERROR_RATE, drift=DEFAULT_DRIFT, agreement=agreement)


def scope(analysis: Analysis, stage: str | None, *, vs_stable: bool = True, equal_load: bool = True) -> Scope:
    """What the catalogue needs to know to pick the gates of `stage`."""
    return Scope(
        gates=effective_gates(analysis, stage),
        stage=stage,
        vs_stable=vs_stable,
        equal_load=equal_load,
        min_samples=analysis.min_samples,
        defaults=uses_defaults(analysis, stage),
    )


def defaults_note(analysis: Analysis, stage: str | None) -> str | None:
    """One line naming the default gates that judge `stage`, for the RolloutStarted Event and status.message (what
    `kubectl describe` shows); None when the spec's own gates judge it."""
    if not uses_defaults(analysis, stage):
        return None
    gates = effective_gates(analysis, stage)
    rules = [
        f"errorRate <= {DEFAULT_ERROR_RATE.max:g} ({DEFAULT_ERROR_RATE.confidence:.0%} confidence sequence)",
        f"latency P(slower than stable) <= {SLOWER_SHARE_MAX:g} (Mann-Whitney)",
        f"drift <= {DEFAULT_DRIFT.max:g} (Jensen-Shannon bits of predicted classes vs stable)",
    ]
    if gates.agreement is not None:
        rules.append(f"agreement >= {gates.agreement.min:g} (top-1 vs stable on mirrored inputs)")
    return (
        f"default gates in force (spec.rollout.analysis.gates sets none for the {stage or 'current'} stage): "
        f"{', '.join(rules)}; evidence accumulates over each stage (at least minSamples {analysis.min_samples})"
    )

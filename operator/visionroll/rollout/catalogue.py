"""The gate catalogue: every built-in gate declared once, with what it measures, the PromQL templates it reads (names
from `metrics/queries.py`), its test, its threshold text, its numeric limit and its dashboard panel.

`required_measurements`, `judge` and `thresholds` all read this table, so a gate is added or changed in one place.
Where a gate applies is part of its entry: `Scope` says what the judge knows (the effective gates, the stage, whether
the stable serves live traffic to compare with). Custom gates are entries made from the spec (`custom_entries`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from visionroll.api import GateResult, Gates
from visionroll.rollout import names as n
from visionroll.rollout import verdicts as v
from visionroll.rollout.types import Measurements

# Confidence of the bounds of the gates without a `confidence` field: each misses at any look of a stage with
# probability at most ALPHA (errorRate uses 1 - its confidence).
ALPHA = 0.05
# latencyVsStable: at most this share of (candidate, stable) request pairs may have the candidate slower.
SLOWER_SHARE_MAX = 0.6


@dataclass(frozen=True)
class Scope:
    """Where a gate is judged: the effective gates of the stage, the stage, and whether stable serves live traffic
    (False at a canary step of 100%: then no gate compares with stable)."""

    gates: Gates
    stage: str | None
    vs_stable: bool
    min_samples: int
    defaults: bool = False  # the gates are the default gates (defaults.py)
    equal_load: bool = True  # the candidate serves at least the stable's share (gates.equal_load)


@dataclass(frozen=True)
class Entry:
    name: str
    measures: str  # what, in plain words (docs/rollout.md has the formula)
    test: str  # the test, in plain words
    panel: str  # the dashboard panel that plots it
    queries: tuple[str, ...]  # PromQL template names the provider renders for it
    measurements: tuple[str, ...]  # measurement names the judge reads
    applies: Callable[[Scope], bool]
    threshold: Callable[[Gates], str]
    limit: Callable[[Gates], float | None]  # the single number the threshold text holds the value to, if any
    judge: Callable[[Scope, Measurements], GateResult]


def _paired(s: Scope) -> bool:
    """Agreement compares the candidate's top-1 with stable's on the same input: mirrored copies while shadowing, and
    on canary and split the paired copies the router makes for `agreement.pairedPercent` of candidate requests."""
    a = s.gates.agreement
    return a is not None and (s.stage == "shadow" or (a.paired_percent > 0 and s.vs_stable))


def _latency_vs_stable(s: Scope) -> bool:
    """Latency next to stable: whenever a spec's latency gate sets maxRatioToStable (the p99 ratio is only sound at
    equal load; it is judged as this Mann-Whitney comparison), in a split with a latency gate, and under the default
    gates (no latency gate set: see defaults.py); in each case only at equal load (`gates.equal_load`): a candidate
    with a small share of the traffic waits longer for company in its batches than a stable with the rest, and looks
    slower for it (examples/canary.yaml at its 5% step: P(slower) 0.73 for the same model on real pods)."""
    lat = s.gates.latency_p99
    if not s.vs_stable or not s.equal_load:
        return False
    if lat is None:
        return s.defaults
    return lat.max_ratio_to_stable is not None or s.stage == "split"


def _labelled(s: Scope) -> bool:
    """Labels (POST /feedback) count only for answers clients got, so the ground-truth gates judge every stage but a
    shadow one (the candidate's answers there go to no client: admission refuses them on a shadow that never serves
    the candidate)."""
    return s.stage != "shadow"


def _alpha(gates: Gates) -> float:
    return 1 - gates.error_rate.confidence if gates.error_rate is not None else ALPHA


CATALOGUE: tuple[Entry, ...] = (
    Entry(
        name=n.LATENCY_P99,
        measures="candidate p99 latency (router histogram)",
        test="binomial confidence sequence on the share of requests slower than the bucket bounds around maxMs",
        panel="Latency p50 / p99",
        queries=("analysis:latency_buckets",),
        measurements=(n.LATENCY,),
        applies=lambda s: s.gates.latency_p99 is not None and s.gates.latency_p99.max_ms is not None,
        threshold=lambda g: f"<= {_max_ms(g):g}ms (share slower <= 1%)",
        limit=lambda g: _max_ms(g),
        judge=lambda s, m: v.tail(
            n.LATENCY_P99,
            m.get(n.LATENCY),
            s.min_samples,
            max_ms=_max_ms(s.gates),
            alpha=ALPHA,
            text=f"<= {_max_ms(s.gates):g}ms (share slower <= 1%)",
        ),
    ),
    Entry(
        name=n.LATENCY_VS_STABLE,
        measures="P(candidate request slower than a stable request) + ties / 2, from both histograms",
        test="Mann-Whitney probability bounded through confidence bands on both variants' bucket CDFs",
        panel="Latency p50 / p99",
        queries=("analysis:latency_buckets",),
        measurements=(n.LATENCY, n.LATENCY_STABLE),
        applies=_latency_vs_stable,
        threshold=lambda g: f"P(slower than stable) <= {SLOWER_SHARE_MAX:g}",
        limit=lambda g: SLOWER_SHARE_MAX,
        judge=lambda s, m: v.slower(
            n.LATENCY_VS_STABLE,
            m.get(n.LATENCY),
            m.get(n.LATENCY_STABLE),
            s.min_samples,
            limit=SLOWER_SHARE_MAX,
            alpha=ALPHA,
            text=f"P(slower than stable) <= {SLOWER_SHARE_MAX:g}",
        ),
    ),
    Entry(
        name=n.ERROR_RATE,
        measures="share of candidate requests not answered 2xx",
        test="beta-binomial confidence sequence at 1 - confidence, prior centred on max",
        panel="Error rate",
        queries=("analysis:requests", "analysis:errors"),
        measurements=(n.ERROR_RATE,),
        applies=lambda s: s.gates.error_rate is not None,
        threshold=lambda g: _error_text(g),
        limit=lambda g: g.error_rate.max if g.error_rate else None,
        judge=lambda s, m: v.rate(
            n.ERROR_RATE,
            m.get(n.ERROR_RATE),
            s.min_samples,
            limit=_error_max(s.gates),
            alpha=_alpha(s.gates),
            text=_error_text(s.gates),
            minimum_rate=False,
        ),
    ),
    Entry(
        name=n.ERROR_RATE_VS_STABLE,
        measures="candidate error rate minus stable's (split)",
        test="difference of two confidence sequences, each at (1 - confidence) / 2",
        panel="Error rate",
        queries=("analysis:requests", "analysis:errors"),
        measurements=(n.ERROR_RATE, n.ERROR_RATE_STABLE),
        applies=lambda s: s.gates.error_rate is not None and s.stage == "split" and s.vs_stable,
        threshold=lambda g: f"candidate - stable <= {_error_max(g) / 2:g}",
        limit=lambda g: None,
        judge=lambda s, m: v.rate_difference(
            n.ERROR_RATE_VS_STABLE,
            m.get(n.ERROR_RATE),
            m.get(n.ERROR_RATE_STABLE),
            s.min_samples,
            margin=_error_max(s.gates) / 2,
            alpha=_alpha(s.gates),
            text=f"candidate - stable <= {_error_max(s.gates) / 2:g}",
        ),
    ),
    Entry(
        name=n.DRIFT,
        measures="Jensen-Shannon divergence (bits) of predicted classes, candidate vs stable",
        test="per-class confidence sequences (alpha / 2k each), the divergence bounded class by class",
        panel="Drift (Jensen-Shannon, bits)",
        queries=("analysis:predictions_by_class",),
        measurements=(n.PREDICTIONS, n.PREDICTIONS_STABLE),
        applies=lambda s: s.gates.drift is not None and s.vs_stable,
        threshold=lambda g: f"<= {_drift_max(g):g} bits",
        limit=lambda g: g.drift.max if g.drift else None,
        judge=lambda s, m: v.divergence(
            n.DRIFT,
            m.get(n.PREDICTIONS),
            m.get(n.PREDICTIONS_STABLE),
            s.min_samples,
            limit=_drift_max(s.gates),
            alpha=ALPHA,
            text=f"<= {_drift_max(s.gates):g} bits",
        ),
    ),
    Entry(
        name=n.AGREEMENT,
        measures="share of compared copies where the candidate's top-1 equals stable's",
        test="beta-binomial confidence sequence, prior centred on min",
        panel="Shadow agreement",
        queries=("analysis:comparisons_by_result",),
        measurements=(n.AGREEMENT,),
        applies=_paired,
        threshold=lambda g: f">= {_agreement_min(g):g}",
        limit=lambda g: g.agreement.min if g.agreement else None,
        judge=lambda s, m: v.rate(
            n.AGREEMENT,
            m.get(n.AGREEMENT),
            s.min_samples,
            limit=_agreement_min(s.gates),
            alpha=ALPHA,
            text=f">= {_agreement_min(s.gates):g}",
            minimum_rate=True,
        ),
    ),
    Entry(
        name=n.ACCURACY,
        measures="share of labelled candidate answers whose top-1 was the true label (POST /feedback)",
        test="one-sided binomial confidence sequences: fail against twice the allowed wrong-answer odds, pass against "
        "half, alpha / 2 each",
        panel="Accuracy on labels",
        queries=("analysis:feedback_by_outcome",),
        measurements=(n.ACCURACY,),
        applies=lambda s: s.gates.accuracy is not None and s.gates.accuracy.min is not None and _labelled(s),
        threshold=lambda g: f">= {_accuracy_min(g):g} (labels)",
        limit=lambda g: g.accuracy.min if g.accuracy else None,
        judge=lambda s, m: v.rate(
            n.ACCURACY,
            m.get(n.ACCURACY),
            s.min_samples,
            limit=_accuracy_min(s.gates),
            alpha=ALPHA,
            text=f">= {_accuracy_min(s.gates):g} (labels)",
            minimum_rate=True,
            late=True,
        ),
    ),
    Entry(
        name=n.ACCURACY_VS_STABLE,
        measures="stable accuracy minus candidate accuracy on labels of each one's live answers (the drop)",
        test="difference of both variants' confidence sequences, each at alpha / 2",
        panel="Accuracy on labels",
        queries=("analysis:feedback_by_outcome",),
        measurements=(n.ACCURACY, n.ACCURACY_STABLE),
        applies=lambda s: (
            s.gates.accuracy is not None
            and s.gates.accuracy.max_drop_vs_stable is not None
            and _labelled(s)
            and s.vs_stable
        ),
        threshold=lambda g: f"stable - candidate <= {_accuracy_drop(g):g} (labels)",
        limit=lambda g: g.accuracy.max_drop_vs_stable if g.accuracy else None,
        judge=lambda s, m: v.rate_difference(
            n.ACCURACY_VS_STABLE,
            m.get(n.ACCURACY),
            m.get(n.ACCURACY_STABLE),
            s.min_samples,
            margin=_accuracy_drop(s.gates),
            alpha=ALPHA,
            text=f"stable - candidate <= {_accuracy_drop(s.gates):g} (labels)",
            drop=True,
            late=True,
        ),
    ),
    Entry(
        name=n.RECALL,
        measures="recall of the candidate's worst class: correct / labels of that true class, the least over classes",
        test="one-sided binomial confidence sequences per class at alpha / k (k classes labelled); the worst recall "
        "lies between the least lower and the least upper bound",
        panel="Recall by class",
        queries=("analysis:feedback_by_class_and_outcome",),
        measurements=(n.RECALL,),
        applies=lambda s: s.gates.recall is not None and _labelled(s),
        threshold=lambda g: f"worst class >= {_recall_min(g):g} (labels)",
        limit=lambda g: g.recall.min if g.recall else None,
        judge=lambda s, m: v.worst_recall(
            n.RECALL,
            m.get(n.RECALL),
            s.min_samples,
            limit=_recall_min(s.gates),
            alpha=ALPHA,
            text=f"worst class >= {_recall_min(s.gates):g} (labels)",
        ),
    ),
)


def custom_entries(gates: Gates) -> tuple[Entry, ...]:
    """One entry per custom gate: its own query, its value over the stage held to [min, max] (no bounds)."""
    out = []
    for c in gates.custom:
        text = " and ".join(t for t in (_opt(">=", c.min), _opt("<=", c.max)) if t)
        name = n.custom(c.name)
        single = [b for b in (c.min, c.max) if b is not None]
        out.append(
            Entry(
                name=name,
                measures="the custom query's single value",
                test="plain comparison of the value over the stage (any PromQL: no bound)",
                panel="Gates: last value and threshold",
                queries=(),
                measurements=(name,),
                applies=lambda s: True,
                threshold=lambda g, text=text: text,  # type: ignore[misc]
                limit=lambda g, single=single: single[0] if len(single) == 1 else None,  # type: ignore[misc]
                judge=lambda s, m, name=name, c=c, text=text: v.within(  # type: ignore[misc]
                    name, m.get(name), s.min_samples, lo=c.min, hi=c.max, text=text
                ),
            )
        )
    return tuple(out)


def entries(scope: Scope) -> tuple[Entry, ...]:
    """The gates that judge `scope`, in catalogue order, then the custom gates."""
    return tuple(e for e in CATALOGUE if e.applies(scope)) + custom_entries(scope.gates)


def _opt(op: str, bound: float | None) -> str:
    return "" if bound is None else f"{op} {bound:g}"


def _max_ms(g: Gates) -> float:
    assert g.latency_p99 is not None and g.latency_p99.max_ms is not None
    return g.latency_p99.max_ms


def _error_max(g: Gates) -> float:
    assert g.error_rate is not None
    return g.error_rate.max


def _error_text(g: Gates) -> str:
    assert g.error_rate is not None
    return f"<= {g.error_rate.max:g} ({g.error_rate.confidence:.0%} confidence sequence)"


def _drift_max(g: Gates) -> float:
    assert g.drift is not None
    return g.drift.max


def _agreement_min(g: Gates) -> float:
    assert g.agreement is not None
    return g.agreement.min


def _accuracy_min(g: Gates) -> float:
    assert g.accuracy is not None and g.accuracy.min is not None
    return g.accuracy.min


def _accuracy_drop(g: Gates) -> float:
    assert g.accuracy is not None and g.accuracy.max_drop_vs_stable is not None
    return g.accuracy.max_drop_vs_stable


def _recall_min(g: Gates) -> float:
    assert g.recall is not None
    return g.recall.min

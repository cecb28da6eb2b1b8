"""The tests behind the gates: measurements over the stage so far in, one `GateResult` out.

Every test bounds its quantity with a confidence sequence (`sequential.py`), so the bounds hold at every analysis of
the stage at once. A gate passes only when its bound clears the threshold (the upper bound for a maximum, the lower
for a minimum), fails only when the opposite bound is beyond it, and is inconclusive in between. A gate with no
measurement, a failed query, no data or fewer than `minSamples` samples is inconclusive with no bounds: no evidence.
Labels are the exception to "no bounds": they arrive late, so too few of them is inconclusive with the bounds [0, 1]
(evidence still to come), while a failed query of them has none.
"""

from __future__ import annotations

import math

from visionroll.api import GateResult
from visionroll.api.status import Verdict
from visionroll.rollout.names import recall_counts
from visionroll.rollout.sequential import (
    divergence_bounds,
    lower_bound,
    plug_in_bias,
    rate_bounds,
    slower_share,
    slower_share_bounds,
    upper_bound,
)
from visionroll.rollout.stats import js_divergence
from visionroll.rollout.types import Measurement

TAIL = 0.01  # p99: at most 1% of requests slower than the bound


def missing(name: str, text: str, minimum: int, *ms: Measurement | None, late: bool = False) -> GateResult | None:
    """The inconclusive result of the first measurement that cannot be judged, or None when all can. `late`: the
    samples are labels, which arrive after the answers and for some of them only, so none or too few yet is evidence
    still to come: the result then carries the bounds [0, 1] (nothing is known yet), and counts against
    inconclusiveLimit only once the stage is out of time (analysis.counts_as_inconclusive); a failed query never has
    bounds."""
    unknown = {"lower": 0.0, "upper": 1.0} if late else {}
    for m in ms:
        if m is None:
            return GateResult(name=name, threshold=text, verdict="inconclusive", message="not measured")
        if m.error is not None:
            return GateResult(name=name, threshold=text, samples=m.samples, verdict="inconclusive", message=m.error)
        if m.value is None and not m.counts:
            return GateResult(
                name=name, threshold=text, samples=m.samples, verdict="inconclusive", message="no data", **unknown
            )
        if m.samples < minimum:
            message = f"{m.samples} samples < minSamples {minimum}"
            return GateResult(
                name=name,
                value=m.value,
                threshold=text,
                samples=m.samples,
                verdict="inconclusive",
                message=message,
                **unknown,
            )
    return None


def at_most(lower: float, upper: float, limit: float) -> Verdict:
    return "fail" if lower > limit else "pass" if upper <= limit else "inconclusive"


def at_least(lower: float, upper: float, limit: float) -> Verdict:
    return "fail" if upper < limit else "pass" if lower >= limit else "inconclusive"


def rate(
    name: str, m: Measurement | None, minimum: int, *, limit: float, alpha: float, text: str, minimum_rate: bool,
    late: bool = False,
) -> GateResult:  # fmt: skip
    """A share (errors, agreements, correct answers) held to a maximum or (`minimum_rate`) a minimum. The fail side
    tests against twice the allowed odds of the bad outcome, the pass side against half (sequential.rate_bounds).
    `late`: labels (`missing`)."""
    lacking = missing(name, text, minimum, m, late=late)
    if lacking is not None or m is None or m.value is None:
        return lacking or GateResult(name=name, threshold=text, verdict="inconclusive", message="no data")
    hits = _hits(m)
    lo, hi = rate_bounds(hits, m.samples, alpha=alpha)
    verdict = at_least(lo, hi, limit) if minimum_rate else at_most(lo, hi, limit)
    return GateResult(
        name=name,
        value=m.value,
        threshold=text,
        samples=m.samples,
        lower=lo,
        upper=hi,
        verdict=verdict,
        message=f"{hits}/{m.samples}, bounds [{lo:.4f}, {hi:.4f}]",
    )


def rate_difference(
    name: str, cand: Measurement | None, stable: Measurement | None, minimum: int, *, margin: float, alpha: float,
    text: str, drop: bool = False, late: bool = False,
) -> GateResult:  # fmt: skip
    """Candidate rate minus stable rate held to at most `margin` (`drop`: stable rate minus candidate rate, for a
    share where higher is better, such as accuracy), each rate bounded at alpha / 2 (each side at alpha / 4: a fail
    errs with probability at most alpha / 2, a pass likewise). `late`: labels (`missing`)."""
    lacking = missing(name, text, minimum, cand, stable, late=late)
    if lacking is not None and lacking.lower is not None:
        return lacking.model_copy(update={"lower": -1.0, "upper": 1.0})  # a difference of two unknown shares
    if lacking is not None or cand is None or stable is None or cand.value is None or stable.value is None:
        return lacking or GateResult(name=name, threshold=text, verdict="inconclusive", message="no data")
    x1, x2 = _hits(cand), _hits(stable)
    c_lo, c_hi = rate_bounds(x1, cand.samples, alpha=alpha / 2)
    s_lo, s_hi = rate_bounds(x2, stable.samples, alpha=alpha / 2)
    value, lo, hi = cand.value - stable.value, c_lo - s_hi, c_hi - s_lo
    if drop:
        value, lo, hi = -value, -hi, -lo
    return GateResult(
        name=name,
        value=value,
        threshold=text,
        samples=cand.samples,
        lower=lo,
        upper=hi,
        verdict=at_most(lo, hi, margin),
        message=f"candidate {x1}/{cand.samples}, stable {x2}/{stable.samples}",
    )


def worst_recall(
    name: str, m: Measurement | None, minimum: int, *, limit: float, alpha: float, text: str
) -> GateResult:
    """The recall of the worst class (correct / labels of that true class) at least `limit`. Every class labelled so
    far is bounded at alpha / k for k such classes (a union bound), so all bounds hold at once; the worst recall lies
    in [min of the lower bounds, min of the upper bounds]. A class with no label yet is not judged. Labels arrive
    late: too few yet is inconclusive with the bounds [0, 1] (`missing`)."""
    lacking = missing(name, text, minimum, m, late=True)
    if lacking is not None or m is None:
        return lacking or GateResult(name=name, threshold=text, verdict="inconclusive", message="no data")
    classes = {c: (round(x), round(n)) for c, (x, n) in recall_counts(m.counts).items() if round(n) > 0}
    if not classes:
        return GateResult(
            name=name,
            threshold=text,
            samples=m.samples,
            lower=0.0,
            upper=1.0,
            verdict="inconclusive",
            message="no labels of a class",
        )
    k = len(classes)
    bounds = {c: rate_bounds(x, n, alpha=alpha / k) for c, (x, n) in classes.items()}
    lo, hi = min(b[0] for b in bounds.values()), min(b[1] for b in bounds.values())
    worst = min(classes, key=lambda c: (classes[c][0] / classes[c][1], c))
    weakest = min(bounds, key=lambda c: (bounds[c][0], c))  # the class that holds the pass back
    x, n = classes[worst]
    return GateResult(
        name=name,
        value=x / n,
        threshold=text,
        samples=m.samples,
        lower=lo,
        upper=hi,
        verdict=at_least(lo, hi, limit),
        message=f"worst class {worst}: {x}/{n}; lowest bound class {weakest}; {k} classes labelled, "
        f"bounds [{lo:.4f}, {hi:.4f}]",
    )


def _hits(m: Measurement) -> int:
    """The count behind a share: value x samples, rounded into [0, samples]."""
    return min(m.samples, max(0, round((m.value or 0.0) * m.samples)))


def buckets(m: Measurement) -> tuple[list[float], list[float], float]:
    """A histogram measurement's finite bucket bounds (seconds, ascending), cumulative counts, and total (+Inf)."""
    finite = sorted((float(le), c) for le, c in m.counts.items() if not math.isinf(float(le)))
    total = max([c for le, c in m.counts.items() if math.isinf(float(le))] or [float(m.samples)])
    return [b for b, _ in finite], [min(c, total) for _, c in finite], total


def quantile_ms(m: Measurement, q: float) -> float | None:
    """The q-quantile in ms by linear interpolation inside its bucket (what histogram_quantile shows), for display."""
    bounds, counts, total = buckets(m)
    if total <= 0:
        return None
    prev_b, prev_c = 0.0, 0.0
    for b, c in zip(bounds, counts, strict=True):
        if c >= q * total:
            inside = (q * total - prev_c) / (c - prev_c) if c > prev_c else 1.0
            return (prev_b + (b - prev_b) * inside) * 1000.0
        prev_b, prev_c = b, c
    return prev_b * 1000.0


def tail(name: str, m: Measurement | None, minimum: int, *, max_ms: float, alpha: float, text: str) -> GateResult:
    """p99 <= max_ms, i.e. at most 1% of requests slower than max_ms, tested at the bucket bounds around max_ms: the
    share slower than the largest bound <= max_ms must be proven <= 1% to pass (it is at least the share slower than
    max_ms); the share slower than the smallest bound >= max_ms proven > 1% fails. Each test at alpha / 2."""
    lacking = missing(name, text, minimum, m)
    if lacking is not None or m is None:
        return lacking or GateResult(name=name, threshold=text, verdict="inconclusive", message="no data")
    bounds, counts, total = buckets(m)
    limit = max_ms / 1000.0
    below = [(b, c) for b, c in zip(bounds, counts, strict=True) if b <= limit + 1e-12]
    above = [(b, c) for b, c in zip(bounds, counts, strict=True) if b >= limit - 1e-12]
    # Share slower than a bound: total - cumulative count at it. No bound below max_ms: every request may be slower.
    hi = upper_bound(total - below[-1][1], total, alpha=alpha / 2) if below else 1.0
    lo = lower_bound(total - above[0][1], total, alpha=alpha / 2) if above else 0.0
    verdict: Verdict = "fail" if lo > TAIL else "pass" if hi <= TAIL else "inconclusive"
    edges = f"{below[-1][0] * 1000:g}ms" if below else "0ms", f"{above[0][0] * 1000:g}ms" if above else "+Inf"
    return GateResult(
        name=name,
        value=quantile_ms(m, 0.99),
        threshold=text,
        samples=m.samples,
        lower=lo,
        upper=hi,
        verdict=verdict,
        message=f"share slower than {edges[1]} >= {lo:.4f}, slower than {edges[0]} <= {hi:.4f} (needs <= {TAIL:g})",
    )


def slower(
    name: str, cand: Measurement | None, stable: Measurement | None, minimum: int, *, limit: float, alpha: float,
    text: str,
) -> GateResult:  # fmt: skip
    """P(a candidate request is slower than a stable one) + ties / 2 (Mann-Whitney) at most `limit`."""
    lacking = missing(name, text, minimum, cand, stable)
    if lacking is not None or cand is None or stable is None:
        return lacking or GateResult(name=name, threshold=text, verdict="inconclusive", message="no data")
    c_bounds, c_counts, c_total = buckets(cand)
    s_bounds, s_counts, s_total = buckets(stable)
    if c_bounds != s_bounds:
        message = "candidate and stable histograms have different buckets"
        return GateResult(name=name, threshold=text, samples=cand.samples, verdict="inconclusive", message=message)
    lo, hi = slower_share_bounds(c_counts, c_total, s_counts, s_total, alpha=alpha)
    theta = slower_share([c / c_total for c in c_counts], [c / s_total for c in s_counts])
    p50c, p50s = quantile_ms(cand, 0.5), quantile_ms(stable, 0.5)
    medians = f"medians {p50c:.4g}ms vs {p50s:.4g}ms" if p50c is not None and p50s is not None else ""
    return GateResult(
        name=name,
        value=theta,
        threshold=text,
        samples=cand.samples,
        lower=lo,
        upper=hi,
        verdict=at_most(lo, hi, limit),
        message=f"bounds [{lo:.3f}, {hi:.3f}]; {medians}; stable n={stable.samples}",
    )


def divergence(
    name: str, cand: Measurement | None, stable: Measurement | None, minimum: int, *, limit: float, alpha: float,
    text: str,
) -> GateResult:  # fmt: skip
    """The Jensen-Shannon divergence of predicted classes, candidate vs stable, at most `limit` bits."""
    lacking = missing(name, text, minimum, cand, stable)
    if lacking is not None or cand is None or stable is None:
        return lacking or GateResult(name=name, threshold=text, verdict="inconclusive", message="no data")
    if sum(cand.counts.values()) <= 0 or sum(stable.counts.values()) <= 0:
        return GateResult(name=name, threshold=text, samples=cand.samples, verdict="inconclusive", message="no data")
    lo, hi, k = divergence_bounds(cand.counts, stable.counts, alpha=alpha)
    raw = js_divergence(cand.counts, stable.counts)
    bias = plug_in_bias(k, sum(cand.counts.values()), sum(stable.counts.values()))
    return GateResult(
        name=name,
        value=max(0.0, raw - bias),
        threshold=text,
        samples=cand.samples,
        lower=lo,
        upper=hi,
        verdict=at_most(lo, hi, limit),
        message=f"bounds [{lo:.4f}, {hi:.4f}] over {k} classes; plug-in {raw:.4f} of which ~{bias:.4f} is "
        f"sampling bias; stable n={stable.samples}",
    )


def within(
    name: str, m: Measurement | None, minimum: int, *, lo: float | None, hi: float | None, text: str
) -> GateResult:
    """A custom query's single value held to [lo, hi]: any PromQL, so no bounds, only the value over the stage."""
    lacking = missing(name, text, minimum, m)
    if lacking is not None or m is None or m.value is None:
        return lacking or GateResult(name=name, threshold=text, verdict="inconclusive", message="no data")
    ok = (lo is None or m.value >= lo) and (hi is None or m.value <= hi)
    return GateResult(name=name, value=m.value, threshold=text, samples=m.samples, verdict="pass" if ok else "fail")

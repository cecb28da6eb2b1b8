"""Judging: measurements held to the effective gates, one `GateResult` per rule, each pass, fail or inconclusive.

Rule 1 of the design lives here: a gate with no measurement, a failed query, or fewer than `minSamples` samples is
inconclusive, never pass. The overall verdict of one analysis is fail if any gate failed (a failure is evidence even
when other gates lack data), else inconclusive if any gate was, else pass, and inconclusive when there was no gate at
all: no evidence is never a pass. The gates are `defaults.effective_gates`: the spec's, or the default gates when the
spec sets none for the stage, so a rollout without gates is judged too and never advances on time alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from visionroll.api import Analysis, GateResult, Gates
from visionroll.api.status import Verdict
from visionroll.rollout import gates as g
from visionroll.rollout.defaults import MEDIAN_SLACK_MS, MEDIAN_TOLERANCE, compares_medians, effective_gates
from visionroll.rollout.stats import two_proportion_z, wilson_interval, z_quantile
from visionroll.rollout.types import Measurement, Measurements


def judge(
    analysis: Analysis, stage: str | None, measurements: Measurements, *, vs_stable: bool = True
) -> tuple[GateResult, ...]:
    """Every effective gate (the spec's, or the defaults) that applies to `stage`, judged on `measurements`;
    `vs_stable=False` (a canary step of 100%, see `gates.stable_serves`) leaves out the comparisons with stable."""
    spec = effective_gates(analysis, stage)
    minimum = analysis.min_samples
    results: list[GateResult] = []
    if spec.latency_p99 is not None:
        cand = measurements.get(g.LATENCY_P99)
        if spec.latency_p99.max_ms is not None:
            limit = spec.latency_p99.max_ms
            results.append(_bounded(g.LATENCY_P99, cand, minimum, hi=limit, text=f"<= {limit:g}ms"))
        ratio = spec.latency_p99.max_ratio_to_stable
        if ratio is not None and vs_stable:
            results.append(_ratio(g.LATENCY_RATIO, cand, measurements.get(g.LATENCY_P99_STABLE), minimum, ratio))
    if compares_medians(analysis, stage) and vs_stable:
        results.append(
            _median_vs_stable(measurements.get(g.LATENCY_P50), measurements.get(g.LATENCY_P50_STABLE), minimum)
        )
    if spec.error_rate is not None:
        cand = measurements.get(g.ERROR_RATE)
        results.append(_error_rate(cand, minimum, spec.error_rate.max, spec.error_rate.confidence))
        if stage == "split":
            stable = measurements.get(g.ERROR_RATE_STABLE)
            results.append(_error_vs_stable(cand, stable, minimum, spec.error_rate.confidence))
    if spec.drift is not None and vs_stable:
        limit = spec.drift.max
        results.append(_bounded(g.DRIFT, measurements.get(g.DRIFT), minimum, hi=limit, text=f"<= {limit:g}"))
    if spec.agreement is not None and stage == "shadow":
        low = spec.agreement.min
        results.append(_bounded(g.AGREEMENT, measurements.get(g.AGREEMENT), minimum, lo=low, text=f">= {low:g}"))
    for c in spec.custom:
        text = " and ".join(t for t in (_opt(">=", c.min), _opt("<=", c.max)) if t)
        m = measurements.get(g.custom(c.name))
        results.append(_bounded(g.custom(c.name), m, minimum, lo=c.min, hi=c.max, text=text))
    return tuple(results)


def thresholds(gates: Gates) -> dict[str, float]:
    """The numeric limit of each gate in `gates` that has a single one, by gate name: the number its `threshold` text
    holds the gate's value to; pass the gates that judged, `effective_gates(analysis, stage)`. A gate judged against
    stable by a test or a formula (errorRateVsStable, latencyP50VsStable) and a custom gate with both min and max have
    no single limit and are left out."""
    limits: dict[str, float] = {}
    if gates.latency_p99 is not None:
        if gates.latency_p99.max_ms is not None:
            limits[g.LATENCY_P99] = gates.latency_p99.max_ms
        if gates.latency_p99.max_ratio_to_stable is not None:
            limits[g.LATENCY_RATIO] = gates.latency_p99.max_ratio_to_stable
    if gates.error_rate is not None:
        limits[g.ERROR_RATE] = gates.error_rate.max
    if gates.drift is not None:
        limits[g.DRIFT] = gates.drift.max
    if gates.agreement is not None:
        limits[g.AGREEMENT] = gates.agreement.min
    for c in gates.custom:
        bounds = [b for b in (c.min, c.max) if b is not None]
        if len(bounds) == 1:
            limits[g.custom(c.name)] = bounds[0]
    return limits


def overall(results: Iterable[GateResult]) -> Verdict:
    """fail if any gate failed, else inconclusive if any gate was or there was none, else pass."""
    verdicts = {r.verdict for r in results}
    if "fail" in verdicts:
        return "fail"
    if "inconclusive" in verdicts or not verdicts:
        return "inconclusive"
    return "pass"


def summary(results: Iterable[GateResult]) -> str:
    """One line for events and history: `errorRate=0.2 (<= 0.01, n=412) fail; drift=...`."""
    parts = []
    for r in results:
        value = "n/a" if r.value is None else f"{r.value:.4g}"
        why = f" [{r.message}]" if r.message and r.verdict != "pass" else ""
        parts.append(f"{r.name}={value} ({r.threshold}, n={r.samples}) {r.verdict}{why}")
    return "; ".join(parts) or "no gate judged"


def _opt(op: str, bound: float | None) -> str:
    return "" if bound is None else f"{op} {bound:g}"


class _Known(NamedTuple):
    """A measurement that can be judged: it has a value and at least `minSamples` samples."""

    value: float
    samples: int


def _known(name: str, minimum: int, text: str, *ms: Measurement | None) -> GateResult | tuple[_Known, ...]:
    """The measurements `ms` ready to judge, or the inconclusive result of the first that cannot be judged."""
    known: list[_Known] = []
    for m in ms:
        if m is None:
            return GateResult(name=name, threshold=text, verdict="inconclusive", message="not measured")
        if m.error is not None:
            return GateResult(name=name, threshold=text, samples=m.samples, verdict="inconclusive", message=m.error)
        if m.value is None:
            return GateResult(name=name, threshold=text, samples=m.samples, verdict="inconclusive", message="no data")
        if m.samples < minimum:
            message = f"{m.samples} samples < minSamples {minimum}"
            return GateResult(
                name=name, value=m.value, threshold=text, samples=m.samples, verdict="inconclusive", message=message
            )
        known.append(_Known(m.value, m.samples))
    return tuple(known)


def _bounded(
    name: str, m: Measurement | None, minimum: int, *, lo: float | None = None, hi: float | None = None, text: str
) -> GateResult:
    known = _known(name, minimum, text, m)
    if isinstance(known, GateResult):
        return known
    ((value, samples),) = known
    ok = (lo is None or value >= lo) and (hi is None or value <= hi)
    return GateResult(name=name, value=value, threshold=text, samples=samples, verdict="pass" if ok else "fail")


def _ratio(name: str, cand: Measurement | None, stable: Measurement | None, minimum: int, limit: float) -> GateResult:
    text = f"<= {limit:g}x stable"
    known = _known(name, minimum, text, cand, stable)
    if isinstance(known, GateResult):
        return known
    c, s = known
    if s.value <= 0:
        return GateResult(
            name=name, threshold=text, samples=c.samples, verdict="inconclusive", message="stable p99 is 0"
        )
    ratio = c.value / s.value
    verdict: Verdict = "pass" if ratio <= limit else "fail"
    message = f"candidate {c.value:.4g}ms, stable {s.value:.4g}ms"
    return GateResult(name=name, value=ratio, threshold=text, samples=c.samples, verdict=verdict, message=message)


def _median_vs_stable(cand: Measurement | None, stable: Measurement | None, minimum: int) -> GateResult:
    """Not slower than stable: candidate median <= tolerance x stable median + slack."""
    tol, slack = MEDIAN_TOLERANCE, MEDIAN_SLACK_MS
    text = f"median <= {tol:g}x stable + {slack:g}ms"
    known = _known(g.LATENCY_VS_STABLE, minimum, text, cand, stable)
    if isinstance(known, GateResult):
        return known
    c, s = known
    verdict: Verdict = "pass" if c.value <= tol * s.value + slack else "fail"
    ratio = c.value / s.value if s.value > 0 else None
    message = f"candidate median {c.value:.4g}ms, stable median {s.value:.4g}ms"
    return GateResult(
        name=g.LATENCY_VS_STABLE, value=ratio, threshold=text, samples=c.samples, verdict=verdict, message=message
    )


def _error_rate(m: Measurement | None, minimum: int, limit: float, confidence: float) -> GateResult:
    text = f"<= {limit:g} ({confidence:.0%} one-sided Wilson)"
    known = _known(g.ERROR_RATE, minimum, text, m)
    if isinstance(known, GateResult):
        return known
    ((value, samples),) = known
    errors = min(samples, max(0, round(value * samples)))
    low, high = wilson_interval(errors, samples, z=z_quantile(confidence))
    # H0: rate <= max. Fail only when even the lower confidence bound is above max.
    verdict: Verdict = "fail" if low > limit else "pass"
    message = f"{errors}/{samples} errors, bounds [{low:.4f}, {high:.4f}]"
    return GateResult(name=g.ERROR_RATE, value=value, threshold=text, samples=samples, verdict=verdict, message=message)


def _error_vs_stable(
    cand: Measurement | None, stable: Measurement | None, minimum: int, confidence: float
) -> GateResult:
    name = g.ERROR_RATE_VS_STABLE
    text = f"not worse than stable ({confidence:.0%} one-sided z)"
    known = _known(name, minimum, text, cand, stable)
    if isinstance(known, GateResult):
        return known
    c, s = known
    x1 = min(c.samples, round(c.value * c.samples))
    x2 = min(s.samples, round(s.value * s.samples))
    z = two_proportion_z(x1, c.samples, x2, s.samples)
    verdict: Verdict = "fail" if z > z_quantile(confidence) else "pass"
    message = f"candidate {x1}/{c.samples}, stable {x2}/{s.samples}, z={z:.2f}"
    return GateResult(
        name=name, value=c.value - s.value, threshold=text, samples=c.samples, verdict=verdict, message=message
    )

"""A deterministic driver for the rollout core: specs, revisions, measurement scripts and a tick loop.

The loop calls the same `step` as the reconcile (measure if an analysis is due, then decide), with time as a number of
seconds from T0. What the reconcile observes is given: candidate pods are ready at once unless `ready=False` (then
the first stage begins in the tick that named the candidate, so a 30 s step started at t=0 ends at t=30 with analyses
at 10, 20 and 30 s), the stable has `stable_ready` ready pods, and `failures` names revisions whose pods failed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from visionroll.api import Revision, VisionModelSpec, VisionModelStatus
from visionroll.api.status import Replicas
from visionroll.rollout import gates as g
from visionroll.rollout import step, strategies
from visionroll.rollout.types import Context, Controls, Decision, Measurement, Measurements, Observed
from visionroll_serving.router.series import LATENCY_BUCKETS

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
STABLE = Revision(version="1.0", revision="1-0-aaaaaa")
CAND = Revision(version="2.0", revision="2-0-bbbbbb")
OTHER = Revision(version="3.0", revision="3-0-cccccc")

GATES: dict[str, Any] = {
    "latencyP99": {"maxMs": 150, "maxRatioToStable": 1.5},
    "errorRate": {"max": 0.01},
    "drift": {"max": 0.1},
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_spec(strategy: str = "canary", *, gates: dict[str, Any] | None = None, **analysis: Any) -> VisionModelSpec:
    rollout: dict[str, Any] = {
        "strategy": strategy,
        "canary": {"steps": [10, 50, 100], "stepDuration": "30s"},
        "analysis": {"interval": "10s", "minSamples": 100, "gates": GATES if gates is None else gates} | analysis,
    }
    if strategy == "shadow":
        rollout["shadow"] = {"mirrorPercent": 100, "duration": "30s", "thenPromote": "direct"}
        rollout["analysis"]["gates"] = (
            rollout["analysis"]["gates"] | {"agreement": {"min": 0.95}}
            if gates is None
            else rollout["analysis"]["gates"]
        )
    if strategy == "split":
        rollout["split"] = {"weights": [50, 50], "duration": "60s", "decide": "auto"}
    return VisionModelSpec.model_validate(
        {"model": {"name": "digits", "version": "2.0", "storageUri": "https://example.com/d.mar"}, "rollout": rollout}
    )


def with_rollout(spec: VisionModelSpec, **sections: Any) -> VisionModelSpec:
    """A copy of `spec` with rollout sections replaced (camelCase dicts)."""
    wire = spec.wire()
    wire["rollout"].update(sections)
    return VisionModelSpec.model_validate(wire)


def stable_status(**fields: Any) -> VisionModelStatus:
    return VisionModelStatus(phase="Stable", stable=STABLE, **fields)


# What the candidate (and stable) look like to Prometheus over the stage so far, per measurement name: (value,
# samples). Latency rows give the median in ms of a lognormal (sigma 0.3, so p99 = 2 x median) spread over the router's
# buckets; prediction rows give the share of answers moved onto class "0" out of ten equally likely classes.
HEALTHY: dict[str, tuple[float, int]] = {
    g.LATENCY: (20.0, 4000),
    g.LATENCY_STABLE: (20.0, 8000),
    g.ERROR_RATE: (0.0, 4000),
    g.ERROR_RATE_STABLE: (0.001, 8000),
    g.PREDICTIONS: (0.0, 4000),
    g.PREDICTIONS_STABLE: (0.0, 8000),
    g.AGREEMENT: (0.99, 4000),
}
CLASSES = 10
SIGMA = 0.3

Measure = Callable[[VisionModelSpec, VisionModelStatus, datetime], Measurements]


def latency_counts(median_ms: float, n: int, *, sigma: float = SIGMA) -> dict[str, float]:
    """Cumulative bucket counts (by `le`) of n requests whose latency is lognormal around `median_ms`."""
    counts = {}
    for bound in LATENCY_BUCKETS:
        z = (math.log(bound * 1000.0) - math.log(median_ms)) / sigma
        counts[f"{bound:g}"] = n * 0.5 * (1 + math.erf(z / math.sqrt(2)))
    counts["+Inf"] = float(n)
    return counts


def class_counts(shift: float, n: int) -> dict[str, float]:
    """n predictions over ten classes, a `shift` share of them moved onto class "0"."""
    return {str(c): n * ((1 - shift) / CLASSES + (shift if c == 0 else 0.0)) for c in range(CLASSES)}


def measurement(name: str, row: tuple[float | None, int] | str) -> Measurement:
    if isinstance(row, str):
        return Measurement(gate=name, value=None, samples=0, error=row)
    value, samples = row
    if value is None:
        return Measurement(gate=name, value=None, samples=samples)
    if name in (g.LATENCY, g.LATENCY_STABLE):
        return Measurement(gate=name, value=2 * value, samples=samples, counts=latency_counts(value, samples))
    if name in (g.PREDICTIONS, g.PREDICTIONS_STABLE):
        return Measurement(gate=name, value=float(samples), samples=samples, counts=class_counts(value, samples))
    return Measurement(gate=name, value=value, samples=samples)


def script(**overrides: tuple[float | None, int] | str) -> Measure:
    """Measurements that are HEALTHY except for `overrides` (name with '.' spelled '_'); a str is a query error."""
    table: dict[str, tuple[float | None, int] | str] = {
        **HEALTHY,
        **{k.replace("_", "."): v for k, v in overrides.items()},
    }

    def measure(spec: VisionModelSpec, status: VisionModelStatus, now: datetime) -> Measurements:
        names = g.required_measurements(spec.rollout.analysis, status.stage, vs_stable=g.stable_serves(status))
        values = tuple(measurement(name, table.get(name, (1.0, 1000))) for name in names)
        return Measurements(time=now, window_seconds=10.0, values=values)

    return measure


healthy = script()


@dataclass
class Run:
    decisions: list[Decision] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @property
    def status(self) -> VisionModelStatus:
        return self.decisions[-1].status

    @property
    def outcomes(self) -> list[tuple[float, str]]:
        return [(t, d.outcome) for t, d in zip(self.times, self.decisions, strict=True) if d.outcome]

    def reasons(self) -> list[str]:
        return [e.reason for d in self.decisions for e in d.events]


def tick(
    spec: VisionModelSpec,
    status: VisionModelStatus,
    t: float,
    *,
    measure: Measure = healthy,
    desired: Revision = CAND,
    generation: int = 2,
    controls: Controls | None = None,
    ready: bool | int = True,
    stable_ready: int = 1,
    failures: dict[str, str] | None = None,
    unscheduled: dict[str, str] | None = None,
) -> Decision:
    """One reconcile tick at `t`; `ready` is the candidate's ready pods (True: as many as its share or a handover
    needs, at least 1)."""
    now = at(t)
    cand = status.candidate or desired
    sized = max(1, strategies.candidate_floor(status, spec) or 1)  # for its share, or for a handover
    count = sized if ready is True else int(ready)
    observed = Observed(
        ready={
            **({status.stable.revision: stable_ready} if status.stable else {}),
            cand.revision: count,
            desired.revision: count,
        },
        failures=failures or {},
        unscheduled=unscheduled or {},
    )
    ctx = Context(
        spec=spec,
        status=status,
        generation=generation,
        desired=desired,
        now=now,
        controls=controls or Controls(),
        observed=observed,
    )
    decision = step(ctx, lambda c: measure(c.spec, c.status, c.now))
    # What the reconcile adds after deciding: ready replicas of the revisions the status names (for display).
    new = decision.status
    replicas = Replicas(stable=stable_ready, candidate=count if new.candidate is not None else 0)
    return dataclasses.replace(decision, status=new.model_copy(update={"replicas": replicas}))


def run(
    spec: VisionModelSpec,
    status: VisionModelStatus,
    *,
    measure: Measure | Callable[[float], Measure] = healthy,
    start: float = 0.0,
    every: float = 5.0,
    until: float = 600.0,
    stop: Callable[[VisionModelStatus], bool] = lambda s: s.candidate is None and s.phase != "Pending",
    **kwargs: Any,
) -> Run:
    """Tick every `every` seconds from `start` until `stop(status)` or `until`. `measure` may depend on time."""
    out = Run()
    t = start
    while t <= until:
        m = measure(t) if _is_timed(measure) else measure  # type: ignore[arg-type]
        decision = tick(spec, status, t, measure=m, **kwargs)  # type: ignore[arg-type]
        out.decisions.append(decision)
        out.times.append(t)
        status = decision.status
        if stop(status):
            break
        t += every
    return out


def _is_timed(measure: object) -> bool:
    return getattr(measure, "timed", False) is True


def timed(fn: Callable[[float], Measure]) -> Callable[[float], Measure]:
    """Mark a `t -> Measure` function, for measurements that change during a run."""
    fn.timed = True  # type: ignore[attr-defined]
    return fn

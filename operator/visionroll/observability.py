"""The operator's own Prometheus metrics (names in docs/contracts.md) and the HTTP endpoint that serves them.

Per tick the reconcile layer calls `record_tick`; per decision `record_decision` sets the rollout gauges (phase,
weights, gate values and thresholds) that the dashboard plots next to the router's metrics. Gate thresholds come from
`Decision.thresholds` (the spec's numeric limits), not from the human-readable `GateResult.threshold` text.
"""

from __future__ import annotations

import contextlib
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from visionroll.api import VisionModelStatus
from visionroll.api.status import Phase
from visionroll.rollout.clock import parse
from visionroll.rollout.types import Decision

PHASES: tuple[Phase, ...] = get_args(Phase)
REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter("visionroll_reconcile", "Reconcile ticks by result (ok | error).", ["result"], registry=REGISTRY)
for _result in ("ok", "error"):  # both series exist from the start: an error ratio of 0 is data, not a gap
    RECONCILES.labels(result=_result)
RECONCILE_DURATION = Histogram(
    "visionroll_reconcile_duration_seconds",
    "Duration of one reconcile tick.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
ROLLOUT_PHASE = Gauge(
    "visionroll_rollout_phase", "1 for the current phase.", ["namespace", "visionmodel", "phase"], registry=REGISTRY
)
ROLLOUT_WEIGHT = Gauge(
    "visionroll_rollout_weight", "Percent of live traffic.", ["namespace", "visionmodel", "variant"], registry=REGISTRY
)
GATE_VALUE = Gauge(
    "visionroll_gate_value", "Last measured gate value.", ["namespace", "visionmodel", "gate"], registry=REGISTRY
)
GATE_THRESHOLD = Gauge(
    "visionroll_gate_threshold", "The gate's threshold.", ["namespace", "visionmodel", "gate"], registry=REGISTRY
)
GATE_VERDICTS = Counter(
    "visionroll_gate_verdict",
    "Gate verdicts (pass | fail | inconclusive).",
    ["namespace", "visionmodel", "gate", "verdict"],
    registry=REGISTRY,
)
ROLLOUT_STARTED = Gauge(
    "visionroll_rollout_started_timestamp_seconds",
    "Unix time the rollout in progress began; absent when none is in progress.",
    ["namespace", "visionmodel"],
    registry=REGISTRY,
)
PROGRESS_DEADLINE = Gauge(
    "visionroll_rollout_progress_deadline_seconds",
    "spec.rollout.progressDeadline in seconds: a rollout running longer is reported stuck.",
    ["namespace", "visionmodel"],
    registry=REGISTRY,
)
DECISIONS = Counter(
    "visionroll_rollout_decisions",
    "Rollout decisions by outcome (promoted | rolled-back | aborted | advanced | paused | ...).",
    ["namespace", "visionmodel", "outcome"],
    registry=REGISTRY,
)


def record_tick(*, ok: bool, seconds: float) -> None:
    RECONCILES.labels(result="ok" if ok else "error").inc()
    RECONCILE_DURATION.observe(seconds)


def record_decision(
    namespace: str,
    visionmodel: str,
    decision: Decision,
    *,
    previous: VisionModelStatus,
    progress_deadline_seconds: float | None = None,
) -> None:
    status = decision.status
    if progress_deadline_seconds is not None:
        PROGRESS_DEADLINE.labels(namespace, visionmodel).set(progress_deadline_seconds)
    started = parse(status.rollout_started_at) if status.candidate is not None else None
    if started is not None:
        ROLLOUT_STARTED.labels(namespace, visionmodel).set(started.timestamp())
    else:
        with contextlib.suppress(KeyError):  # no rollout in progress: nothing can be stuck
            ROLLOUT_STARTED.remove(namespace, visionmodel)
    for phase in PHASES:
        ROLLOUT_PHASE.labels(namespace, visionmodel, phase).set(1 if status.phase == phase else 0)
    ROLLOUT_WEIGHT.labels(namespace, visionmodel, "stable").set(status.weights.stable)
    ROLLOUT_WEIGHT.labels(namespace, visionmodel, "candidate").set(status.weights.candidate)
    if decision.outcome:
        DECISIONS.labels(namespace, visionmodel, decision.outcome).inc()
    analysis = status.analysis
    if analysis is None or (previous.analysis is not None and previous.analysis.time == analysis.time):
        return  # gates are counted once per analysis, not once per tick
    for gate in analysis.gates:
        GATE_VERDICTS.labels(namespace, visionmodel, gate.name, gate.verdict).inc()
        if gate.value is not None:
            GATE_VALUE.labels(namespace, visionmodel, gate.name).set(gate.value)
        limit = decision.thresholds.get(gate.name)
        if limit is not None:
            GATE_THRESHOLD.labels(namespace, visionmodel, gate.name).set(limit)
        else:  # no single numeric limit (a test or formula against stable): no number beats a wrong one
            with contextlib.suppress(KeyError):
                GATE_THRESHOLD.remove(namespace, visionmodel, gate.name)


def forget(namespace: str, visionmodel: str) -> None:
    """Drop the gauges of a deleted VisionModel so the dashboard does not plot a ghost."""
    for gauge in (ROLLOUT_PHASE, ROLLOUT_WEIGHT, GATE_VALUE, GATE_THRESHOLD, ROLLOUT_STARTED, PROGRESS_DEADLINE):
        for labels in list(gauge._metrics):  # prometheus-client has no public "remove by prefix"
            if labels[:2] == (namespace, visionmodel):
                gauge.remove(*labels)


def serve(port: int, *, address: str = "0.0.0.0") -> None:
    """Serve `/metrics` on a background thread (port 0: not at all)."""
    if port:
        start_http_server(port, addr=address, registry=REGISTRY)

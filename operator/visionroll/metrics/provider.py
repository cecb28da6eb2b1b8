"""Measuring a rollout in Prometheus: `MetricsProvider.measure(...) -> Measurements`, never raising into `decide`.

`PrometheusProvider` renders the templates of `queries.py` for the candidate and the stable revision, evaluates them
at one instant (`now`) with prometheus-api-client, and turns the answers into the measurements named in
`visionroll.rollout.gates`. A failed query (connection refused, HTTP error, bad PromQL) becomes a `Measurement` with
`error` set, which the core judges inconclusive; an empty answer or NaN becomes `value=None` ("no data").

Evidence accumulates over a stage: every query reads `increase(...[N s])` with N the seconds since the stage began
(`status.stepStartedAt`), so each analysis judges everything the stage has seen so far, and the sequential tests of
the rollout core keep their guarantees however often they look. Prometheus holds the counters; the status holds
nothing but the stage's start, so an operator restarted mid-stage measures exactly what it would have. The window is
never shorter than `min_window_seconds`: `increase()` needs two scrapes inside it (the first analyses of a stage may
then include a few seconds of the previous step, which is the same candidate at a smaller weight).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from visionroll.api import VisionModelSpec, VisionModelStatus, parse_duration
from visionroll.metrics.queries import render, render_custom
from visionroll.rollout import gates as g
from visionroll.rollout.clock import elapsed
from visionroll.rollout.names import recall_counts
from visionroll.rollout.types import Measurement, Measurements
from visionroll.rollout.verdicts import quantile_ms

Vector = list[dict[str, Any]]


class MetricsProvider(Protocol):
    def measure(
        self, *, namespace: str, visionmodel: str, spec: VisionModelSpec, status: VisionModelStatus, now: datetime
    ) -> Measurements: ...


class QueryClient(Protocol):
    """The slice of `prometheus_api_client.PrometheusConnect` the provider uses."""

    def custom_query(self, query: str, params: dict[str, Any] | None = None) -> Vector: ...


class QueryError(Exception):
    """A query that could not be answered; its message goes into the measurement."""


class PrometheusProvider:
    def __init__(self, client: QueryClient, *, min_window_seconds: float = 20.0) -> None:
        self.client = client
        self.min_window_seconds = min_window_seconds

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout_seconds: float = 5.0,
        min_window_seconds: float = 20.0,
    ) -> PrometheusProvider:
        """A provider on a `PrometheusConnect` without the library's retry-with-backoff (a stopped Prometheus must
        answer "inconclusive" within one tick, not after 7 s of retries) and with a timeout (its default is none)."""
        import requests
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        session = requests.Session()
        session.trust_env = False  # no proxy from the environment between the operator and its Prometheus
        client = PrometheusConnect(
            url=url,
            retry=Retry(total=0, raise_on_status=False),
            session=session,
            timeout=timeout_seconds,
        )
        return cls(client, min_window_seconds=min_window_seconds)

    def window_seconds(self, spec: VisionModelSpec, status: VisionModelStatus, now: datetime) -> float:
        """Seconds since the stage began (the analysis interval when it has not), at least `min_window_seconds`."""
        since = elapsed(status.step_started_at, now)
        stage = since if since is not None and since > 0 else parse_duration(spec.rollout.analysis.interval)
        return max(self.min_window_seconds, stage)

    def measure(
        self, *, namespace: str, visionmodel: str, spec: VisionModelSpec, status: VisionModelStatus, now: datetime
    ) -> Measurements:
        window = self.window_seconds(spec, status, now)
        names = g.required_measurements(
            spec.rollout.analysis, status.stage, vs_stable=g.stable_serves(status), equal_load=g.equal_load(status)
        )
        if status.candidate is None or status.stable is None:
            idle = tuple(Measurement(gate=n, value=None, samples=0, error="no rollout in progress") for n in names)
            return Measurements(time=now, window_seconds=window, values=idle)
        run = _Run(self.client, namespace, visionmodel, f"{math.ceil(window)}s", now)
        cand, stable = status.candidate.revision, status.stable.revision
        producers: dict[str, Callable[[], Measurement]] = {
            g.LATENCY: lambda: run.latency(g.LATENCY, cand),
            g.LATENCY_STABLE: lambda: run.latency(g.LATENCY_STABLE, stable),
            g.ERROR_RATE: lambda: run.error_rate(g.ERROR_RATE, cand),
            g.ERROR_RATE_STABLE: lambda: run.error_rate(g.ERROR_RATE_STABLE, stable),
            g.PREDICTIONS: lambda: run.predictions(g.PREDICTIONS, cand),
            g.PREDICTIONS_STABLE: lambda: run.predictions(g.PREDICTIONS_STABLE, stable),
            g.AGREEMENT: lambda: run.agreement(cand),
            g.ACCURACY: lambda: run.accuracy(g.ACCURACY, cand),
            g.ACCURACY_STABLE: lambda: run.accuracy(g.ACCURACY_STABLE, stable),
            g.RECALL: lambda: run.recall(cand),
        }
        for c in spec.rollout.analysis.gates.custom:
            producers[g.custom(c.name)] = functools.partial(run.custom, g.custom(c.name), c.query, cand, stable)
        values: list[Measurement] = []
        for name in names:
            try:
                values.append(producers[name]())
            except QueryError as e:
                values.append(Measurement(gate=name, value=None, samples=0, error=str(e)))
        return Measurements(time=now, window_seconds=window, values=tuple(values))


class _Run:
    """The queries of one `measure` call, evaluated at one instant, each asked at most once."""

    def __init__(self, client: QueryClient, namespace: str, visionmodel: str, window: str, now: datetime) -> None:
        self.client, self.namespace, self.visionmodel, self.window = client, namespace, visionmodel, window
        self.params = {"time": f"{now.timestamp():.3f}"}
        self.cache: dict[str, Vector] = {}

    def query(self, promql: str) -> Vector:
        if promql not in self.cache:
            try:
                self.cache[promql] = list(self.client.custom_query(query=promql, params=dict(self.params)))
            except Exception as e:  # the client raises requests' and its own exceptions; none may reach decide
                raise QueryError(f"prometheus query failed: {type(e).__name__}: {_short(e)}") from e
        return self.cache[promql]

    def template(self, name: str, revision: str) -> Vector:
        return self.query(
            render(name, namespace=self.namespace, visionmodel=self.visionmodel, window=self.window, revision=revision)
        )

    def scalar(self, name: str, revision: str) -> float | None:
        """The single value of a `sum(...)`; None for an empty answer or NaN (no data)."""
        return scalar(self.template(name, revision))

    def by_label(self, name: str, revision: str, label: str) -> dict[str, float]:
        return by_label(self.template(name, revision), label)

    def latency(self, gate: str, revision: str) -> Measurement:
        """The histogram's cumulative bucket counts by bound (`le`); value is the p99 in ms, for display."""
        counts = self.by_label("analysis:latency_buckets", revision, "le")
        total = max((c for le, c in counts.items() if le == "+Inf"), default=0.0)
        samples = _count(total)
        if samples == 0:
            return Measurement(gate=gate, value=None, samples=0)
        m = Measurement(gate=gate, value=None, samples=samples, counts=counts)
        return Measurement(gate=gate, value=quantile_ms(m, 0.99), samples=samples, counts=counts)

    def error_rate(self, gate: str, revision: str) -> Measurement:
        requests = _count(self.scalar("analysis:requests", revision))
        errors = self.scalar("analysis:errors", revision) or 0.0  # no error series at all means no errors
        value = None if requests == 0 else min(1.0, max(0.0, errors / requests))
        return Measurement(gate=gate, value=value, samples=requests)

    def predictions(self, gate: str, revision: str) -> Measurement:
        """Predicted top-1 classes by class; value is the number of predictions."""
        counts = self.by_label("analysis:predictions_by_class", revision, "class")
        samples = _count(sum(counts.values()))
        return Measurement(gate=gate, value=float(samples) if samples else None, samples=samples, counts=counts)

    def agreement(self, candidate: str) -> Measurement:
        results = self.by_label("analysis:comparisons_by_result", candidate, "result")
        total = sum(results.get(r, 0.0) for r in ("agree", "disagree", "error"))
        samples = _count(total)
        value = None if total <= 0 else results.get("agree", 0.0) / total
        return Measurement(gate=g.AGREEMENT, value=value, samples=samples)

    def accuracy(self, gate: str, revision: str) -> Measurement:
        """correct / labelled over the labels that arrived in the stage; samples = labels (none: no data)."""
        outcomes = self.by_label("analysis:feedback_by_outcome", revision, "outcome")
        total = outcomes.get("correct", 0.0) + outcomes.get("wrong", 0.0)
        value = None if total <= 0 else outcomes.get("correct", 0.0) / total
        return Measurement(gate=gate, value=value, samples=_count(total))

    def recall(self, candidate: str) -> Measurement:
        """Labels by outcome and true class (`recall_key`); value is the worst class's recall, for display."""
        counts: dict[str, float] = {}
        for sample in self.template("analysis:feedback_by_class_and_outcome", candidate):
            labels, value = sample.get("metric", {}), float(sample["value"][1])
            if not math.isnan(value) and labels.get("outcome") in ("correct", "wrong"):
                key = g.recall_key(str(labels["outcome"]), str(labels.get("class", "")))
                counts[key] = counts.get(key, 0.0) + max(0.0, value)
        by_class = recall_counts(counts)
        recalls = [x / n for x, n in by_class.values() if n > 0]
        samples = _count(sum(n for _, n in by_class.values()))
        return Measurement(gate=g.RECALL, value=min(recalls) if recalls else None, samples=samples, counts=counts)

    def custom(self, gate: str, query: str, candidate: str, stable: str) -> Measurement:
        promql = render_custom(
            query,
            namespace=self.namespace,
            visionmodel=self.visionmodel,
            window=self.window,
            revision=candidate,
            stable_revision=stable,
        )
        answer = self.query(promql)
        if len(answer) > 1:
            return Measurement(gate=gate, value=None, samples=0, error=f"expected one number, got {len(answer)} series")
        samples = _count(self.scalar("analysis:requests", candidate))
        return Measurement(gate=gate, value=scalar(answer), samples=samples)


def scalar(vector: Vector) -> float | None:
    if not vector:
        return None
    value = float(vector[0]["value"][1])
    return None if math.isnan(value) or math.isinf(value) else value


def by_label(vector: Vector, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for sample in vector:
        value = float(sample["value"][1])
        if not math.isnan(value):
            key = str(sample.get("metric", {}).get(label, ""))
            out[key] = out.get(key, 0.0) + max(0.0, value)
    return out


def _count(value: float | None) -> int:
    """A sample count from `increase()`, which extrapolates to fractions: rounded, never negative."""
    return 0 if value is None else max(0, round(value))


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 200 else text[:197] + "..."

"""The router's Prometheus series, named and labelled exactly as docs/contracts.md says. The comparison and drop
series keep their `shadow_` names from when mirrors were the only copies; their `traffic` label tells the copies
apart.

Labelled children are cached per (variant, traffic) so that recording a request is a few dict look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from visionroll_serving.router.answers import TopOne
from visionroll_serving.router.config import RouterConfig, Variant

COMMON = ("namespace", "visionmodel", "variant", "revision", "traffic")
# Fine at the low end (p99 of a few ms on loopback) and reaching seconds (a slow or overloaded model).
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0065, 0.008, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03,
    0.04, 0.05, 0.065, 0.08, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
COPIES = ("shadow", "paired")  # the `traffic` of copies; a client's own request is `live`
OUTCOMES = ("correct", "wrong")  # of a ground-truth label against the answer's top-1
FEEDBACK_RESULTS = ("counted", "duplicate", "unknown", "malformed")  # of a POST /feedback
UNREACHABLE = "error"  # the `code` label when there is no HTTP status: connection failed or timed out
# Requests the router answers itself because of how they arrive, not what they hold (router/guard.py).
REFUSALS = ("overloaded", "body_timeout")


def resident_peak_bytes() -> float:
    """The process's resident-memory high-water mark (VmHWM), 0 where /proc does not say."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 0.0


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "visionroll_router_requests", "Requests by upstream HTTP status", (*COMMON, "code"), registry=r
        )
        self.duration = Histogram(
            "visionroll_router_request_duration_seconds",
            "Upstream round trip as seen by the router",
            COMMON,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "visionroll_router_predictions", "Answers by predicted top-1 class", (*COMMON, "class"), registry=r
        )
        self.confidence = Histogram(
            "visionroll_router_prediction_confidence",
            "Top-1 score of answers",
            COMMON,
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.shadow_comparisons = Counter(
            "visionroll_router_shadow_comparisons",
            "Candidate top-1 compared with stable's for the same input, on mirrored (traffic=shadow) or paired copies",
            (*COMMON, "result"),
            registry=r,
        )
        self.shadow_dropped = Counter(
            "visionroll_router_shadow_dropped",
            "Copies (traffic=shadow or paired) not sent",
            (*COMMON, "reason"),
            registry=r,
        )
        self.feedback = Counter(
            "visionroll_router_feedback",
            "Ground-truth labels received for live answers, by whether the answer's top-1 was the label",
            (*COMMON, "outcome"),
            registry=r,
        )
        self.feedback_class = Counter(
            "visionroll_router_feedback_class",
            "Ground-truth labels by true class and outcome (per-class recall = correct / all of a class)",
            (*COMMON, "class", "outcome"),
            registry=r,
        )
        self.feedback_requests = Counter(
            "visionroll_router_feedback_requests",
            "POST /feedback requests by what became of them",
            ("namespace", "visionmodel", "result"),
            registry=r,
        )
        self.feedback_classes: set[str] = set()  # true classes seen in feedback (their count is bounded)
        # Read at scrape time (Router wires them to its answer log): nothing on the request path.
        self.answers_remembered = Gauge(
            "visionroll_router_feedback_answers", "Answers remembered for feedback", registry=r
        )
        self.answers_bytes = Gauge(
            "visionroll_router_feedback_answers_bytes",
            "Estimated memory of the answers remembered for feedback (bounded by --feedback-bytes)",
            registry=r,
        )
        self.refused = Counter(
            "visionroll_router_refused",
            "Requests the router answered itself for how they arrived: overloaded (503), body_timeout (408)",
            ("reason",),
            registry=r,
        )
        for reason in REFUSALS:
            self.refused.labels(reason)
        # Read at scrape time too (Router wires them to its guard and copy queue).
        self.in_flight = Gauge("visionroll_router_in_flight", "Client requests being forwarded", registry=r)
        self.body_bytes_reserved = Gauge(
            "visionroll_router_body_bytes_reserved",
            "Bytes reserved by the bodies of client requests in progress (bounded by --body-bytes)",
            registry=r,
        )
        self.copy_queue_bytes = Gauge(
            "visionroll_router_copy_queue_bytes", "Bytes of bodies held by copies, queued and being sent", registry=r
        )
        self.copy_queue_bytes_high_water = Gauge(
            "visionroll_router_copy_queue_bytes_high_water",
            "The most bytes the copy queue has held since the router started",
            registry=r,
        )
        self.copy_queue_bytes_limit = Gauge(
            "visionroll_router_copy_queue_bytes_limit",
            "The copy queue's bound in bytes (--copy-queue-bytes)",
            registry=r,
        )
        # process_resident_memory_bytes and friends, plus the peak, for the abuse run and the dashboard.
        ProcessCollector(registry=r)
        Gauge(
            "visionroll_router_resident_memory_peak_bytes", "Resident memory high-water mark (VmHWM)", registry=r
        ).set_function(resident_peak_bytes)
        self._series: dict[tuple[str, ...], VariantSeries] = {}

    @staticmethod
    def _key(config: RouterConfig, variant: Variant, traffic: str) -> tuple[str, ...]:
        return (config.namespace, config.visionmodel, variant.name, variant.revision, traffic)

    def series(self, config: RouterConfig, variant: Variant, traffic: str) -> VariantSeries:
        key = self._key(config, variant, traffic)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = VariantSeries(self, key)
            if traffic in COPIES:
                # Drops are rare events: start their series at 0 so a dashboard shows 0, not "no data".
                for reason in ("queue_full", "shutdown"):
                    self.shadow_dropped.labels(*key, reason)
            elif traffic == "live":
                for outcome in OUTCOMES:
                    self.feedback.labels(*key, outcome)
                for true_class in self.feedback_classes:
                    found.expect_labels(true_class)
        return found

    def add_feedback_class(self, config: RouterConfig, true_class: str) -> None:
        """A true class seen in feedback for the first time: the live series of the variants routed now start
        counting it at 0, and so do those made later (`series`). A revision's labels are then all seen, its first
        ones included, where a series born at its first label loses what it counted before Prometheus first scraped
        it (`increase()` starts from the first sample). The caller bounds how many classes there are."""
        self.feedback_classes.add(true_class)
        for variant in config.variants:
            found = self._series.get(self._key(config, variant, "live"))
            if found is not None:
                found.expect_labels(true_class)

    def feedback_request(self, config: RouterConfig, result: str) -> None:
        self.feedback_requests.labels(config.namespace, config.visionmodel, result).inc()


@dataclass
class VariantSeries:
    """The children of one (namespace, visionmodel, variant, revision, traffic) label set."""

    metrics: RouterMetrics
    labels: tuple[str, ...]
    _codes: dict[str, Counter] = field(default_factory=dict)
    _classes: dict[str, Counter] = field(default_factory=dict)
    _results: dict[str, Counter] = field(default_factory=dict)
    _reasons: dict[str, Counter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.duration = self.metrics.duration.labels(*self.labels)
        self.confidence = self.metrics.confidence.labels(*self.labels)

    def _child(self, cache: dict[str, Counter], metric: Counter, value: str) -> Counter:
        """The child of `metric` for these labels plus `value`, made on first use and cached."""
        child = cache.get(value)
        if child is None:
            child = cache[value] = metric.labels(*self.labels, value)
        return child

    def observe(self, code: str, seconds: float, top: TopOne | None = None) -> None:
        self._child(self._codes, self.metrics.requests, code).inc()
        self.duration.observe(seconds)
        if top is not None:
            self._child(self._classes, self.metrics.predictions, top.label).inc()
            self.confidence.observe(top.score)

    def compared(self, result: str) -> None:
        self._child(self._results, self.metrics.shadow_comparisons, result).inc()

    def dropped(self, reason: str) -> None:  # hot when the copy queue overflows
        self._child(self._reasons, self.metrics.shadow_dropped, reason).inc()

    def expect_labels(self, true_class: str) -> None:
        for outcome in OUTCOMES:
            self.metrics.feedback_class.labels(*self.labels, true_class, outcome)

    def labelled(self, true_class: str, outcome: str) -> None:
        self.metrics.feedback.labels(*self.labels, outcome).inc()
        self.metrics.feedback_class.labels(*self.labels, true_class, outcome).inc()

"""The by-class label series of a revision exist at 0 before its first label of a class seen before, so that
`increase()` over a stage counts that label too (a series born at its first label loses what it counted before
Prometheus first scraped it)."""

from __future__ import annotations

from visionroll_serving.router.config import RouterConfig, Variant
from visionroll_serving.router.metrics import OUTCOMES, RouterMetrics

STABLE = Variant("stable", "1-0-x", "1.0", "http://127.0.0.1:2", 90)
CANDIDATE = Variant("candidate", "2-0-x", "2.0", "http://127.0.0.1:1", 10)
CONFIG = RouterConfig("ns", "digits", "digits", (STABLE, CANDIDATE))


def by_class(metrics: RouterMetrics, variant: Variant, true_class: str, outcome: str) -> float | None:
    labels = {"namespace": "ns", "visionmodel": "digits", "variant": variant.name, "revision": variant.revision,
              "traffic": "live", "class": true_class, "outcome": outcome}  # fmt: skip
    return metrics.registry.get_sample_value("visionroll_router_feedback_class_total", labels)


def test_a_class_seen_once_starts_at_zero_for_every_live_revision_before_and_after() -> None:
    metrics = RouterMetrics()
    stable = metrics.series(CONFIG, STABLE, "live")
    assert by_class(metrics, STABLE, "7", "correct") is None  # no class known yet: nothing made up

    metrics.add_feedback_class(CONFIG, "7")  # stable's first label of class 7
    stable.labelled("7", "correct")
    assert [by_class(metrics, STABLE, "7", o) for o in OUTCOMES] == [1.0, 0.0]

    metrics.series(CONFIG, CANDIDATE, "live")  # the candidate's first request, before any label of its own
    assert [by_class(metrics, CANDIDATE, "7", o) for o in OUTCOMES] == [0.0, 0.0]
    metrics.series(CONFIG, CANDIDATE, "paired")  # copies are not labelled: no label series
    assert metrics.registry.get_sample_value(
        "visionroll_router_feedback_class_total",
        {"namespace": "ns", "visionmodel": "digits", "variant": "candidate", "revision": "2-0-x",
         "traffic": "paired", "class": "7", "outcome": "correct"},
    ) is None  # fmt: skip

    metrics.add_feedback_class(CONFIG, "3")  # a new class: both live revisions start counting it at 0
    assert [by_class(metrics, v, "3", o) for v in (STABLE, CANDIDATE) for o in OUTCOMES] == [0.0] * 4
    assert metrics.feedback_classes == {"7", "3"}

"""The ground-truth gates' queries against a real Prometheus scraping router-named feedback counters with known
values: labels that arrive for a share of a canary's answers give each variant's accuracy and the candidate's recall
by class; a candidate with two classes swapped fails accuracy, its drop against stable and the worst-class recall."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from support.rollout_sim import CAND, STABLE, make_spec
from visionroll.api import VisionModelSpec, VisionModelStatus
from visionroll.metrics import PrometheusProvider
from visionroll.rollout.analysis import judge
from visionroll.rollout.clock import stamp
from visionroll.rollout.types import Measurement, Measurements

from .conftest import NAMESPACE, VISIONMODEL, Variant  # noqa: TID252

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

SPEC: VisionModelSpec = make_spec(
    "canary", gates={"accuracy": {"min": 0.9, "maxDropVsStable": 0.02}, "recall": {"min": 0.8}}, minSamples=100
)
WINDOW = 6.0
DIGITS = [str(d) for d in range(10)]


def test_labels_judge_a_class_swapped_canary(prometheus: Any, serve_router_metrics: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    stable_rev, cand_rev = f"{STABLE.revision}-{tag}", f"{CAND.revision}-{tag}"
    # A fifth of the answers get a label, spread evenly over the ten digits; stable is right on 97% of each class,
    # the candidate answers 1 as 7 and 7 as 1.
    swapped = {c: (0.02, 0.0 if c in ("1", "7") else 0.97) for c in DIGITS}
    variants = [
        Variant("stable", stable_rev, rps=200, labels={c: (0.02, 0.97) for c in DIGITS}),
        Variant("candidate", cand_rev, rps=100, labels=swapped),
    ]
    status = VisionModelStatus(
        phase="Progressing",
        stable=STABLE.model_copy(update={"revision": stable_rev}),
        candidate=CAND.model_copy(update={"revision": cand_rev}),
        strategy="canary",
        stage="canary",
        step=0,
        weights={"stable": 67, "candidate": 33},
        step_started_at=stamp(datetime.now(UTC)),
    )
    prometheus.add_scrape_target(f"router-{cand_rev}", serve_router_metrics(variants))
    provider = PrometheusProvider.from_url(prometheus.url, min_window_seconds=WINDOW)
    deadline = time.monotonic() + 60
    while True:
        got = provider.measure(
            namespace=NAMESPACE, visionmodel=VISIONMODEL, spec=SPEC, status=status, now=datetime.now(UTC)
        )
        m: dict[str, Measurement] = {x.gate: x for x in got.values}
        if (m["recall"].samples >= 400 and m["accuracy.stable"].samples >= 800) or time.monotonic() > deadline:
            break
        time.sleep(1.0)

    assert m["accuracy"].value == pytest.approx(0.8 * 0.97, rel=0.02)
    assert m["accuracy.stable"].value == pytest.approx(0.97, rel=0.02)
    assert m["accuracy"].samples == m["recall"].samples >= 400
    recall = m["recall"]
    assert {k.partition("|")[2] for k in recall.counts} == set(DIGITS)
    assert recall.value == 0.0 and recall.counts["correct|1"] == 0 and recall.counts["wrong|7"] > 0
    at = Measurements(time=datetime.now(UTC), window_seconds=WINDOW, values=got.values)
    results = {r.name: r for r in judge(SPEC.rollout.analysis, "canary", at)}
    assert {name: r.verdict for name, r in results.items()} == {
        "accuracy": "fail",  # ~0.78: the upper bound is below 0.9
        "accuracyVsStable": "fail",  # a drop of ~0.19: the lower bound is above 0.02
        "recall": "fail",  # classes 1 and 7 are never right
    }
    assert all(r.lower is not None and r.upper is not None for r in results.values())

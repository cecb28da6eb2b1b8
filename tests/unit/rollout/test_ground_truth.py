"""The ground-truth gates: candidate accuracy on labels (a minimum, and the largest drop against stable) and the worst
class's recall. Labels arrive late and for some requests only, so too few labels are inconclusive, never a pass; every
class labelled so far is bounded, at alpha / k for k classes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from support.rollout_sim import make_spec, with_rollout
from visionroll.api import GateResult
from visionroll.rollout import gates as g
from visionroll.rollout.analysis import counts_as_inconclusive, judge, lacks_evidence, overall, thresholds
from visionroll.rollout.defaults import uses_defaults
from visionroll.rollout.types import Measurement, Measurements

GATES = {"accuracy": {"min": 0.9, "maxDropVsStable": 0.02}, "recall": {"min": 0.8}}
DIGITS = [str(d) for d in range(10)]


def _recall(labels: dict[str, tuple[int, int]]) -> Measurement:
    """The recall measurement from (correct, labelled) per true class."""
    counts: dict[str, float] = {}
    for cls, (correct, n) in labels.items():
        counts[g.recall_key("correct", cls)] = correct
        counts[g.recall_key("wrong", cls)] = n - correct
    total = sum(n for _, n in labels.values())
    worst = min(c / n for c, n in labels.values())
    return Measurement(gate=g.RECALL, value=worst, samples=total, counts=counts)


def _judge(*ms: Measurement, gates: dict[str, Any] | None = None, stage: str = "canary") -> dict[str, GateResult]:
    spec = make_spec("canary", gates=gates or GATES, minSamples=100)
    at = Measurements(time=datetime.now(UTC), window_seconds=60, values=ms)
    return {r.name: r for r in judge(spec.rollout.analysis, stage, at)}


def _accuracy(value: float, n: int, *, stable: bool = False) -> Measurement:
    return Measurement(gate=g.ACCURACY_STABLE if stable else g.ACCURACY, value=value, samples=n)


def test_the_ground_truth_gates_and_their_measurements() -> None:
    spec = make_spec("canary", gates=GATES)
    assert g.required_measurements(spec.rollout.analysis, "canary") == ("accuracy", "accuracy.stable", "recall")
    # At a canary step of 100% stable serves no client: no drop against it, the candidate's own gates still judge.
    assert g.required_measurements(spec.rollout.analysis, "canary", vs_stable=False) == ("accuracy", "recall")
    assert thresholds(spec.rollout.analysis.gates) == {"accuracy": 0.9, "accuracyVsStable": 0.02, "recall": 0.8}


def test_a_good_candidate_passes_once_enough_labels_arrive() -> None:
    labels = {c: (490, 500) for c in DIGITS}
    got = _judge(_accuracy(0.98, 5000), _accuracy(0.98, 20000, stable=True), _recall(labels))
    assert {name: r.verdict for name, r in got.items()} == {
        "accuracy": "pass",
        "accuracyVsStable": "pass",
        "recall": "pass",
    }
    for r in got.values():  # status shows value, bounds and samples like every other gate
        assert r.lower is not None and r.upper is not None and r.lower <= r.value <= r.upper  # type: ignore[operator]
        assert r.samples >= 5000


def test_a_class_swap_fails_recall_and_accuracy() -> None:
    # Classes 1 and 7 swapped: each is answered as the other, so both recalls are ~0; accuracy falls ~20 points.
    labels = {c: (29, 30) for c in DIGITS} | {"1": (0, 30), "7": (1, 30)}
    got = _judge(_accuracy(0.77, 300), _accuracy(0.97, 6000, stable=True), _recall(labels))
    assert got["recall"].verdict == "fail" and got["recall"].value == 0.0
    assert "worst class 1: 0/30" in (got["recall"].message or "")
    assert got["accuracy"].verdict == "fail"
    assert got["accuracyVsStable"].verdict == "fail" and got["accuracyVsStable"].value == pytest.approx(0.2)
    assert got["accuracyVsStable"].lower > 0.02  # type: ignore[operator]


@pytest.mark.parametrize("labels", [0, 40, 99])
def test_too_few_labels_are_inconclusive_and_still_to_come(labels: int) -> None:
    got = _judge(
        _accuracy(1.0, labels) if labels else Measurement(gate=g.ACCURACY, value=None, samples=0),
        _accuracy(1.0, 5000, stable=True),
        _recall({"1": (labels, labels)}) if labels else Measurement(gate=g.RECALL, value=None, samples=0),
    )
    assert {r.verdict for r in got.values()} == {"inconclusive"}
    assert overall(got.values()) == "inconclusive"
    # Labels arrive late: nothing is known yet ([0, 1]; a drop in [-1, 1]), which is evidence still to come, not a
    # failure to measure, so it waits out the stage instead of counting against inconclusiveLimit at once.
    assert {(r.lower, r.upper) for r in got.values()} == {(0.0, 1.0), (-1.0, 1.0)}
    assert not lacks_evidence(got.values())
    assert counts_as_inconclusive(got.values(), out_of_time=True)


def test_a_failed_label_query_lacks_evidence() -> None:
    failed = Measurement(gate=g.ACCURACY, value=None, samples=0, error="prometheus query failed: ConnectionError")
    got = _judge(failed, gates={"accuracy": {"min": 0.9}})
    assert got["accuracy"].verdict == "inconclusive" and got["accuracy"].lower is None
    assert lacks_evidence(got.values())


def test_labels_that_cannot_tell_yet_are_inconclusive_with_bounds() -> None:
    # 200 labels, all correct, against a minimum of 0.98: the lower bound cannot clear it yet, nor the upper fail it.
    got = _judge(_accuracy(1.0, 200), gates={"accuracy": {"min": 0.98}})
    assert got["accuracy"].verdict == "inconclusive" and got["accuracy"].lower is not None


def test_a_class_with_few_labels_holds_the_pass_back_and_is_named() -> None:
    labels = {c: (990, 1000) for c in DIGITS} | {"4": (12, 12)}
    got = _judge(_recall(labels), gates={"recall": {"min": 0.8}})["recall"]
    assert got.verdict == "inconclusive" and "lowest bound class 4" in (got.message or "")


def test_more_classes_widen_each_class_bound() -> None:
    # The same class, the same labels: with 100 classes labelled its bound is at alpha / 100, not alpha / 2.
    few = _judge(_recall({"1": (180, 200), "2": (1000, 1000)}), gates={"recall": {"min": 0.8}})["recall"]
    many = {str(c): (1000, 1000) for c in range(99)} | {"1": (180, 200)}
    wide = _judge(_recall(many), gates={"recall": {"min": 0.8}})["recall"]
    assert wide.lower < few.lower  # type: ignore[operator]


def test_labels_count_only_for_live_answers() -> None:
    spec = make_spec("canary", gates=GATES)
    shadow = with_rollout(
        spec, strategy="shadow", shadow={"mirrorPercent": 100, "duration": "30s", "thenPromote": "canary"}
    )
    # While shadowing the candidate answers no client, so no label can reach it: the defaults judge that stage.
    assert uses_defaults(shadow.rollout.analysis, "shadow")
    assert "accuracy" not in g.required_measurements(shadow.rollout.analysis, "shadow")
    assert not uses_defaults(shadow.rollout.analysis, "canary")
    assert "accuracy" in g.required_measurements(shadow.rollout.analysis, "canary")

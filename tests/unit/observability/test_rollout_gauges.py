"""The operator's rollout gauges that the dashboards and the stuck-rollout alert read."""

from __future__ import annotations

from visionroll import observability
from visionroll.api import AnalysisRecord, GateResult, Revision, VisionModelStatus, Weights
from visionroll.rollout.types import Decision

STABLE = Revision(version="1.0", revision="1-0-aaaaaa")
CANDIDATE = Revision(version="2.0", revision="2-0-bbbbbb")


def _value(name: str, **labels: str) -> float | None:
    return observability.REGISTRY.get_sample_value(name, labels)


def test_a_rollout_in_progress_exports_its_start_and_deadline() -> None:
    status = VisionModelStatus(
        phase="Progressing",
        stable=STABLE,
        candidate=CANDIDATE,
        weights=Weights(stable=75, candidate=25),
        rollout_started_at="2026-11-21T09:00:00Z",
    )
    observability.record_decision(
        "ns1", "digits", Decision(status=status), previous=VisionModelStatus(), progress_deadline_seconds=1800
    )
    labels = {"namespace": "ns1", "visionmodel": "digits"}
    assert _value("visionroll_rollout_started_timestamp_seconds", **labels) == 1795251600.0
    assert _value("visionroll_rollout_progress_deadline_seconds", **labels) == 1800
    assert _value("visionroll_rollout_weight", **labels, variant="candidate") == 25
    assert _value("visionroll_rollout_phase", **labels, phase="Progressing") == 1

    ended = status.model_copy(update={"phase": "Stable", "candidate": None, "weights": Weights()})
    observability.record_decision("ns1", "digits", Decision(status=ended), previous=status)
    assert _value("visionroll_rollout_started_timestamp_seconds", **labels) is None, "nothing in progress is stuck"
    assert _value("visionroll_rollout_phase", **labels, phase="Progressing") == 0

    observability.forget("ns1", "digits")
    assert _value("visionroll_rollout_progress_deadline_seconds", **labels) is None


def test_gate_thresholds_are_the_spec_limits_not_numbers_parsed_from_the_text() -> None:
    gates = [
        GateResult(name="drift", value=0.02, threshold="<= 0.1", samples=500, verdict="pass"),
        GateResult(
            name="errorRateVsStable", value=0.0, threshold="not worse than stable (95% one-sided z)", verdict="pass"
        ),
    ]
    status = VisionModelStatus(
        phase="Progressing",
        stable=STABLE,
        candidate=CANDIDATE,
        analysis=AnalysisRecord(time="2026-11-21T09:05:00Z", gates=gates, verdict="pass"),
    )
    decision = Decision(status=status, thresholds={"drift": 0.1, "errorRate": 0.01})
    observability.record_decision("ns2", "digits", decision, previous=VisionModelStatus())
    labels = {"namespace": "ns2", "visionmodel": "digits"}
    assert _value("visionroll_gate_threshold", **labels, gate="drift") == 0.1
    assert _value("visionroll_gate_threshold", **labels, gate="errorRateVsStable") is None, "no single limit"
    assert _value("visionroll_gate_value", **labels, gate="errorRateVsStable") == 0.0
    observability.forget("ns2", "digits")

"""The provider's arithmetic on canned Prometheus answers (a recording client, injected), and its failure mode."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from support.rollout_sim import CAND, STABLE, make_spec
from visionroll.api import VisionModelStatus
from visionroll.metrics import PrometheusProvider

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STATUS = VisionModelStatus(
    phase="Progressing",
    stable=STABLE,
    candidate=CAND,
    stage="shadow",
    strategy="shadow",
    mirror_percent=100,
    step_started_at="2024-05-01T11:58:30Z",  # 90 s before NOW
)


def _v(value: float, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [NOW.timestamp(), str(value)]}


class Canned:
    """Answers by (template family, revision) found in the query text."""

    def __init__(self, answers: dict[tuple[str, str], list[dict[str, Any]]], fail: bool = False) -> None:
        self.answers, self.fail, self.asked = answers, fail, []  # type: list[tuple[str, dict[str, Any] | None]]

    def custom_query(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.asked.append((query, params))
        if self.fail:
            raise ConnectionError("connection refused")
        rev = CAND.revision if CAND.revision in query else STABLE.revision
        for (needle, revision), answer in self.answers.items():
            if needle in query and revision == rev:
                return answer
        return []


ANSWERS = {
    ("request_duration_seconds_bucket", CAND.revision): [_v(200, le="0.1"), _v(396, le="0.25"), _v(400.4, le="+Inf")],
    ("request_duration_seconds_bucket", STABLE.revision): [
        _v(3000, le="0.1"),
        _v(4000, le="0.25"),
        _v(4000, le="+Inf"),
    ],
    ('code!~"2.."', CAND.revision): [_v(8)],
    ("requests_total{", CAND.revision): [_v(400)],
    ("predictions_total", CAND.revision): [_v(300, **{"class": "1"}), _v(100, **{"class": "7"})],
    ("predictions_total", STABLE.revision): [_v(200, **{"class": "1"}), _v(200, **{"class": "7"})],
    ("shadow_comparisons_total", CAND.revision): [
        _v(380, result="agree"),
        _v(15, result="disagree"),
        _v(5, result="error"),
    ],
}


def _measure(
    client: Canned, status: VisionModelStatus = STATUS, strategy: str = "shadow", **gates: Any
) -> dict[str, Any]:
    spec = make_spec(strategy, gates=gates or None, interval="5s")
    provider = PrometheusProvider(client, min_window_seconds=20)
    ms = provider.measure(namespace="ns", visionmodel="digits", spec=spec, status=status, now=NOW)
    assert ms.time == NOW
    return {m.gate: m for m in ms.values}


def test_measurements_from_canned_answers() -> None:
    client = Canned(ANSWERS)
    m = _measure(client)
    assert m["latency"].counts == {"0.1": 200, "0.25": 396, "+Inf": 400.4} and m["latency"].samples == 400
    # p99 for display, interpolated like histogram_quantile: rank 396.4 of 400.4 is just past the 0.25 bound.
    assert m["latency"].value == pytest.approx(250.0)
    assert m["latency.stable"].samples == 4000
    assert (m["errorRate"].value, m["errorRate"].samples) == (pytest.approx(0.02), 400)
    assert m["predictions"].counts == {"1": 300, "7": 100} and m["predictions"].samples == 400
    assert m["predictions.stable"].counts == {"1": 200, "7": 200}
    assert (m["agreement"].value, m["agreement"].samples) == (pytest.approx(0.95), 400)
    assert all(params == {"time": f"{NOW.timestamp():.3f}"} for _, params in client.asked)
    # Evidence accumulates over the stage: every window reaches back to stepStartedAt, 90 s before now.
    assert all("[90s]" in q for q, _ in client.asked)
    assert len({q for q, _ in client.asked}) == len(client.asked)  # each query asked once per measure


def test_a_stage_younger_than_the_minimum_window_reads_the_minimum() -> None:
    client = Canned(ANSWERS)
    _measure(client, STATUS.model_copy(update={"step_started_at": "2024-05-01T11:59:55Z"}))
    assert all("[20s]" in q for q, _ in client.asked)


def test_no_requests_means_no_data_not_zero_errors() -> None:
    m = _measure(Canned({}))
    assert m["errorRate"].value is None and m["errorRate"].samples == 0
    assert m["latency"].value is None and m["predictions"].value is None and m["agreement"].value is None


def test_nan_buckets_are_no_data() -> None:
    m = _measure(Canned({("request_duration_seconds_bucket", CAND.revision): [_v(float("nan"), le="+Inf")]}))
    assert m["latency"].value is None and m["latency"].samples == 0


def test_a_failing_prometheus_gives_error_measurements_never_raises() -> None:
    m = _measure(Canned({}, fail=True))
    assert set(m) == {"latency", "latency.stable", "errorRate", "predictions", "predictions.stable", "agreement"}
    assert all(x.error and "connection refused" in x.error and x.value is None for x in m.values())


def test_custom_gate_must_return_one_number() -> None:
    gates = {"custom": [{"name": "q", "query": 'up{job="$visionmodel"}', "max": 1}]}
    one = _measure(
        Canned({('up{job="digits"}', STABLE.revision): [_v(1)], ("requests_total{", CAND.revision): [_v(300)]}), **gates
    )
    assert (one["custom:q"].value, one["custom:q"].samples, one["custom:q"].error) == (1.0, 300, None)
    many = _measure(Canned({('up{job="digits"}', STABLE.revision): [_v(1), _v(2)]}), **gates)
    assert many["custom:q"].error == "expected one number, got 2 series"


def test_from_url_has_no_retries_and_a_timeout() -> None:
    provider = PrometheusProvider.from_url("http://127.0.0.1:1", timeout_seconds=2.0)
    client: Any = provider.client
    assert client._timeout == 2.0
    adapter = client._session.get_adapter("http://127.0.0.1:1/api/v1/query")
    assert adapter.max_retries.total == 0
    assert client._session.trust_env is False


def test_labels_from_feedback_give_accuracy_and_recall_by_class() -> None:
    status = STATUS.model_copy(update={"stage": "canary", "strategy": "canary"})
    client = Canned(
        {
            ("feedback_total{", CAND.revision): [_v(180, outcome="correct"), _v(20, outcome="wrong")],
            ("feedback_total{", STABLE.revision): [_v(970, outcome="correct"), _v(30, outcome="wrong")],
            ("feedback_class_total", CAND.revision): [
                _v(100, outcome="correct", **{"class": "1"}),
                _v(80, outcome="correct", **{"class": "7"}),
                _v(20, outcome="wrong", **{"class": "7"}),
            ],
        }
    )
    m = _measure(client, status, "canary", accuracy={"min": 0.9, "maxDropVsStable": 0.02}, recall={"min": 0.8})
    assert (m["accuracy"].value, m["accuracy"].samples) == (pytest.approx(0.9), 200)
    assert (m["accuracy.stable"].value, m["accuracy.stable"].samples) == (pytest.approx(0.97), 1000)
    assert m["recall"].counts == {"correct|1": 100, "correct|7": 80, "wrong|7": 20}
    assert (m["recall"].value, m["recall"].samples) == (pytest.approx(0.8), 200)  # the worst class, 7
    # No label yet: no data (inconclusive), never an accuracy of 0 or 1.
    none = _measure(Canned({}), status, "canary", accuracy={"min": 0.9}, recall={"min": 0.8})
    assert none["accuracy"].value is None and none["recall"].value is None and none["recall"].samples == 0

"""A spec without gates is judged by the default gates: it passes on healthy evidence only, fails on a failing gate,
and without evidence is inconclusive, so time alone never promotes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from support.rollout_sim import make_spec, measurement, run, script, stable_status
from visionroll.api import Analysis
from visionroll.rollout import gates as g
from visionroll.rollout.analysis import judge, overall, thresholds
from visionroll.rollout.defaults import defaults_note, effective_gates, uses_defaults
from visionroll.rollout.types import Measurements

NO_GATES = Analysis.model_validate({"minSamples": 100})
# What a healthy candidate next to a healthy stable looks like over a stage, per measurement: (value, samples); see
# support.rollout_sim for what latency and prediction rows mean.
HEALTHY = {
    g.LATENCY: (20.0, 3000),
    g.LATENCY_STABLE: (20.0, 30000),
    g.ERROR_RATE: (0.0, 3000),
    g.PREDICTIONS: (0.0, 3000),
    g.PREDICTIONS_STABLE: (0.0, 30000),
    g.AGREEMENT: (0.98, 3000),
}
HEALTHY_NAMES = (g.LATENCY, g.LATENCY_STABLE, g.ERROR_RATE, g.PREDICTIONS, g.PREDICTIONS_STABLE)


def _measured(**overrides: tuple[float | None, int]) -> Measurements:
    table = HEALTHY | {k.replace("_", "."): v for k, v in overrides.items()}
    values = tuple(measurement(name, row) for name, row in table.items())
    return Measurements(time=datetime.now(UTC), window_seconds=20, values=values)


def _verdicts(analysis: Analysis, stage: str, measurements: Measurements) -> dict[str, str]:
    return {r.name: r.verdict for r in judge(analysis, stage, measurements)}


@pytest.mark.parametrize(
    ("stage", "needed"),
    [
        ("canary", (g.LATENCY, g.LATENCY_STABLE, g.ERROR_RATE, g.PREDICTIONS, g.PREDICTIONS_STABLE)),
        ("split", HEALTHY_NAMES[:3] + (g.ERROR_RATE_STABLE, g.PREDICTIONS, g.PREDICTIONS_STABLE)),
        ("shadow", HEALTHY_NAMES + (g.AGREEMENT,)),
    ],
)
def test_a_spec_without_gates_needs_the_default_measurements(stage: str, needed: tuple[str, ...]) -> None:
    assert g.required_measurements(NO_GATES, stage) == needed


@pytest.mark.parametrize("stage", ["canary", "shadow"])
def test_healthy_measurements_pass_every_default_gate(stage: str) -> None:
    verdicts = _verdicts(NO_GATES, stage, _measured())
    expected = {g.LATENCY_VS_STABLE, g.ERROR_RATE, g.DRIFT} | ({g.AGREEMENT} if stage == "shadow" else set())
    assert verdicts == dict.fromkeys(expected, "pass")


@pytest.mark.parametrize(
    ("overrides", "failing"),
    [
        ({"errorRate": (0.05, 400)}, g.ERROR_RATE),  # 20 of 400 answers failed: lower bound above 0.01
        ({"latency": (40.0, 400)}, g.LATENCY_VS_STABLE),  # twice stable's median
        ({"predictions": (0.8, 400)}, g.DRIFT),
        ({"agreement": (0.6, 400)}, g.AGREEMENT),  # a model answering 200 with wrong classes
    ],
    ids=["error rate", "latency", "drift", "agreement"],
)
def test_a_failing_default_gate_fails_the_analysis(overrides: dict[str, Any], failing: str) -> None:
    verdicts = _verdicts(NO_GATES, "shadow", _measured(**overrides))
    assert verdicts[failing] == "fail"
    assert overall(judge(NO_GATES, "shadow", _measured(**overrides))) == "fail"


@pytest.mark.parametrize("stage", ["canary", "shadow", "split"])
def test_without_measurements_a_spec_without_gates_is_inconclusive(stage: str) -> None:
    nothing = Measurements(time=datetime.now(UTC), window_seconds=20)
    results = judge(NO_GATES, stage, nothing)
    assert results and {r.verdict for r in results} == {"inconclusive"}
    assert overall(results) == "inconclusive"


def test_too_few_samples_under_the_defaults_is_inconclusive() -> None:
    verdicts = _verdicts(NO_GATES, "canary", _measured(errorRate=(0.0, 99)))
    assert verdicts[g.ERROR_RATE] == "inconclusive"


def test_no_gate_at_all_is_never_a_pass() -> None:
    assert overall([]) == "inconclusive"


def test_a_spec_with_gates_gets_exactly_its_own() -> None:
    spec = make_spec("canary", gates={"errorRate": {"max": 0.05}})
    analysis = spec.rollout.analysis
    assert effective_gates(analysis, "canary") == analysis.gates
    assert g.required_measurements(analysis, "canary") == (g.ERROR_RATE,)
    assert defaults_note(analysis, "canary") is None
    custom_only = make_spec("canary", gates={"custom": [{"name": "conf", "query": "q", "min": 0.8}]})
    assert not uses_defaults(custom_only.rollout.analysis, "canary")


def test_an_agreement_only_shadow_is_judged_by_defaults_in_the_canary_after_it() -> None:
    # agreement compares mirrored traffic, so it judges the shadow stage and nothing in the canary that follows.
    spec = make_spec("shadow", gates={"agreement": {"min": 0.97}})
    analysis = spec.rollout.analysis
    assert g.required_measurements(analysis, "shadow") == (g.AGREEMENT,)
    assert defaults_note(analysis, "shadow") is None
    assert g.ERROR_RATE in g.required_measurements(analysis, "canary")
    assert _verdicts(analysis, "canary", _measured(errorRate=(0.05, 400)))[g.ERROR_RATE] == "fail"


def test_the_note_names_the_defaults_in_force() -> None:
    canary = defaults_note(NO_GATES, "canary")
    assert canary is not None
    for text in (
        "default gates",
        "errorRate <= 0.01",
        "P(slower than stable) <= 0.6",
        "drift <= 0.1",
        "minSamples 100",
    ):
        assert text in canary
    assert "agreement" not in canary
    assert "agreement >= 0.9" in (defaults_note(NO_GATES, "shadow") or "")


def test_thresholds_of_the_default_gates() -> None:
    # The latency comparison of the default gates is not a field of Gates: its 0.6 is in the gate's threshold text.
    assert thresholds(effective_gates(NO_GATES, "shadow"), "shadow") == {
        g.ERROR_RATE: 0.01,
        g.DRIFT: 0.1,
        g.AGREEMENT: 0.9,
    }


def test_a_canary_without_gates_with_failing_answers_is_rolled_back() -> None:
    result = run(make_spec(gates={}), stable_status(), measure=script(errorRate=(0.2, 500)))
    assert result.outcomes[-1][1] == "rolled-back"
    assert "promoted" not in [o for _, o in result.outcomes]


def test_a_canary_without_gates_and_without_evidence_is_never_promoted() -> None:
    no_data = script(**{name.replace(".", "_"): "no data" for name in HEALTHY_NAMES})
    result = run(make_spec(gates={}), stable_status(), measure=no_data)
    assert "promoted" not in [o for _, o in result.outcomes]
    assert "advanced" not in [o for _, o in result.outcomes]


def test_a_healthy_canary_without_gates_is_promoted_on_evidence() -> None:
    result = run(make_spec(gates={}), stable_status())
    assert result.outcomes[-1][1] == "promoted"
    judged = {frozenset(gate.name for gate in d.status.analysis.gates) for d in result.decisions if d.status.analysis}
    # Latency is compared with stable only at equal load (the 50% step, gates.equal_load); at the 100% step the
    # stable answers no client: only the candidate's own error rate can judge it.
    assert judged == {
        frozenset({g.ERROR_RATE, g.DRIFT}),
        frozenset({g.LATENCY_VS_STABLE, g.ERROR_RATE, g.DRIFT}),
        frozenset({g.ERROR_RATE}),
    }

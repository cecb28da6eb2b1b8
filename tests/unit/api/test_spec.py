"""The pydantic models accept the examples and refuse each invalid case with the same words as the CEL rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from support.api_cases import CASES, EXAMPLES, Case, example
from visionroll.api import VisionModelSpec, parse_duration


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_valid(path):
    doc = example(path.stem)
    spec = VisionModelSpec.model_validate(doc["spec"])
    assert spec.model.name == "digits"
    assert spec.rollout.strategy == path.stem


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_invalid_specs_are_refused(case: Case):
    with pytest.raises(ValidationError) as caught:
        VisionModelSpec.model_validate(case.manifest()["spec"])
    text = str(caught.value)
    words = case.message.replace("(https?|pvc)", "https?|pvc").replace("ms|s|m|h", "ms|s|m|h")
    assert words in text or case.message in text, text


def test_defaults_fill_what_the_user_left_out():
    spec = VisionModelSpec.model_validate(example("shadow")["spec"])
    assert spec.serving.workers == 1
    assert spec.autoscaling.max_replicas >= spec.autoscaling.min_replicas
    assert spec.traffic.provider == "router"
    assert spec.rollout.analysis.on_inconclusive == "rollback"
    assert spec.rollout.analysis.min_samples == 200


def test_wire_round_trip_keeps_camel_case():
    spec = VisionModelSpec.model_validate(example("canary")["spec"])
    wire = spec.wire()
    assert wire["rollout"]["canary"]["stepDuration"] == "30s"
    assert VisionModelSpec.model_validate(wire) == spec


def test_unknown_fields_are_refused():
    doc = example("canary")["spec"]
    doc["rollout"]["canary"]["stepz"] = [1]
    with pytest.raises(ValidationError, match="stepz"):
        VisionModelSpec.model_validate(doc)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("1.5s", 1.5)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "5 m", "1d", "-1s"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)

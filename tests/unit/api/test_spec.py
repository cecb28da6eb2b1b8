"""The pydantic models accept the examples and refuse each invalid case with the same words as the CEL rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from support.api_cases import CASES, EXAMPLES, Case, example
from visionroll.api import VisionModelSpec, parse_duration
from visionroll.api.refusals import describe, refusals
from visionroll.api.spec import check_name
from visionroll_build import crd as crdgen


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_valid(path):
    doc = example(path.stem)
    check_name(doc["metadata"]["name"])
    spec = VisionModelSpec.model_validate(doc["spec"])
    assert spec.model.name == "digits"
    assert spec.rollout.strategy == path.stem


def _refusals(doc: dict) -> list[tuple[str, str]]:
    """(path, message) of every error, paths spelled as the API server spells them: spec.a.b[0].c."""
    found: list[tuple[str, str]] = []
    try:
        check_name(doc["metadata"]["name"])
    except ValueError as error:
        found.append(("metadata.name", str(error)))
    try:
        VisionModelSpec.model_validate(doc["spec"])
    except ValidationError as error:
        found.extend(refusals(error))  # what the operator reports when a stored spec does not validate
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_invalid_specs_are_refused(case: Case):
    refusals = _refusals(case.manifest())
    assert refusals, f"{case.id} was accepted"
    # The error carrying the message sits at the case's field or at the object whose rule names it (a model
    # validator's error is the model's; CEL's fieldPath points into it).
    assert any(
        case.message in message and (case.field == path or case.field.startswith(path + "."))
        for path, message in refusals
    ), refusals


def test_every_rule_has_a_case():
    """Each CEL rule's message is checked by at least one case of the shared table."""
    schema = crdgen.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            rules.extend(r["message"] for r in node.get("x-kubernetes-validations", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in schema.items() if k != "properties"})
    walk(schema["properties"]["spec"])
    missing = [m for m in dict.fromkeys(rules) if not any(c.message in m for c in CASES)]
    assert not missing


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


def test_a_refusal_names_every_field_as_kubectl_does():
    doc = example("shadow")["spec"]
    doc["traffic"] = {"provider": "gateway-api", "gatewayApi": {"parentRefs": [{"name": "public"}]}}
    doc["rollout"]["canary"] = {"steps": [5, 101]}
    with pytest.raises(ValidationError) as refused:
        VisionModelSpec.model_validate(doc)
    assert describe(refused.value) == ("spec.rollout.canary.steps[1]: Input should be less than or equal to 100")
    doc["rollout"].pop("canary")
    with pytest.raises(ValidationError) as refused:
        VisionModelSpec.model_validate(doc)
    assert describe(refused.value).startswith(
        "spec: strategy shadow needs provider router: gateway-api cannot mirror traffic; provider gateway-api cannot"
    )

"""router.json has one schema in Python (`RouterJson`, pydantic: the operator writes with it) and one parser in the
router (serving/router/config.go). Every case here is judged by both, and they must agree: what pydantic accepts the
router applies, and what pydantic refuses the router refuses too, naming the same field (`visionroll-router
--check-config`, which prints the router's reason)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from localkube import images
from visionroll_serving.router.config import CONNECTION_MAX_AGE_SECONDS, RouterJson


def config(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "namespace": "default",
        "visionmodel": "digits",
        "model": "digits",
        "variants": [
            {"name": "stable", "revision": "1-0-ab12cd", "version": "1.0",
             "upstream": "http://digits-1-0-ab12cd.default.svc:8080", "weight": 75},
            {"name": "candidate", "revision": "2-0-ef34aa", "version": "2.0",
             "upstream": "http://digits-2-0-ef34aa.default.svc:8080", "weight": 25},
        ],
        "shadow": {"variant": "candidate", "percent": 100},
        "stickyHeader": "X-VisionRoll-Session",
    }  # fmt: skip
    base.update(changes)
    return base


def one_variant(**changes: Any) -> dict[str, Any]:
    variant = {"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100}
    return config(variants=[{**variant, **changes}], shadow=None)


def router_verdict(document: str, tmp_path: Path) -> str:
    """ "" when the router accepts the document, else its reason."""
    path = tmp_path / "router.json"
    path.write_text(document)
    done = subprocess.run([str(images.router_binary()), "--check-config", str(path)], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.strip() if done.returncode else ""


VALID = {
    "the contract example": config(),
    "stable alone": one_variant(),
    "a zero weight": config(
        variants=[{**config()["variants"][0], "weight": 100}, {**config()["variants"][1], "weight": 0}]
    ),  # fmt: skip
    "paired copies": config(shadow=None, paired={"candidatePercent": 12.5, "stablePercent": 0}),
    "percent as an integer": config(shadow={"variant": "candidate", "percent": 10}),
    "unknown top-level fields are ignored": config(generation=3),
    "an https upstream with a trailing slash": one_variant(upstream="https://a.svc:8443/"),
    "null shadow, paired and sticky header": config(shadow=None, paired=None, stickyHeader=None),
}

# (document, the field the refusal names); the router's reason must name it too.
INVALID = {
    "no variants": (config(variants=[]), "variants"),
    "weights not summing to 100": (one_variant(weight=90), "variants[*].weight"),
    "an unknown role": (one_variant(name="blue"), "variants[0].name"),
    "an ftp upstream": (one_variant(upstream="ftp://a"), "variants[0].upstream"),
    "an upstream with a path": (one_variant(upstream="http://a:1/predictions"), "variants[0].upstream"),
    "a boolean weight": (one_variant(weight=True), "variants[0].weight"),
    "a fractional weight": (one_variant(weight=50.0), "variants[0].weight"),
    "a weight as a string": (one_variant(weight="100"), "variants[0].weight"),
    "a shadow of nobody": (config(shadow={"variant": "nobody", "percent": 10}), "shadow.variant"),
    "a shadow over 100%": (config(shadow={"variant": "candidate", "percent": 101}), "shadow.percent"),
    "an empty model": (config(model=""), "model"),
    "a blank namespace": (config(namespace="  "), "namespace"),
    "no visionmodel": ({k: v for k, v in config().items() if k != "visionmodel"}, "visionmodel"),
    "paired not an object": (config(paired=10), "paired"),
    "paired over 100%": (config(paired={"candidatePercent": 101}), "paired.candidatePercent"),
    "paired as a string": (config(paired={"candidatePercent": "10"}), "paired.candidatePercent"),
    "paired below 0": (config(paired={"stablePercent": -1}), "paired.stablePercent"),
    "an unknown paired field": (config(paired={"percent": 10}), "paired"),
    "paired copies without a candidate": ({**one_variant(), "paired": {"candidatePercent": 10}}, "paired"),
    "duplicate roles": (
        config(variants=[config()["variants"][0], {**config()["variants"][0], "weight": 25}]),
        "variants",
    ),  # fmt: skip
    "an empty sticky header": (config(stickyHeader=" "), "stickyHeader"),
}


@pytest.mark.parametrize("document", VALID.values(), ids=VALID.keys())
def test_what_the_schema_accepts_the_router_applies(document: dict[str, Any], tmp_path: Path) -> None:
    RouterJson.model_validate(document)
    assert router_verdict(json.dumps(document), tmp_path) == ""


@pytest.mark.parametrize(("document", "field"), INVALID.values(), ids=INVALID.keys())
def test_what_the_schema_refuses_the_router_refuses_naming_the_field(document: dict[str, Any], field: str,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    with pytest.raises(ValidationError):
        RouterJson.model_validate(document)
    reason = router_verdict(json.dumps(document), tmp_path)
    assert reason.startswith(field) or f" {field}" in reason or f"{field}:" in reason, reason


def test_not_json_and_not_an_object_are_refused_with_a_reason(tmp_path: Path) -> None:
    assert "not valid JSON" in router_verdict('{"variants": ', tmp_path)
    assert router_verdict("[1, 2]", tmp_path) == "router.json must be a JSON object"


def test_the_router_replaces_connections_at_the_contracts_age() -> None:
    """The operator's TorchServe pods wait for this age before they stop (visionroll.workloads.deployment)."""
    source = (Path(__file__).parents[3] / "serving/router/config_types.go").read_text()
    (age,) = re.findall(r"const ConnectionMaxAgeSeconds = ([0-9.]+)", source)
    assert float(age) == CONNECTION_MAX_AGE_SECONDS

"""The committed CRD is generated from the models, is structural, and carries the rules and columns."""

from __future__ import annotations

from typing import Any

import yaml

from visionroll_build import crd as crdgen


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_committed_crd_is_fresh():
    for path in crdgen.CRD_PATHS:
        assert path.read_text() == crdgen.render(), f"{path} is stale: run `make crds`"


def test_schema_is_structural():
    schema = crdgen.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "$ref" not in node, path
        assert "anyOf" not in node and "oneOf" not in node, path
        assert "title" not in node, path
        if "exclusiveMinimum" in node:
            assert node["exclusiveMinimum"] is True, path
        if "properties" in node and path.count(".properties.") < 50:
            assert node.get("type") == "object", path


def test_every_cel_rule_is_carried():
    text = crdgen.render()
    for fragment in ("isSorted()", "weights.sum() == 100", "maxReplicas >= self.minReplicas", "has(self.canary)"):
        assert fragment in text


def test_printer_columns_and_names():
    doc = yaml.safe_load(crdgen.render())
    version = doc["spec"]["versions"][0]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Phase", "Stable", "Candidate", "Weight", "Age"]
    assert version["subresources"] == {"status": {}}
    assert doc["spec"]["names"]["shortNames"] and doc["spec"]["names"]["categories"] == ["visionroll"]


def test_status_has_no_defaults():
    status = crdgen.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert not [p for p, node in _walk(status) if "default" in node]


def test_committed_api_reference_is_fresh():
    from visionroll_build import reference

    assert reference.REFERENCE_PATH.read_text() == reference.render(), "docs/api.md is stale: run `make crds`"

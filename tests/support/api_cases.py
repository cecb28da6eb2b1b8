"""Invalid VisionModels, one per admission rule, shared by the pydantic tests and the real-API-server tests.

Each case names the field the error must name and a fragment of the message; the same table runs against the
pydantic models (tests/unit/api) and the API server's schema + CEL (tests/integration/test_crd_admission.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "examples" / f"{name}.yaml").read_text())
    return doc


@dataclass(frozen=True)
class Case:
    id: str
    base: str  # which example it starts from
    mutate: Callable[[dict[str, Any]], None]
    field: str  # the path the API server's message names
    message: str  # a fragment of the message (the same words in CEL and pydantic)

    def manifest(self, name: str | None = None) -> dict[str, Any]:
        doc = copy.deepcopy(example(self.base))
        if name:
            doc["metadata"]["name"] = name
        self.mutate(doc)
        return doc


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        if value is _DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value

    return mutate


_DELETE = object()

CASES = [
    Case(
        "steps-not-increasing",
        "canary",
        _set("spec.rollout.canary.steps", [5, 50, 25]),
        "spec.rollout.canary.steps",
        "strictly increasing",
    ),
    Case(
        "steps-repeated",
        "canary",
        _set("spec.rollout.canary.steps", [5, 5, 100]),
        "spec.rollout.canary.steps",
        "strictly increasing",
    ),
    Case(
        "step-above-100", "canary", _set("spec.rollout.canary.steps", [5, 101]), "spec.rollout.canary.steps[1]", "100"
    ),
    Case("step-zero", "canary", _set("spec.rollout.canary.steps", [0, 50]), "spec.rollout.canary.steps[0]", "1"),
    Case(
        "split-not-100",
        "split",
        _set("spec.rollout.split.weights", [60, 50]),
        "spec.rollout.split.weights",
        "sum to 100",
    ),
    Case(
        "split-three-weights",
        "split",
        _set("spec.rollout.split.weights", [50, 25, 25]),
        "spec.rollout.split.weights",
        "2",
    ),
    Case(
        "max-below-min",
        "canary",
        _set("spec.autoscaling", {"minReplicas": 4, "maxReplicas": 2}),
        "spec.autoscaling.maxReplicas",
        "maxReplicas must be >= minReplicas",
    ),
    Case(
        "canary-without-section",
        "canary",
        _set("spec.rollout.canary", _DELETE),
        "spec.rollout.canary",
        "strategy canary needs the canary section",
    ),
    Case(
        "shadow-without-section",
        "shadow",
        _set("spec.rollout.shadow", _DELETE),
        "spec.rollout.shadow",
        "strategy shadow needs the shadow section",
    ),
    Case(
        "split-without-section",
        "split",
        _set("spec.rollout.split", _DELETE),
        "spec.rollout.split",
        "strategy split needs the split section",
    ),
    Case(
        "shadow-then-canary-without-canary",
        "shadow",
        _set("spec.rollout.shadow.thenPromote", "canary"),
        "spec.rollout.canary",
        "thenPromote canary needs the canary section",
    ),
    Case(
        "agreement-outside-shadow",
        "canary",
        _set("spec.rollout.analysis.gates.agreement", {"min": 0.9}),
        "spec.rollout.analysis.gates.agreement",
        "agreement gate needs strategy shadow",
    ),
    Case(
        "latency-without-threshold",
        "canary",
        _set("spec.rollout.analysis.gates.latencyP99", {}),
        "spec.rollout.analysis.gates.latencyP99",
        "needs maxMs or maxRatioToStable",
    ),
    Case(
        "custom-without-bounds",
        "split",
        _set("spec.rollout.analysis.gates.custom", [{"name": "x", "query": "1"}]),
        "spec.rollout.analysis.gates.custom[0]",
        "needs min or max",
    ),
    Case(
        "custom-min-above-max",
        "split",
        _set("spec.rollout.analysis.gates.custom", [{"name": "x", "query": "1", "min": 2, "max": 1}]),
        "spec.rollout.analysis.gates.custom[0].min",
        "min must be <= max",
    ),
    Case(
        "custom-duplicate-names",
        "split",
        _set(
            "spec.rollout.analysis.gates.custom",
            [{"name": "x", "query": "1", "min": 0}, {"name": "x", "query": "2", "max": 1}],
        ),
        "spec.rollout.analysis.gates.custom",
        "unique",
    ),
    Case(
        "gateway-without-section",
        "canary",
        _set("spec.traffic", {"provider": "gateway-api"}),
        "spec.traffic.gatewayApi",
        "gateway-api needs the gatewayApi section",
    ),
    Case(
        "storage-uri-scheme",
        "canary",
        _set("spec.model.storageUri", "s3://bucket/digits.mar"),
        "spec.model.storageUri",
        "(https?|pvc)",
    ),
    Case("unknown-strategy", "canary", _set("spec.rollout.strategy", "blue-green"), "spec.rollout.strategy", "canary"),
    Case(
        "bad-duration",
        "canary",
        _set("spec.rollout.canary.stepDuration", "thirty seconds"),
        "spec.rollout.canary.stepDuration",
        "ms|s|m|h",
    ),
    Case(
        "error-rate-above-one",
        "canary",
        _set("spec.rollout.analysis.gates.errorRate", {"max": 1.5}),
        "spec.rollout.analysis.gates.errorRate.max",
        "1",
    ),
    Case(
        "mirror-percent-zero",
        "shadow",
        _set("spec.rollout.shadow.mirrorPercent", 0),
        "spec.rollout.shadow.mirrorPercent",
        "1",
    ),
]

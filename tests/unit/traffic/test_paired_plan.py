"""From the spec to router.json: `agreement.pairedPercent` reaches the router's `paired` section during a canary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from visionroll import vocabulary
from visionroll.api import Revision, VisionModelSpec, VisionModelStatus, Weights
from visionroll.reconcile.desired import build
from visionroll.reconcile.snapshot import Snapshot
from visionroll.settings import Settings
from visionroll.traffic.router import ROUTING_KEY
from visionroll.workloads import naming
from visionroll.workloads.torchserve import REVISION_KEY

EXAMPLE = Path(__file__).parents[3] / "examples" / "canary.yaml"


def _router_json(gates: dict[str, Any], weights: Weights) -> dict[str, Any]:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["spec"]["rollout"]["analysis"]["gates"] = gates
    spec = VisionModelSpec.model_validate(raw["spec"])
    revision = naming.revision(spec.model, spec.serving)
    old_model = spec.model.model_copy(update={"version": "1.0"})
    old_revision = naming.revision(old_model, spec.serving)
    record = {"data": {REVISION_KEY: naming.revision_record(old_model, spec.serving)}}  # how stable is rebuilt
    status = VisionModelStatus(
        stable=Revision(version="1.0", revision=old_revision),
        candidate=Revision(version=spec.model.version, revision=revision),
        weights=weights,
        stage="canary",
    )
    snap = Snapshot(
        visionmodel={"metadata": {"name": "digits", "namespace": "default", "uid": "u-1"}},
        owned={("ConfigMap", vocabulary.variant_name("digits", old_revision)): record},
    )
    desired = build(snap, spec, status, desired_revision=revision, settings=Settings())
    assert not desired.problems
    routing = next(o for o in desired.traffic if o["kind"] == "ConfigMap")
    return dict(json.loads(routing["data"][ROUTING_KEY]))


def test_paired_percent_of_the_agreement_gate_reaches_the_router() -> None:
    gates = {"errorRate": {"max": 0.01}, "agreement": {"min": 0.97, "pairedPercent": 20}}
    assert _router_json(gates, Weights(stable=95, candidate=5))["paired"] == {
        "candidatePercent": 20,
        "stablePercent": 0,
    }


def test_no_paired_copies_without_the_agreement_gate_or_at_full_weight() -> None:
    assert _router_json({"errorRate": {"max": 0.01}}, Weights(stable=95, candidate=5))["paired"] is None
    gates = {"agreement": {"min": 0.97, "pairedPercent": 20}}
    assert _router_json(gates, Weights(stable=0, candidate=100))["paired"] is None


def test_a_plan_the_router_would_refuse_holds_the_traffic_objects() -> None:
    """Stable's record (its ConfigMap) gone mid-canary: the candidate alone at 5% is no valid router.json. The
    operator writes none; it holds the traffic objects as they are (the router keeps its last good config) and says
    why."""
    spec = VisionModelSpec.model_validate(yaml.safe_load(EXAMPLE.read_text())["spec"])
    revision = naming.revision(spec.model, spec.serving)
    status = VisionModelStatus(
        stable=Revision(version="1.0", revision="1-0-abcdef"),
        candidate=Revision(version=spec.model.version, revision=revision),
        weights=Weights(stable=95, candidate=5),
        stage="canary",
    )
    snap = Snapshot(visionmodel={"metadata": {"name": "digits", "namespace": "default", "uid": "u-1"}}, owned={})
    desired = build(snap, spec, status, desired_revision=revision, settings=Settings())
    assert desired.traffic_held and not desired.traffic
    assert any("traffic left as it is" in p and "must sum to 100, got 5" in p for p in desired.problems)

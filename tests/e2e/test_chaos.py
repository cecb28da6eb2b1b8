"""The chaos run, reduced (the full one is `make chaos`: 21 operator kills over the demo's three rollouts): one canary
on real pods while the operator is SIGKILLed three times, the API server restarts, Prometheus stops mid-analysis, a
candidate and a stable TorchServe pod are SIGKILLed mid-canary and a router pod is deleted. The rollout ends as it
does undisturbed, nothing moves forward while Prometheus is down, the control-plane faults cost clients nothing, and
after the VisionModel is deleted nothing of it is left."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from localkube import testing
from localkube.cluster import LocalCluster
from visionroll_demo import chaos
from visionroll_demo.scenarios import SCENARIOS, Recorder
from visionroll_demo.stack import Stack, running_stack
from visionroll_demo.traffic import TrafficDriver

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.torchserve, pytest.mark.slow]

CANARY = dataclasses.replace(SCENARIOS[0], timeout=600.0)
PLAN = [
    "operator-kill",
    "apiserver-restart",
    "candidate-pod-kill",
    "operator-kill",
    "prometheus-stop",
    "stable-pod-kill",
    "router-pod-delete",
    "operator-kill",
]


@pytest.fixture(scope="module")
def stack(node_clusters: testing.NodeClusters, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    cluster: LocalCluster = node_clusters.get()
    with running_stack(
        tmp_path_factory.mktemp("e2e-chaos"), cluster=cluster, namespace="e2e-chaos", min_replicas=2
    ) as running:
        yield running


def test_a_canary_under_faults_ends_as_undisturbed_and_leaves_nothing_behind(stack: Stack) -> None:
    traffic = TrafficDriver(stack.predictions_url, rate_per_second=40, max_seconds=900).start()
    recorder = Recorder(stack, lambda _: None).start()
    try:
        run = chaos.play_under_faults(stack, recorder, traffic, [(CANARY, PLAN)], seed=7, log=print, gap=(2.0, 5.0))
    finally:
        recorder.stop()
        traffic.stop()
    run.orphans = chaos.delete_and_check(stack)
    print(chaos.report(run))
    assert sorted(f.kind for f in run.faults) == sorted(PLAN), chaos.report(run)
    struck = [f for f in run.faults if not f.detail.startswith(("could not", "no "))]
    assert len(struck) == len(PLAN), chaos.report(run)
    assert chaos.check(run, min_operator_kills=3) == [], chaos.report(run)
    # Losing a pod costs the requests it had in flight: one client sends one request at a time.
    for fault in run.faults:
        if fault.kind in chaos.POD_FAULTS:
            assert fault.errors <= 5, chaos.report(run)

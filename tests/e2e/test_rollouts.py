"""The main job end to end on real pods, as `make demo` plays it: a real node, visionroll installed by `helm install`
(the operator in its pod), TorchServe pods serving the real digits models fetched by the operator's init containers,
the router Deployment the operator generates, Prometheus finding them by service discovery, and client traffic of
real digits images through the router's Service.

1. a canary of the int8 model is promoted step by step;
2. a shadow of the model that answers HTTP 200 with wrong classes is rolled back on agreement;
3. a candidate that fails under load is rolled back on its error rate;
then a canary judged on paired copies rolls back a class swap and promotes a re-export, and a 50/50 split judged by
the default gates promotes a candidate no worse than stable.

The scenarios run in order against one stack (each starts from the stable the previous one left).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator

import pytest
import yaml

from localkube import testing
from localkube.cluster import LocalCluster
from visionroll_build.dashboards.boards import DASHBOARDS
from visionroll_build.dashboards.grafana import expressions
from visionroll_demo.scenarios import SCENARIOS, Recorder, Scenario, play, split_of_the_same_weights
from visionroll_demo.stack import REPO, Stack, running_stack
from visionroll_demo.traffic import TrafficDriver

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.torchserve, pytest.mark.slow]

CANARY, SHADOW, FAILING = SCENARIOS


@pytest.fixture(scope="module")
def stack(node_clusters: testing.NodeClusters, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    cluster: LocalCluster = node_clusters.get()
    with running_stack(tmp_path_factory.mktemp("e2e"), cluster=cluster, namespace="e2e-rollouts") as running:
        yield running


@pytest.fixture(scope="module")
def traffic(stack: Stack) -> Iterator[TrafficDriver]:
    # Bounded (50,000 requests at most), and long enough for the whole module: a CI run whose rollouts waited out
    # their timeouts outlived a 600 s driver, and the modules' last rollouts then had no traffic and no data.
    driver = TrafficDriver(stack.predictions_url, rate_per_second=40, max_seconds=1200).start()
    yield driver
    driver.stop()


@pytest.fixture(scope="module")
def recorder(stack: Stack, traffic: TrafficDriver) -> Iterator[Recorder]:
    lines: list[str] = []
    rec = Recorder(stack, lines.append).start()
    yield rec
    rec.stop()


def _play(stack: Stack, recorder: Recorder, scenario: Scenario) -> tuple[str, str, dict]:
    result = play(stack, scenario, recorder, lambda _: None)
    status = stack.get()["status"]
    return result.outcome, result.reason, status


def test_canary_of_the_int8_model_is_promoted_step_by_step(stack: Stack, recorder: Recorder) -> None:
    outcome, reason, status = _play(stack, recorder, CANARY)
    assert outcome == "promoted", reason
    assert status["stable"]["version"] == "2.0"
    assert status["weights"] == {"stable": 100, "candidate": 0}
    seen_weights = {s["weight"] for s in recorder.samples if s["stage"] == "canary"}
    assert {50, 100} <= seen_weights, f"every canary step carried traffic: {sorted(seen_weights)}"
    # The last analysis is the 100% step's: the stable answers nobody then, so only the candidate's own gates judge it.
    assert {g["name"]: g["verdict"] for g in status["analysis"]["gates"]} == {"latencyP99": "pass", "errorRate": "pass"}
    # At 50% the drift gate judged it too (sampled while the rollout ran).
    assert any(s["drift"] is not None for s in recorder.samples if s["weight"] == 50)


def test_shadow_of_a_model_with_wrong_answers_is_rolled_back(
    stack: Stack, recorder: Recorder, traffic: TrafficDriver
) -> None:
    errors_before = traffic.codes.get("500", 0) + traffic.codes.get("error", 0)
    outcome, reason, status = _play(stack, recorder, SHADOW)
    assert outcome == "rolled-back", reason
    assert status["phase"] == "RolledBack" and status["stable"]["version"] == "2.0"
    gates = {g["name"]: g for g in status["analysis"]["gates"]}
    assert gates["agreement"]["verdict"] == "fail" and gates["agreement"]["value"] < 0.95
    assert gates["agreement"]["samples"] >= 40
    # clients only ever saw stable's answers: mirroring added no errors
    assert traffic.codes.get("500", 0) + traffic.codes.get("error", 0) == errors_before, traffic.answers[-5:]


def test_candidate_failing_under_load_is_rolled_back(stack: Stack, recorder: Recorder) -> None:
    outcome, reason, status = _play(stack, recorder, FAILING)
    assert outcome == "rolled-back", reason
    gates = {g["name"]: g for g in status["analysis"]["gates"]}
    assert gates["errorRate"]["verdict"] == "fail" and gates["errorRate"]["value"] > 0.02
    assert status["weights"] == {"stable": 100, "candidate": 0}
    assert status["rolledBack"]["revision"] == stack.revision("4.0")
    routing = stack.cluster.kubectl_json("get", "configmap", "digits-routing", "-n", stack.namespace)
    assert '"candidate"' not in routing["data"]["router.json"] or '"weight": 0' in routing["data"]["router.json"]


def test_every_dashboard_and_alert_query_has_data_after_the_rollouts(stack: Stack, recorder: Recorder) -> None:
    """The panels and alerts read the same names the analysis and the operator write: after three real rollouts,
    each dashboard expression returns data from the real Prometheus, and each metric an alert reads exists.
    Expressions over kube-state-metrics are the exception (it does not run in the local stack), and so are those of
    the ground-truth panels (accuracy, recall): they have data only where users post labels to POST /feedback and
    set those gates, which these rollouts do not; tests/integration/metrics/test_ground_truth_queries.py shows their
    queries against a real Prometheus and a real router."""
    time.sleep(3)  # one more scrape of the router and the operator after the last rollout
    values = {"namespace": stack.namespace, "visionmodel": "digits", "variant": ".*", "window": "10m"}
    empty = []
    checked = 0
    for name, build in DASHBOARDS.items():
        for expr in expressions(build()):
            if "kube_" in expr or "feedback" in expr or "accuracy" in expr or "recall" in expr:
                continue
            promql = re.sub(r"\$(\w+)", lambda m: values[m.group(1)], expr)
            checked += 1
            if not stack.prometheus.query(promql):
                empty.append(f"{name}: {promql}")
    assert checked >= 25 and not empty, "dashboard expressions without data:\n" + "\n".join(empty)

    rules = yaml.safe_load((REPO / "charts" / "visionroll" / "files" / "alerts.yaml").read_text())
    exprs = [r["expr"] for group in rules["groups"] for r in group["rules"]]
    metrics = {m for e in exprs for m in re.findall(r"\b(visionroll_[a-z_]+|up)\b", e)}
    # Over the run, not only now: the rollout start time exists only while a rollout is in progress.
    missing = [
        m for m in sorted(metrics) if not stack.prometheus.query(f'count(last_over_time({{__name__="{m}"}}[10m]))')
    ]
    assert len(metrics) >= 5 and not missing, f"metrics the alerts read that Prometheus does not have: {missing}"


# A canary judged on paired copies: for every request routed to the candidate, the router sends a copy of the same
# image to stable and compares the top-1 answers (agreement), while clients get only the variant they were routed to.
PAIRED_CANARY = {
    "strategy": "canary",
    "canary": {"steps": [20, 100], "stepDuration": "20s"},
    "analysis": {
        "interval": "5s",
        "minSamples": 40,
        "failureLimit": 1,
        "gates": {"errorRate": {"max": 0.02}, "agreement": {"min": 0.97, "pairedPercent": 100}},
    },
}


def _scenario(title: str, version: str, rollout: dict, expect: str) -> Scenario:
    return Scenario(title=title, short=title, version=version, rollout=rollout, expect=expect, timeout=420)  # type: ignore[arg-type]


def test_a_canary_of_a_model_with_two_classes_swapped_is_rolled_back(
    stack: Stack, recorder: Recorder, traffic: TrafficDriver
) -> None:
    """HTTP 200, normal latency, the same class mix, wrong on about a fifth of the inputs: only the comparison of
    answers on the same input sees it, and it does on a canary."""
    outcome, reason, status = _play(
        stack, recorder, _scenario("back to 1.0", "1.0", {"strategy": "immediate"}, "promoted")
    )
    assert status["stable"]["version"] == "1.0", reason
    errors_before = sum(n for code, n in traffic.codes.items() if code != "200")
    outcome, reason, status = _play(
        stack, recorder, _scenario("canary 6.0 (classes swapped)", "6.0", PAIRED_CANARY, "rolled-back")
    )
    assert outcome == "rolled-back", reason
    gates = {g["name"]: g for g in status["analysis"]["gates"]}
    assert gates["agreement"]["verdict"] == "fail" and gates["agreement"]["value"] < 0.9, gates["agreement"]
    assert status["stable"]["version"] == "1.0" and status["weights"] == {"stable": 100, "candidate": 0}
    # copies cost clients nothing; a failure names the answers (epoch time, code, variant, body)
    assert sum(n for code, n in traffic.codes.items() if code != "200") == errors_before, traffic.answers[-5:]


def test_a_re_export_of_the_stable_weights_is_promoted(stack: Stack, recorder: Recorder) -> None:
    result = play(stack, _scenario("canary 5.0 (1.0 re-exported)", "5.0", PAIRED_CANARY, "promoted"), recorder, print)
    assert result.outcome == "promoted", result.reason
    assert stack.get()["status"]["stable"]["version"] == "5.0"
    # Judged on evidence: at the 20% step the paired answers agreed (the 100% step has no stable answers to pair).
    seen = [s["agreement"] for s in recorder.samples if result.start <= s["t"] <= result.end and s["agreement"]]
    assert seen and max(seen) >= 0.97, seen


def test_a_split_against_the_same_weights_is_won_by_the_candidate_on_the_default_gates(
    stack: Stack, recorder: Recorder, traffic: TrafficDriver
) -> None:
    """1.0 against the stable 5.0 (1.0's weights re-exported), half the clients each: the candidate is no worse on
    any default gate, so the split promotes it; clients see no error while both serve."""
    errors_before = sum(n for code, n in traffic.codes.items() if code != "200")
    scenario = dataclasses.replace(split_of_the_same_weights("1.0", stable="5.0"), timeout=420)
    result = play(stack, scenario, recorder, print)
    assert result.outcome == "promoted", result.reason
    status = stack.get()["status"]
    assert status["stable"]["version"] == "1.0" and status["weights"] == {"stable": 100, "candidate": 0}
    split = [s for s in recorder.samples if result.start <= s["t"] <= result.end and s["stage"] == "split"]
    assert split and {s["weight"] for s in split} == {50}, split[-3:]
    # judged on evidence: the split's own analyses compared the candidate's latency with stable's at equal load
    assert any(s["latency_vs_stable"] is not None for s in split), split[-3:]
    assert sum(n for code, n in traffic.codes.items() if code != "200") == errors_before, traffic.answers[-5:]

"""Paired copies and ground-truth feedback through the real router in front of a real TorchServe, on real digits.

1.0 is the stable model; 3.0 was trained with classes 3 -> 5 -> 8 -> 3 mislabelled, so it answers HTTP 200 with
wrong classes on about a third of those digits: what a paired comparison and ground-truth labels must catch.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests

from localkube import local
from localkube.local import metric_samples, post_many
from support.kube import eventually

pytestmark = pytest.mark.torchserve

StartRouter = Callable[..., local.Router]
PNGs = list[tuple[bytes, int]]


ORDER = ("variant", "revision", "traffic", "class", "outcome", "result", "code")


def _samples(router: local.Router, name: str, **match: str) -> Counter[tuple[str, ...]]:
    """Sample values of `name` whose labels include `match`, keyed by the other labels' values in ORDER."""
    out: Counter[tuple[str, ...]] = Counter()
    for labels, value in metric_samples(router.metrics_text(), name):
        if all(labels.get(k) == v for k, v in match.items()):
            out[tuple(labels[k] for k in ORDER if k in labels and k not in match)] += int(value)
    return out


def _paired_comparisons(router: local.Router, *, expected: int, timeout: float = 30) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        counts: Counter[str] = Counter()
        for labels, value in metric_samples(router.metrics_text(), "visionroll_router_shadow_comparisons_total"):
            if labels["traffic"] == "paired":
                assert labels["variant"] == "candidate", labels  # comparisons sit on the candidate's labels
                counts[labels["result"]] += int(value)
        if sum(counts.values()) >= expected or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def _top(response: requests.Response) -> str:
    return str(response.json()["top_k"][0]["label"])


@pytest.mark.parametrize(
    ("candidate_version", "low", "high"),
    [("1.0", 1.0, 1.0), ("3.0", 0.5, 0.85)],
    ids=["identical-model-agrees", "mislabelled-model-disagrees"],
)
def test_paired_copies_compare_canary_answers_and_leave_them_unchanged(
    torchserve: local.TorchServe, start_router: StartRouter, pngs: PNGs, candidate_version: str, low: float,
    high: float,
) -> None:  # fmt: skip
    router = start_router(
        [
            local.variant("stable", "1.0", torchserve.inference_url, weight=60),
            local.variant("candidate", candidate_version, torchserve.inference_url, weight=40),
        ],
        paired={"candidatePercent": 100},
    )
    bodies = [png for png, _ in pngs[:300]]
    responses = post_many(router.url + "/predictions/digits", bodies)
    assert {r.status_code for r in responses} == {200}
    routed = Counter(r.headers["x-visionroll-variant"] for r in responses)
    assert routed["candidate"] > 50 and routed["stable"] > 50, routed

    # Every client got the answer of the variant the header names, as TorchServe gives it directly.
    direct = {
        version: post_many(f"{torchserve.inference_url}/predictions/digits/{version}", bodies)
        for version in {"1.0", candidate_version}
    }
    version_of = {"stable": "1.0", "candidate": candidate_version}
    for i, response in enumerate(responses):
        assert response.json()["version"] == version_of[response.headers["x-visionroll-variant"]]
        assert _top(response) == _top(direct[version_of[response.headers["x-visionroll-variant"]]][i])

    # One comparison per candidate-routed request, none for stable-routed ones (stablePercent is 0).
    counts = _paired_comparisons(router, expected=routed["candidate"])
    assert sum(counts.values()) == routed["candidate"], counts
    assert low <= counts["agree"] / routed["candidate"] <= high, counts
    # The copies are stable's `paired` requests, apart from its live ones.
    requests_total = _samples(router, "visionroll_router_requests_total", code="200")
    assert requests_total[("stable", "1-0-local", "paired")] == routed["candidate"], requests_total
    assert requests_total[("stable", "1-0-local", "live")] == routed["stable"]
    # The comparisons agree with what TorchServe answers directly for the same inputs.
    candidate_rows = [i for i, r in enumerate(responses) if r.headers["x-visionroll-variant"] == "candidate"]
    expected_agree = sum(_top(direct["1.0"][i]) == _top(direct[candidate_version][i]) for i in candidate_rows)
    assert abs(counts["agree"] - expected_agree) <= 2, (counts, expected_agree)  # batching moves near-ties only


def test_stable_routed_requests_can_be_copied_to_the_candidate(
    torchserve: local.TorchServe, start_router: StartRouter, pngs: PNGs
) -> None:
    router = start_router(
        [
            local.variant("stable", "1.0", torchserve.inference_url, weight=90),
            local.variant("candidate", "1.0", torchserve.inference_url, weight=10),
        ],
        paired={"candidatePercent": 0, "stablePercent": 100},
    )
    responses = post_many(router.url + "/predictions/digits", [png for png, _ in pngs[:200]])
    stable_routed = sum(r.headers["x-visionroll-variant"] == "stable" for r in responses)
    assert _paired_comparisons(router, expected=stable_routed) == Counter(agree=stable_routed)
    requests_total = _samples(router, "visionroll_router_requests_total", code="200")
    assert requests_total[("candidate", "1-0-local", "paired")] == stable_routed


def test_a_bad_paired_section_is_refused_and_the_last_good_config_kept(
    torchserve: local.TorchServe, start_router: StartRouter, pngs: PNGs
) -> None:
    variants = [
        local.variant("stable", "1.0", torchserve.inference_url, weight=0),
        local.variant("candidate", "3.0", torchserve.inference_url, weight=100),
    ]
    router = start_router(variants, paired={"candidatePercent": 100})
    assert router.config_file is not None
    bad = local.router_config(
        [local.variant("stable", "1.0", torchserve.inference_url, weight=100)],  # would move everything to stable
    )
    bad["paired"] = {"candidatePercent": 150}
    local.write_router_config(router.config_file, bad)
    refused = "paired.candidatePercent: Input should be less than or equal to 100"
    assert eventually(lambda: refused in router.log_tail(200))
    answered = requests.post(router.url + "/predictions/digits", data=pngs[0][0], timeout=10)
    assert answered.headers["x-visionroll-variant"] == "candidate"


def test_feedback_counts_correct_and_wrong_per_variant_and_class(
    torchserve: local.TorchServe, start_router: StartRouter, pngs: PNGs
) -> None:
    router = start_router(
        [
            local.variant("stable", "1.0", torchserve.inference_url, weight=50),
            local.variant("candidate", "3.0", torchserve.inference_url, weight=50),
        ]
    )
    n = len(pngs)  # every held-out digit once (359)
    sent_ids = [{"X-Request-Id": f"client-{i}"} for i in range(n)]
    responses = post_many(router.url + "/predictions/digits", [pngs[i][0] for i in range(n)], headers=sent_ids)
    assert [r.headers["X-Request-Id"] for r in responses] == [f"client-{i}" for i in range(n)]  # honoured

    feedback_url = router.url + "/feedback"
    expected: Counter[tuple[str, str, str]] = Counter()  # (variant, true class, outcome)
    with requests.Session() as session:
        for i, response in enumerate(responses):
            truth = pngs[i][1]
            counted = session.post(feedback_url, json={"requestId": f"client-{i}", "label": truth}, timeout=10)
            outcome = "correct" if _top(response) == str(truth) else "wrong"
            assert counted.status_code == 200, counted.text
            assert counted.json() == {
                "requestId": f"client-{i}",
                "variant": response.headers["x-visionroll-variant"],
                "revision": response.headers["x-visionroll-revision"],
                "outcome": outcome,
            }
            expected[(response.headers["x-visionroll-variant"], str(truth), outcome)] += 1

    by_class = _samples(router, "visionroll_router_feedback_class_total", traffic="live")
    assert {(v, c, o): count for (v, _rev, c, o), count in by_class.items() if count} == dict(expected)
    per_variant = _samples(router, "visionroll_router_feedback_total", traffic="live")
    for variant in ("stable", "candidate"):
        for outcome in ("correct", "wrong"):
            want = sum(c for (v, _, o), c in expected.items() if (v, o) == (variant, outcome))
            assert sum(c for (v, _rev, o), c in per_variant.items() if (v, o) == (variant, outcome)) == want

    # What the gates will read: stable is accurate; the mislabelled candidate's recall collapses on 3, 5 and 8.
    def recall(variant: str, classes: set[str]) -> float:
        right = sum(c for (v, k, o), c in expected.items() if v == variant and k in classes and o == "correct")
        return right / sum(c for (v, k, _), c in expected.items() if v == variant and k in classes)

    assert recall("stable", {str(d) for d in range(10)}) >= 0.9
    assert recall("candidate", {"3", "5", "8"}) <= 0.3 < 0.9 <= recall("stable", {"3", "5", "8"})

    # Refusals, each with a reason, counted by result.
    again = requests.post(feedback_url, json={"requestId": "client-0", "label": pngs[0][1]}, timeout=10)
    assert again.status_code == 409 and "labelled already" in again.json()["error"]
    unknown = requests.post(feedback_url, json={"requestId": "never-sent", "label": "7"}, timeout=10)
    assert unknown.status_code == 404 and "unknown or expired" in unknown.json()["error"]
    malformed = requests.post(feedback_url, json={"requestId": "client-1"}, timeout=10)
    assert malformed.status_code == 400 and "label" in malformed.json()["error"]
    not_json = requests.post(feedback_url, data=b"label=7", timeout=10)
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]
    results = _samples(router, "visionroll_router_feedback_requests_total")
    assert results == Counter({("counted",): n, ("duplicate",): 1, ("unknown",): 1, ("malformed",): 2})

    check = subprocess.run(["promtool", "check", "metrics"], input=router.metrics_text(), capture_output=True,
                           text=True)  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_a_generated_request_id_can_be_labelled(torchserve: local.TorchServe, start_router: StartRouter,
                                                pngs: PNGs) -> None:  # fmt: skip
    router = start_router([local.variant("stable", "1.0", torchserve.inference_url, weight=100)])
    invalid = {"X-Request-Id": "not a valid id"}
    response = requests.post(router.url + "/predictions/digits", data=pngs[0][0], headers=invalid, timeout=10)
    rid = response.headers["X-Request-Id"]
    assert rid != "not a valid id" and len(rid) == 32
    counted = requests.post(router.url + "/feedback", json={"requestId": rid, "label": pngs[0][1]}, timeout=10)
    assert counted.status_code == 200 and counted.json()["outcome"] == "correct"
    refused = requests.post(router.url + "/predictions/digits", data=b"not an image", timeout=10)
    assert refused.status_code == 400 and refused.headers["X-Request-Id"]  # the router's own answers carry one too


@pytest.mark.parametrize(
    ("options", "kept"),
    [
        (["--feedback-entries", "100"], 100),
        (
            ["--feedback-bytes", str(40 * (256 + 10 + 1))],
            40,
        ),  # 40 entries of the estimate (feedback.go: 256 + id + class)
    ],
    ids=["entries", "bytes"],
)
def test_the_answer_log_is_bounded(torchserve: local.TorchServe, start_router: StartRouter, pngs: PNGs,
                                   options: list[str], kept: int) -> None:  # fmt: skip
    router = start_router([local.variant("stable", "1.0", torchserve.inference_url, weight=100)], extra_args=options)
    n = 300
    ids = [{"X-Request-Id": f"req-{i:06d}"} for i in range(n)]  # 10 characters
    # One at a time: the log's order is the order sent.
    post_many(
        router.url + "/predictions/digits", [pngs[i % len(pngs)][0] for i in range(n)], headers=ids, concurrency=1
    )
    text = router.metrics_text()
    assert metric_samples(text, "visionroll_router_feedback_answers") == [({}, kept)]
    held_bytes = metric_samples(text, "visionroll_router_feedback_answers_bytes")[0][1]
    assert held_bytes <= 40 * (320 + 10 + 1) if options[0] == "--feedback-bytes" else held_bytes > 0

    def feedback(i: int) -> int:
        body: dict[str, Any] = {"requestId": f"req-{i:06d}", "label": "0"}
        return requests.post(router.url + "/feedback", json=body, timeout=10).status_code

    assert feedback(n - kept - 1) == 404  # the newest one that was evicted
    assert feedback(n - kept) == 200  # the oldest one kept
    assert feedback(n - 1) == 200


def test_answers_expire(torchserve: local.TorchServe, start_router: StartRouter, pngs: PNGs) -> None:
    router = start_router([local.variant("stable", "1.0", torchserve.inference_url, weight=100)],
                          extra_args=["--feedback-ttl", "1"])  # fmt: skip
    headers = {"X-Request-Id": "soon-gone"}
    requests.post(router.url + "/predictions/digits", data=pngs[0][0], headers=headers, timeout=10)
    time.sleep(1.2)
    late = requests.post(router.url + "/feedback", json={"requestId": "soon-gone", "label": "0"}, timeout=10)
    assert late.status_code == 404 and "for 1s" in late.json()["error"]

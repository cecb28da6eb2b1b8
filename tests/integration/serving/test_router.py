"""The router in front of a real TorchServe, with real digits images: split, stickiness, mirroring, failures."""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from localkube import images, local
from localkube.local import metric_samples, post_many
from support.kube import eventually
from visionroll.traffic import Backend, TrafficPlan
from visionroll.traffic.router import RouterProvider
from visionroll_serving.router.series import LATENCY_BUCKETS

pytestmark = pytest.mark.torchserve

StartRouter = Callable[..., local.Router]
Z = 4.5  # two-sided binomial bound: a correct router fails this by chance about once in 150,000 runs


def binomial_ok(hits: int, n: int, p: float) -> bool:
    return abs(hits - n * p) <= Z * math.sqrt(n * p * (1 - p))


def comparisons(router: local.Router, *, expected: int, timeout: float = 30) -> Counter[str]:
    """Waits until `expected` shadow comparisons are counted; returns them by result."""
    deadline = time.monotonic() + timeout
    while True:
        counts: Counter[str] = Counter()
        for labels, value in metric_samples(router.metrics_text(), "visionroll_router_shadow_comparisons_total"):
            counts[labels["result"]] += int(value)
        if sum(counts.values()) >= expected or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def test_weights_hold_within_a_binomial_bound(torchserve: local.TorchServe, start_router: StartRouter,
                                             pngs: list[tuple[bytes, int]]) -> None:  # fmt: skip
    router = start_router(
        [
            local.variant("stable", "1.0", torchserve.inference_url, weight=70),
            local.variant("candidate", "3.0", torchserve.inference_url, weight=30),
        ]
    )
    n = 1200
    responses = post_many(router.url + "/predictions/digits", [pngs[i % len(pngs)][0] for i in range(n)])
    assert {r.status_code for r in responses} == {200}
    by_variant = Counter(r.headers["x-visionroll-variant"] for r in responses)
    assert binomial_ok(by_variant["candidate"], n, 0.30), by_variant
    # the answer really came from the version the header names
    versions = Counter((r.headers["x-visionroll-variant"], answer(r)["version"]) for r in responses)
    assert set(versions) == {("stable", "1.0"), ("candidate", "3.0")}
    live = metric_samples(router.metrics_text(), "visionroll_router_requests_total")
    assert sum(v for labels, v in live if labels["code"] == "200") == n


def test_sticky_header_keeps_a_session_on_one_variant(torchserve: local.TorchServe, start_router: StartRouter,
                                                     pngs: list[tuple[bytes, int]]) -> None:  # fmt: skip
    router = start_router(
        [
            local.variant("stable", "1.0", torchserve.inference_url, weight=50),
            local.variant("candidate", "3.0", torchserve.inference_url, weight=50),
        ],
        sticky_header="x-visionroll-session",
    )
    sessions = [f"user-{i}" for i in range(40)]
    headers = [{"x-visionroll-session": sessions[i % 40]} for i in range(200)]
    responses = post_many(router.url + "/predictions/digits", [pngs[0][0]] * 200, headers=headers)
    seen: dict[str, set[str]] = {}
    for i, response in enumerate(responses):
        seen.setdefault(sessions[i % 40], set()).add(response.headers["x-visionroll-variant"])
    assert all(len(variants) == 1 for variants in seen.values())
    assert binomial_ok(sum("candidate" in v for v in seen.values()), 40, 0.5)


@pytest.mark.parametrize(
    ("shadow_version", "low", "high"),
    [("1.0", 1.0, 1.0), ("3.0", 0.5, 0.85)],
    ids=["identical-model-agrees", "mislabelled-model-disagrees"],
)
def test_mirroring_measures_agreement(torchserve: local.TorchServe, start_router: StartRouter,
                                      pngs: list[tuple[bytes, int]], shadow_version: str, low: float,
                                      high: float) -> None:  # fmt: skip
    router = start_router(
        [
            local.variant("stable", "1.0", torchserve.inference_url, weight=100),
            local.variant("candidate", shadow_version, torchserve.inference_url, weight=0),
        ],
        shadow={"variant": "candidate", "percent": 100},
    )
    n = 300
    responses = post_many(router.url + "/predictions/digits", [png for png, _ in pngs[:n]])
    assert {r.headers["x-visionroll-variant"] for r in responses} == {"stable"}
    counts = comparisons(router, expected=n)
    assert sum(counts.values()) == n, counts
    agreement = counts["agree"] / n
    assert low <= agreement <= high, counts


def test_a_dead_shadow_leaves_client_answers_unchanged(torchserve: local.TorchServe, start_router: StartRouter,
                                                       pngs: list[tuple[bytes, int]]) -> None:  # fmt: skip
    dead = f"http://127.0.0.1:{local.free_port()}"
    router = start_router(
        [
            local.variant("stable", "1.0", torchserve.inference_url, weight=100),
            local.variant("candidate", "1.0", dead, weight=0),
        ],
        shadow={"variant": "candidate", "percent": 100},
    )
    bodies = [png for png, _ in pngs[:100]]
    through_router = post_many(router.url + "/predictions/digits", bodies)
    direct = post_many(torchserve.inference_url + "/predictions/digits/1.0", bodies)
    assert [r.status_code for r in through_router] == [200] * 100
    # Same classes; scores equal up to float noise (batching on: a batch's make-up moves the 6th decimal).
    for routed, straight in zip(through_router, direct, strict=True):
        assert _labels(answer(routed)) == _labels(answer(straight))
        assert _scores(answer(routed)) == pytest.approx(_scores(answer(straight)), abs=1e-4)
    assert comparisons(router, expected=100) == Counter(error=100)


def test_bad_requests_and_failing_upstreams_get_json_reasons(torchserve: local.TorchServe, start_router: StartRouter,
                                                             pngs: list[tuple[bytes, int]]) -> None:  # fmt: skip
    dead = f"http://127.0.0.1:{local.free_port()}"

    def post_png(url: str) -> requests.Response:
        return requests.post(url, data=pngs[0][0], headers={"Content-Type": "image/png"}, timeout=10)

    router = start_router([local.variant("stable", "1.0", torchserve.inference_url, weight=100)], max_body_bytes=4096)
    url = router.url + "/predictions/digits"

    # The router's own refusals: no variant sees them, no series counts them.
    not_image = requests.post(url, data=b"\x89PNG but not really", headers={"Content-Type": "image/png"}, timeout=10)
    assert not_image.status_code == 400 and "body is not an image" in not_image.json()["error"]
    bad_json = requests.post(url, json={"image": "***"}, timeout=10)
    assert bad_json.status_code == 400 and "base64" in bad_json.json()["error"]
    oversize = requests.post(url, data=b"x" * 5000, timeout=10)
    assert oversize.status_code == 413 and "limit" in oversize.json()["error"]
    unknown = post_png(router.url + "/predictions/cats")
    assert unknown.status_code == 404 and unknown.json()["code"] == 404
    assert metric_samples(router.metrics_text(), "visionroll_router_requests_total") == []
    # A body that passes the router's check but that the handler cannot decode: the variant's 400, counted as such.
    truncated = requests.post(url, data=pngs[0][0][:40], headers={"Content-Type": "image/png"}, timeout=10)
    assert truncated.status_code == 400 and "not a decodable image" in truncated.json()["error"]
    codes = {labels["code"] for labels, _ in metric_samples(router.metrics_text(), "visionroll_router_requests_total")}
    assert codes == {"400"}

    # TorchServe's own errors (here: a version it does not hold) reach the client in the router's error form
    missing = start_router([local.variant("stable", "9.0", torchserve.inference_url, weight=100)])
    not_held = post_png(missing.url + "/predictions/digits")
    assert not_held.status_code == 404 and not_held.json()["code"] == 404
    assert not_held.json()["error"].startswith("upstream stable answered 404: ") and "9.0" in not_held.json()["error"]

    down = start_router([local.variant("stable", "1.0", dead, weight=100)])
    unreachable = post_png(down.url + "/predictions/digits")
    assert unreachable.status_code == 502 and "stable" in unreachable.json()["error"]
    codes = {labels["code"] for labels, _ in metric_samples(down.metrics_text(), "visionroll_router_requests_total")}
    assert codes == {"error"}

    # 4.0 sleeps 20 ms per request by its archive's config: longer than this router waits
    slow = start_router([local.variant("stable", "4.0", torchserve.inference_url, weight=100)], upstream_timeout=0.005)
    timed_out = post_png(slow.url + "/predictions/digits")
    assert timed_out.status_code == 504 and timed_out.json()["error"]


def test_stable_answers_for_a_candidate_that_cannot_be_reached(torchserve: local.TorchServe,
                                                               start_router: StartRouter,
                                                               pngs: list[tuple[bytes, int]]) -> None:  # fmt: skip
    """A candidate whose only pod died but is still its Service's endpoint (here: a port nothing listens on) gets no
    connection: its live requests never reached a pod, so stable answers them; the candidate's failure is counted
    against it once per UnreachableFor (5 s, standin.go), not once per request. Stable itself has no stand-in (the
    502 of test_bad_requests_and_failing_upstreams_get_json_reasons)."""
    dead = f"http://127.0.0.1:{local.free_port()}"
    router = start_router([local.variant("stable", "1.0", torchserve.inference_url, weight=0),
                           local.variant("candidate", "1.0", dead, weight=100)])  # fmt: skip
    answers = [
        requests.post(router.url + "/predictions/digits", data=png, headers={"Content-Type": "image/png"}, timeout=10)
        for png, _ in pngs[:10]
    ]
    assert [a.status_code for a in answers] == [200] * 10
    assert {a.headers["X-Visionroll-Variant"] for a in answers} == {"stable"}
    samples = metric_samples(router.metrics_text(), "visionroll_router_requests_total")
    counted = {(labels["variant"], labels["code"]): value for labels, value in samples}
    assert counted == {("candidate", "error"): 1, ("stable", "200"): 10}


def test_faulty_model_fails_a_share_of_requests(torchserve: local.TorchServe, start_router: StartRouter,
                                                pngs: list[tuple[bytes, int]]) -> None:  # fmt: skip
    router = start_router([local.variant("stable", "4.0", torchserve.inference_url, weight=100)])
    n = 400
    responses = post_many(router.url + "/predictions/digits", [pngs[i % len(pngs)][0] for i in range(n)])
    codes = Counter(r.status_code for r in responses)
    assert set(codes) == {200, 500}
    assert binomial_ok(codes[500], n, 0.3), codes
    assert all(r.json()["code"] == 500 for r in responses if r.status_code == 500)


def test_config_hot_reloads_from_the_file_and_keeps_the_last_good_one(
    torchserve: local.TorchServe, start_router: StartRouter, pngs: list[tuple[bytes, int]]
) -> None:
    router = start_router([local.variant("stable", "1.0", torchserve.inference_url, weight=100)])
    assert router.config_file is not None
    url = router.url + "/predictions/digits"
    assert requests.post(url, data=pngs[0][0], timeout=10).headers["x-visionroll-variant"] == "stable"
    local.write_router_config(
        router.config_file,
        local.router_config(
            [
                local.variant("stable", "1.0", torchserve.inference_url, weight=0),
                local.variant("candidate", "3.0", torchserve.inference_url, weight=100),
            ]
        ),
    )
    assert eventually(lambda: requests.post(url, data=pngs[0][0], timeout=10).json()["version"] == "3.0")

    router.config_file.write_text('{"variants": "broken"')
    time.sleep(1.5)  # several polls of the file
    assert requests.get(router.url + "/readyz", timeout=5).status_code == 200
    assert requests.post(url, data=pngs[0][0], timeout=10).json()["version"] == "3.0"
    assert "rejected, keeping the previous one" in router.log_tail(200)


def test_router_stops_cleanly_on_sigterm(torchserve: local.TorchServe, tmp_path: Path) -> None:
    path = local.write_router_config(
        tmp_path / "router.json",
        local.router_config([local.variant("stable", "1.0", torchserve.inference_url, weight=100)]),
    )
    router = local.Router(config_file=path, keep_logs=True).start()
    try:
        router.stop()
        assert router.returncode == 0
        assert "stopped" in router.log_tail()
    finally:
        router.keep_logs = False
        router.stop()


def test_promtool_accepts_router_and_torchserve_metrics(torchserve: local.TorchServe, start_router: StartRouter,
                                                        pngs: list[tuple[bytes, int]]) -> None:  # fmt: skip
    router = start_router(
        [
            local.variant("stable", "1.0", torchserve.inference_url, weight=50),
            local.variant("candidate", "3.0", torchserve.inference_url, weight=50),
        ],
        shadow={"variant": "candidate", "percent": 50},
    )
    post_many(router.url + "/predictions/digits", [png for png, _ in pngs[:50]] + [b"not an image"])
    comparisons(router, expected=1)
    router_check = _promtool(router.metrics_text())
    assert router_check.returncode == 0, router_check.stderr
    # TorchServe's own names break Prometheus conventions (camelCase, counters without _total, microseconds):
    # promtool parses them but reports lint findings (exit 3). Parse errors would exit 1.
    torchserve_check = _promtool(requests.get(torchserve.metrics_url + "/metrics", timeout=10).text)
    assert torchserve_check.returncode in (0, 3), torchserve_check.stderr
    assert "ts_inference_requests_total" in requests.get(torchserve.metrics_url + "/metrics", timeout=10).text


def _promtool(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)


def answer(response: requests.Response) -> dict[str, Any]:
    return dict(response.json())


def _labels(answer: dict[str, Any]) -> list[str]:
    return [entry["label"] for entry in answer["top_k"]]


def _scores(answer: dict[str, Any]) -> list[float]:
    return [entry["score"] for entry in answer["top_k"]]


def test_the_latency_buckets_are_the_ones_the_simulations_use(
    torchserve: local.TorchServe, start_router: StartRouter, pngs: list[tuple[bytes, int]]
) -> None:
    """visionroll_serving.router.series mirrors serving/router/metrics.go for the rollout simulations."""
    router = start_router([local.variant("stable", "1.0", torchserve.inference_url, weight=100)])
    assert requests.post(router.url + "/predictions/digits", data=pngs[0][0], timeout=10).status_code == 200
    samples = metric_samples(router.metrics_text(), "visionroll_router_request_duration_seconds_bucket")
    bounds = [labels["le"] for labels, _ in samples]
    assert [float(b) for b in bounds if b != "+Inf"] == list(LATENCY_BUCKETS)


def test_the_bounded_buffers_fit_the_routers_memory_limit() -> None:
    """Bodies of requests in progress, copies and the answer log at their bounds (the router's defaults, as its --help
    gives them), plus the process (~25 MB at rest, 128 MB allowed here) stay below the memory limit of the
    Deployment the operator writes; the copy bound is well below it."""
    usage = subprocess.run([str(images.router_binary()), "--help"], capture_output=True, text=True, timeout=30).stderr
    flags = re.split(r"^  -", usage, flags=re.MULTILINE)[1:]  # one block per flag: name, type, help, default
    defaults = {b.split()[0]: int(m[1]) for b in flags if (m := re.search(r"\(default (\d+)\)", b))}
    deployment = next(o for o in RouterProvider().objects(_plan()) if o["kind"] == "Deployment")
    limit = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    limit_bytes = int(limit[:-2]) << 20
    worst = defaults["body-bytes"] + defaults["copy-queue-bytes"] + defaults["feedback-bytes"]
    assert worst == (128 + 64 + 64) << 20, defaults
    assert worst + (128 << 20) < limit_bytes
    assert defaults["copy-queue-bytes"] <= limit_bytes // 4


def _plan() -> TrafficPlan:
    def metadata(name: str, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
        return {"name": name, "namespace": "default", "labels": dict(extra_labels or {})}

    def front(selector: dict[str, str], target_port: int | str, metrics_port: int | None = None) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": metadata("digits"), "spec": {"selector": selector}}

    stable = Backend("stable", "1-0-ab12cd", "1.0", "digits-1-0-ab12cd", 8080, 100)
    return TrafficPlan(
        namespace="default", visionmodel="digits", model="digits", backends=(stable,), metadata=metadata,
        front_service=front, mirror_percent=0, router_image="router:test", pod_security_context={},
        container_security_context={},
    )  # fmt: skip

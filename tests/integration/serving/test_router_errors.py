"""Answers that are not served count against the variant that gave them, and only those: the real router in front of
a fake TorchServe on loopback that answers 404 (no such model version) or a handler's 400, scraped by a real
Prometheus, and measured with the analysis's own PromQL (visionroll.metrics.queries)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests

from localkube import local
from localkube.prometheus import Prometheus
from support.http import serving
from visionroll.metrics.queries import render
from visionroll_serving.samples import held_out_pngs

pytestmark = pytest.mark.prometheus

SERVED = json.dumps({"model": "digits", "version": "1.0", "top_k": [{"label": "7", "index": 7, "score": 0.9}]})
# What TorchServe 0.12 answers for a version it does not hold, and what the handler answers to an undecodable body.
NOT_HELD = json.dumps(
    {"code": 404, "type": "ModelNotFoundException", "message": "Model version: 2.0 does not exist for model: digits"}
)
HANDLER_REFUSED = json.dumps({"error": "body is not a decodable image: OSError: truncated", "code": 400})
ANSWERS = {
    "/predictions/digits/1.0": (200, SERVED),
    "/predictions/digits/2.0": (404, NOT_HELD),
    "/predictions/digits/3.0": (400, HANDLER_REFUSED),
}


class FakeTorchServe(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = ANSWERS.get(self.path, (500, '{"code": 500, "message": "unexpected path"}'))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(FakeTorchServe) as url:
        yield url


StartRouter = Callable[[str], tuple[local.Router, str]]


@pytest.fixture
def routed(upstream: str, prometheus: Prometheus, tmp_path: Path) -> Iterator[StartRouter]:
    """routed(candidate_version) -> (a router sending half its traffic to that version and half to 1.0, scraped by
    Prometheus; the visionmodel name it reports, unique to the test)."""
    started: list[local.Router] = []

    def start(candidate_version: str) -> tuple[local.Router, str]:
        visionmodel = f"errors-{uuid.uuid4().hex[:8]}"
        variants = [
            local.variant("stable", "1.0", upstream, weight=50, revision="stable-rev"),
            local.variant("candidate", candidate_version, upstream, weight=50, revision="candidate-rev"),
        ]
        path = local.write_router_config(
            tmp_path / f"{visionmodel}.json", local.router_config(variants, visionmodel=visionmodel)
        )
        router = local.Router(config_file=path)
        started.append(router)
        router.start()
        prometheus.add_scrape_target(f"router-{visionmodel}", f"127.0.0.1:{router.metrics_port}")
        return router, visionmodel

    yield start
    for router in started:
        router.stop()


def _send(router: local.Router, n: int) -> Counter[tuple[str, int]]:
    """n valid digit PNGs; the answers by (variant, status)."""
    pngs = [png for png, _ in held_out_pngs(20)]
    url = router.url + "/predictions/digits"
    answers = [
        requests.post(url, data=pngs[i % len(pngs)], headers={"Content-Type": "image/png"}, timeout=10)
        for i in range(n)
    ]
    return Counter((r.headers["x-visionroll-variant"], r.status_code) for r in answers)


def _client_faults(router: local.Router) -> list[int]:
    """Requests the router refuses itself: an empty body, a body that is no image, bad JSON, an unknown model."""
    url = router.url + "/predictions/digits"
    return [
        requests.post(url, data=b"", timeout=10).status_code,
        requests.post(url, data=b"not an image", headers={"Content-Type": "image/png"}, timeout=10).status_code,
        requests.post(url, json={"image": "***"}, timeout=10).status_code,
        requests.post(router.url + "/predictions/cats", data=held_out_pngs(1)[0][0], timeout=10).status_code,
    ]


def _value(prometheus: Prometheus, query: str) -> float:
    result = prometheus.query(query)
    return float(result[0]["value"][1]) if result else 0.0


def _counted(prometheus: Prometheus, template: str, visionmodel: str, revision: str) -> float:
    """The analysis template's selector over the raw counters: the requests it counts since the router started.
    (`increase()` extrapolates to the window's edges, so it is exact only as a ratio of series scraped together.)"""
    query = render(template, namespace="local", visionmodel=visionmodel, window="5m", revision=revision)
    return _value(prometheus, query.replace("increase(", "(").replace("[5m]", ""))


def _wait_counted(prometheus: Prometheus, visionmodel: str, total: int) -> None:
    """Until Prometheus has scraped `total` requests of the router, all revisions together."""
    every = render("analysis:requests", namespace="local", visionmodel=visionmodel, window="5m", revision=".*")
    raw = every.replace("increase(", "(").replace("[5m]", "")
    prometheus.wait_for(raw, lambda r: bool(r) and float(r[0]["value"][1]) == total, timeout=30)


@pytest.mark.parametrize(
    ("candidate_version", "status"), [("2.0", 404), ("3.0", 400)], ids=["version-not-held-404", "handler-400"]
)
def test_an_answer_that_is_not_served_is_the_candidates_error(
    routed: StartRouter, prometheus: Prometheus, candidate_version: str, status: int
) -> None:
    router, visionmodel = routed(candidate_version)
    # Prometheus counts a series' growth from its first scrape on (a counter's first value is not an increase): a
    # first round creates both variants' series and is scraped before the measured round.
    answers = _send(router, 10)
    while len(answers) < 2 and answers.total() < 200:
        answers += _send(router, 10)
    _wait_counted(prometheus, visionmodel, answers.total())
    answers += _send(router, 60)
    assert set(answers) == {("stable", 200), ("candidate", status)}, answers
    candidate, stable = answers[("candidate", status)], answers[("stable", 200)]
    assert set(_client_faults(router)) == {400, 404}

    # The router's own refusals are in no variant's series: Prometheus sees exactly the forwarded requests.
    _wait_counted(prometheus, visionmodel, answers.total())
    assert _counted(prometheus, "analysis:errors", visionmodel, "candidate-rev") == candidate
    assert _counted(prometheus, "analysis:requests", visionmodel, "candidate-rev") == candidate
    assert _counted(prometheus, "analysis:errors", visionmodel, "stable-rev") == 0
    assert _counted(prometheus, "analysis:requests", visionmodel, "stable-rev") == stable

    # The analysis's own queries, evaluated together: the candidate's error rate is 1, the stable's 0.
    def error_rate(revision: str) -> float:
        errors, every = (
            render(t, namespace="local", visionmodel=visionmodel, window="5m", revision=revision)
            for t in ("analysis:errors", "analysis:requests")
        )
        return _value(prometheus, f"({errors}) / ({every})")

    assert error_rate("candidate-rev") == 1.0
    assert error_rate("stable-rev") == 0.0  # no error series: an empty vector, read as 0

"""The router's requests: POST /predictions/{model} forwarded to one variant (and maybe copied to the other),
POST /feedback for labels that arrive later, health probes, and a separate metrics handler. The HTTP around them is
router/server.py (clients) and router/upstream.py (variants), on one event loop (uvloop) with no thread per request;
mirroring is more tasks on the same loop behind a bounded queue; the router stays free of torch. The per-request
work is a prefix check of the body (router/inputs.py), a request id, a few dict look-ups, one JSON parse of a
~200-byte answer, four metric updates and one entry in the answer log.

Outcomes (docs/contracts.md): what the router refuses itself (no config, unknown model, too large, not an image) is
answered before any variant is picked and recorded in no variant's series; every upstream answer is recorded under
its HTTP status as `code`, and a failed or timed-out connection as `code="error"`. How requests may arrive (deadlines
for head and body, requests in flight) is router/guard.py's; every 503 the router sends carries `Retry-After`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from visionroll_serving.router.answers import TopOne, error_body, top_one
from visionroll_serving.router.config import RouterConfig, Variant
from visionroll_serving.router.copies import CopyJob, CopyQueue
from visionroll_serving.router.feedback import (
    MAX_FEEDBACK_BYTES,
    REQUEST_ID_HEADER,
    AnswerLog,
    FeedbackError,
    parse_feedback,
    request_id,
)
from visionroll_serving.router.guard import JSON, PREDICTIONS, RETRY_AFTER, Admission, error
from visionroll_serving.router.http import Request, Response
from visionroll_serving.router.inputs import refusal
from visionroll_serving.router.metrics import UNREACHABLE, RouterMetrics, VariantSeries
from visionroll_serving.router.routing import Picker
from visionroll_serving.router.upstream import ConnectFailed, UpstreamError, Upstreams

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 3  # connections tried per request to a variant (a refused one never reached a pod)
CONNECT_RETRY_DELAY = 0.05  # seconds before the second attempt, twice that before the third
VARIANT_HEADER = "x-visionroll-variant"
REVISION_HEADER = "x-visionroll-revision"
REQUEST_ID_KEY = REQUEST_ID_HEADER.lower()  # request header names arrive lower-cased (router/http.py)


@dataclass(frozen=True)
class Settings:
    """The router's settings, defaults here only (`__main__` reads them from the command line).

    Memory budget under abuse, kept below the Deployment's 512 Mi limit (operator/visionroll/traffic/router.py; a unit
    test adds it up): bodies of requests in progress (`body_bytes`, 128 MiB), copies (`copy_queue_bytes`, 64 MiB),
    the answer log (`feedback_bytes`, 64 MiB), and the process itself (~70 MB measured, more under 2,000
    connections)."""

    max_body_bytes: int = 1 << 20
    upstream_timeout: float = 10.0
    connect_timeout: float = 2.0
    shadow_queue: int = 1000  # copies (shadow and paired) waiting to be sent
    copy_queue_bytes: int = 64 << 20  # their bodies' bytes, queued and being sent, at most
    copy_timeout: float = 5.0  # a copy's whole round trip at most: a hanging shadow holds a sender this long
    shadow_concurrency: int = 16  # copies in flight
    header_timeout: float = 10.0  # seconds to send a request head, from a connection's start or its previous answer
    body_timeout: float = 10.0  # seconds to send a body once its head is in (1 MiB at >= 100 KiB/s)
    body_bytes: int = 128 << 20  # bodies of requests in progress, by declared size; beyond, 503 + Retry-After
    # Client requests forwarded at once; beyond, 503 + Retry-After. Size it to what the upstreams serve at once
    # (TorchServe's workers x batch size, over the router replicas) times a few: a larger bound lets a flood queue in
    # TorchServe, where every client waits behind it (at 128 per router, 2,000 connections made well-behaved
    # clients wait 4.5 s at p50 on the real node, with 504s), and the router can tell nothing apart there.
    max_in_flight: int = 32
    retry_after: int = 1  # seconds, in the Retry-After of every 503
    # Connections the kernel completes before the router accepts them. 2,000 clients connecting at once overflow a
    # shorter queue, and the kernel then drops their handshakes and retries them after 1, 2, 4, 8 s (a 503 that
    # takes 12 s to arrive was seen at 1,024). Linux caps it at net.core.somaxconn (4096 by default since 5.4).
    listen_backlog: int = 4096
    feedback_ttl: float = 3600.0  # seconds an answer can be labelled
    feedback_entries: int = 200_000  # answers remembered at most
    feedback_bytes: int = 64 << 20  # their memory at most (router/feedback.py's estimate)
    feedback_classes: int = 1000  # distinct true classes counted at most (bounds the series)


class Router:
    """State shared by the handlers: the current config (swapped whole on reload), the pool and the metrics."""

    def __init__(self, settings: Settings, metrics: RouterMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.picker: Picker | None = None
        self.config_origin = ""
        self.draining = False  # set on SIGTERM: /readyz says 503 while the pod leaves its Service's endpoints
        self.upstreams = Upstreams(connect_timeout=settings.connect_timeout)
        self.copies = CopyQueue(
            self._send_copy,
            queue_size=settings.shadow_queue,
            queue_bytes=settings.copy_queue_bytes,
            concurrency=settings.shadow_concurrency,
        )
        self.admission = Admission(
            metrics,
            body_bytes=settings.body_bytes,
            max_body_bytes=settings.max_body_bytes,
            max_in_flight=settings.max_in_flight,
            retry_after=settings.retry_after,
        )
        self._retry_after = {RETRY_AFTER: str(settings.retry_after)}
        self.answers: AnswerLog[VariantSeries] = AnswerLog(
            ttl=settings.feedback_ttl, max_entries=settings.feedback_entries, max_bytes=settings.feedback_bytes
        )
        metrics.answers_remembered.set_function(lambda: len(self.answers))
        metrics.answers_bytes.set_function(lambda: self.answers.bytes)
        metrics.copy_queue_bytes.set_function(lambda: self.copies.bytes)
        metrics.copy_queue_bytes_high_water.set_function(lambda: self.copies.high_water)
        metrics.copy_queue_bytes_limit.set(settings.copy_queue_bytes)

    @property
    def config(self) -> RouterConfig | None:
        return self.picker.config if self.picker else None

    def apply(self, config: RouterConfig, origin: str) -> None:
        if self.picker and self.picker.config == config:
            return
        self.picker = Picker(config)
        self.config_origin = origin
        weights = ", ".join(f"{v.name}={v.weight}%@{v.upstream}" for v in config.variants)
        log.info(
            "routing config from %s applied: %s; shadow=%s paired=%s", origin, weights, config.shadow, config.paired
        )

    async def start(self) -> None:
        self.copies.start()

    async def stop(self) -> None:
        await self.copies.close()
        self.upstreams.close()

    async def handle(self, request: Request) -> Response:
        """Dispatch by method and path."""
        method, path = request.method, request.path
        if path.startswith(PREDICTIONS) and method == "POST":
            model = path[len(PREDICTIONS) :]
            if model and "/" not in model:
                return await self.predict(request, model)
        elif path == "/feedback" and method == "POST":
            return self.feedback(request)
        elif path == "/healthz" and method == "GET":
            return json_response({"status": "ok"})
        elif path == "/readyz" and method == "GET":
            return self.readyz()
        return error(404, f"no route for {method} {path}")

    async def _post(self, url: str, body: bytes, content_type: str, timeout: float) -> tuple[int, bytes, str]:
        """POST to a variant's Service. A connection that could not be made (refused, or not established within the
        connect timeout: a dead pod's address swallows the SYN) is tried again (CONNECT_ATTEMPTS in all):
        the request never reached a pod, and the next connection through the Service may reach another one, e.g.
        while a pod that just died is still one of its endpoints (a chaos run lost 6 requests that way in 3 s)."""
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                return await self.upstreams.post(url, body, content_type, timeout=timeout)
            except ConnectFailed:
                if attempt == CONNECT_ATTEMPTS:
                    raise
                await asyncio.sleep(CONNECT_RETRY_DELAY * attempt)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def predict(self, request: Request, model: str) -> Response:
        rid = request_id(request.headers.get(REQUEST_ID_KEY))
        own = {REQUEST_ID_HEADER: rid}
        picker = self.picker
        if picker is None:
            return error(503, "no valid routing config loaded yet", {**own, **self._retry_after})
        config = picker.config
        if model != config.model:
            return error(404, f"unknown model {model!r}; this router serves {config.model!r}", own)
        body = request.body  # whole, in time and within the limit (router/server.py)
        content_type = request.headers.get("content-type", "application/octet-stream")
        # A client fault the router can see is its own 400, counted against no variant (router/inputs.py).
        if (reason := refusal(body, content_type)) is not None:
            return error(400, reason, own)
        admission = self.admission
        client = request.client
        if (refused := admission.admit(client, own)) is not None:
            return refused
        sticky = request.headers.get(config.sticky_header) if config.sticky_header else None
        route = picker.route(
            draw=random.random(), mirror_draw=random.random(), paired_draw=random.random(), sticky=sticky
        )
        live = route.live
        series = self.metrics.series(config, live, "live")
        url = f"{live.upstream}/predictions/{config.model}/{live.version}"
        headers = {VARIANT_HEADER: live.name, REVISION_HEADER: live.revision, REQUEST_ID_HEADER: rid}
        live_top: asyncio.Future[TopOne | None] | None = None
        if route.shadow is not None:
            live_top = asyncio.get_running_loop().create_future()
            self.copies.offer(self._copy(config, live, route.shadow, "shadow", body, content_type, live_top))
        top: TopOne | None = None
        concluded = False  # the live variant answered or failed (not: the client went away first)
        started = time.perf_counter()
        try:
            status, payload, answer_type = await self._post(url, body, content_type, self.settings.upstream_timeout)
        except TimeoutError:
            concluded = True
            series.observe(UNREACHABLE, time.perf_counter() - started)
            return error(504, f"upstream {live.name} timed out", headers)
        except (UpstreamError, OSError) as exc:
            concluded = True
            series.observe(UNREACHABLE, time.perf_counter() - started)
            return error(502, f"upstream {live.name} failed: {exc.__class__.__name__}: {exc}", headers)
        else:
            concluded = True
            elapsed = time.perf_counter() - started
            top = top_one(payload) if status == 200 else None
            series.observe(str(status), elapsed, top)
            if top is not None:
                self.answers.remember(rid, series, top.label)
            if status >= 300 and (rewritten := error_body(status, payload, live.name)) is not None:
                payload, answer_type = rewritten, "application/json"
            if status == 503:  # e.g. TorchServe's job queue is full
                headers.update(self._retry_after)
            headers["Content-Type"] = answer_type
            return Response(status, payload, headers)
        finally:  # also when the client went away and the handler was cancelled
            admission.release(client)
            if live_top is not None:
                live_top.set_result(top)
            # The paired copy leaves once the live answer is in: it never competes with the request it copies. A
            # stable answer without a top-1 has nothing to be compared with, and a request the client abandoned
            # says nothing about the candidate, so neither is copied.
            paired = route.paired
            if paired is not None and concluded and (top is not None or paired.name == "stable"):
                answered = asyncio.get_running_loop().create_future()
                answered.set_result(top)
                self.copies.offer(self._copy(config, live, paired, "paired", body, content_type, answered))

    def _copy(
        self,
        config: RouterConfig,
        live: Variant,
        to: Variant,
        traffic: str,
        body: bytes,
        content_type: str,
        live_top: asyncio.Future[TopOne | None],
    ) -> CopyJob:
        series = self.metrics.series(config, to, traffic)
        copy_is_stable = to.name == "stable"
        return CopyJob(
            url=f"{to.upstream}/predictions/{config.model}/{to.version}",
            body=body,
            content_type=content_type,
            live=live_top,
            series=series,
            # Comparisons sit on the candidate's labels, whichever side the copy went to.
            comparisons=self.metrics.series(config, live, traffic) if copy_is_stable else series,
            copy_is_stable=copy_is_stable,
        )

    async def _send_copy(self, job: CopyJob) -> TopOne | None:
        started = time.perf_counter()
        try:
            status, payload, _ = await self._post(job.url, job.body, job.content_type, self.settings.copy_timeout)
        except (TimeoutError, UpstreamError, OSError) as exc:
            job.series.observe(UNREACHABLE, time.perf_counter() - started)
            log.debug("copy to %s failed: %r", job.url, exc)
            return None
        top = top_one(payload) if status == 200 else None
        job.series.observe(str(status), time.perf_counter() - started, top)
        return top

    def feedback(self, request: Request) -> Response:
        """POST /feedback: a true label for an answered request id (router/feedback.py, docs/contracts.md)."""
        config = self.config
        if config is None:
            return error(503, "no valid routing config loaded yet", self._retry_after)
        metrics = self.metrics
        if len(request.body) > MAX_FEEDBACK_BYTES:
            metrics.feedback_request(config, "malformed")
            return error(413, f"feedback body of {len(request.body)} bytes exceeds {MAX_FEEDBACK_BYTES} bytes")
        try:
            feedback = parse_feedback(request.body)
        except FeedbackError as exc:
            metrics.feedback_request(config, "malformed")
            return error(400, str(exc))
        classes, cap = metrics.feedback_classes, self.settings.feedback_classes
        if feedback.label not in classes and len(classes) >= cap:
            metrics.feedback_request(config, "malformed")
            return error(400, f"label {feedback.label!r} would be a new class beyond the {cap} this router counts")
        answer = self.answers.label(feedback.request_id)
        if answer is None:
            metrics.feedback_request(config, "unknown")
            kept = self.answers
            return error(
                404,
                f"request id {feedback.request_id!r} is unknown or expired: this router remembers the requests it "
                f"answered with a prediction for {kept.ttl:g}s, at most {kept.max_entries} of them",
            )
        if answer.labelled:
            metrics.feedback_request(config, "duplicate")
            return error(409, f"request id {feedback.request_id!r} was labelled already; a label counts once")
        if feedback.label not in classes:
            metrics.add_feedback_class(config, feedback.label)
        outcome = "correct" if feedback.label == answer.predicted else "wrong"
        answer.variant.labelled(feedback.label, outcome)
        metrics.feedback_request(config, "counted")
        _, _, variant, revision, _ = answer.variant.labels
        return json_response(
            {"requestId": feedback.request_id, "variant": variant, "revision": revision, "outcome": outcome}
        )

    def readyz(self) -> Response:
        config = self.config
        if self.draining:
            return json_response({"ready": False, "reason": "shutting down"}, status=503)
        if config is None:
            return json_response(
                {"ready": False, "reason": "no valid routing config loaded"}, status=503, headers=self._retry_after
            )
        return json_response(
            {"ready": True, "origin": self.config_origin, "variants": [v.name for v in config.variants]}
        )


def json_response(document: object, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(document).encode(), {**JSON, **headers} if headers else JSON)


def metrics_handler(metrics: RouterMetrics) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics on the metrics port."""

    async def serve(request: Request) -> Response:
        if request.method == "GET" and request.path == "/metrics":
            return Response(200, generate_latest(metrics.registry), {"Content-Type": CONTENT_TYPE_LATEST})
        return error(404, f"no route for {request.method} {request.path}")

    return serve

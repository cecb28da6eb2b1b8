"""How requests may arrive: deadlines for a request's head and body, and a bound on requests in flight, so that a
slow or greedy client costs a bounded share of the router and well-behaved clients keep their latency.

- The head: aiohttp's own `keepalive_timeout` (a server option, set in `__main__`) closes a connection that has not
  sent a whole request head within that time of its start or of its previous answer; an incomplete head gets no
  answer, only the close (nothing can be said to a client whose request is not known).
- The body: `read_body` reads it under a deadline and the size limit; a body that does not arrive in time is a 408,
  one that exceeds the limit (declared or streamed, chunked included) a 413, both with a reason and the connection
  closed. aiohttp's lingering close after such an answer is kept short (`LINGERING_SECONDS`).
- In progress: `Admission` bounds two things, and answers a request beyond either with 503, `Retry-After` and
  `Connection: close` (which sheds the connection too):
  - the bytes of bodies that requests in progress hold or may still receive: each request reserves its declared
    `Content-Length` (the body limit when chunked) before its body is read, until it is answered. This bounds the
    memory of live bodies, and a slow body costs only its own size: 200 slowloris bodies of 100 kB take 20 MB of the
    128 MiB, and small images keep getting in;
  - the requests being forwarded (`max_in_flight`), counted once the body is in, so slow bodies never hold a slot;
    this bounds the upstream connections and the router's work in progress.
  Health probes are always admitted, so an overloaded router is not restarted by its liveness probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from visionroll_serving.router.metrics import RouterMetrics

RETRY_AFTER = "Retry-After"
# After a 408 or 413 aiohttp reads and discards what the client still sends, so the client gets to read the answer,
# for at most this long (its default, 10 s, would give a slow body another 10 s).
LINGERING_SECONDS = 1.0
PROBES = frozenset({"/healthz", "/readyz"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message, "code": status}, status=status, headers=headers)


class BodyRefused(Exception):
    """The body did not arrive whole, in time and within the limit; `answer()` is the client's answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def answer(self, headers: dict[str, str] | None = None) -> web.Response:
        response = error(self.status, self.reason, headers)
        response.force_close()  # the rest of the body (if any) is not worth the connection
        return response


async def read_body(request: web.Request, *, limit: int, seconds: float, metrics: RouterMetrics) -> bytes:
    """The whole body, or BodyRefused (413 over `limit` bytes, 408 when not received within `seconds`).

    `limit` must be the app's `client_max_size`: aiohttp raises at that size while streaming."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyRefused(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyRefused(413, f"request body exceeds the limit of {limit} bytes") from None
    except TimeoutError:
        metrics.refused.labels("body_timeout").inc()
        got = request.content.total_bytes
        of = f" of {declared}" if declared is not None else ""
        raise BodyRefused(
            408, f"request body not received within {seconds:g}s ({got}{of} bytes arrived): send it faster"
        ) from None


class Admission:
    """Bodies of requests in progress within `body_bytes`, at most `max_in_flight` requests forwarded; beyond
    either, 503 with `Retry-After` at once."""

    def __init__(
        self, metrics: RouterMetrics, *, body_bytes: int, max_body_bytes: int, max_in_flight: int, retry_after: int
    ) -> None:
        self.body_bytes = body_bytes
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.retry_after = str(retry_after)
        self.reserved = 0  # bytes reserved by the bodies of requests in progress
        self.in_flight = 0  # requests being forwarded
        self._overloaded = metrics.refused.labels("overloaded")
        metrics.in_flight.set_function(lambda: self.in_flight)
        metrics.body_bytes_reserved.set_function(lambda: self.reserved)

    def overloaded(self, why: str, headers: dict[str, str] | None = None) -> web.Response:
        self._overloaded.inc()
        response = error(
            503, f"router overloaded: {why}; retry later", {**(headers or {}), RETRY_AFTER: self.retry_after}
        )
        response.force_close()
        return response

    def admit(self) -> bool:
        """Takes a forwarding slot (give it back with `release`); False when all are taken."""
        if self.in_flight >= self.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PROBES:
            return await handler(request)
        declared = request.content_length
        # A declared size over the limit reserves only the limit: read_body refuses it (413) without reading.
        size = self.max_body_bytes if declared is None else min(declared, self.max_body_bytes)
        if self.reserved + size > self.body_bytes:
            return self.overloaded(f"bodies in progress hold {self.reserved} bytes of the {self.body_bytes} it takes")
        self.reserved += size
        try:
            return await handler(request)
        finally:
            self.reserved -= size

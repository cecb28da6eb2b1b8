"""How requests may arrive: deadlines for a request's head and body, and a bound on requests in flight, so that a
slow or greedy client costs a bounded share of the router and well-behaved clients keep their latency.

- The head: aiohttp's own `keepalive_timeout` (a server option, set in `__main__`) closes a connection that has not
  sent a whole request head within that time of its start or of its previous answer; an incomplete head gets no
  answer, only the close (nothing can be said to a client whose request is not known).
- The body: `read_body` reads it under a deadline and the size limit; a body that does not arrive in time is a 408,
  one that exceeds the limit (declared or streamed, chunked included) a 413, both with a reason and the connection
  closed. aiohttp's lingering close after such an answer is kept short (`LINGERING_SECONDS`).
- In flight: `Admission` answers a request beyond `max_in_flight` at once with 503, `Retry-After` and
  `Connection: close`, before its body is read: the cheapest answer the router has, and closing sheds the connection
  too. Health probes are always admitted, so an overloaded router is not restarted by its liveness probe.
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
    """At most `max_in_flight` client requests handled at once; the others get 503 with `Retry-After` at once."""

    def __init__(self, metrics: RouterMetrics, *, max_in_flight: int, retry_after: int) -> None:
        self.max_in_flight = max_in_flight
        self.retry_after = str(retry_after)
        self.in_flight = 0
        self._overloaded = metrics.refused.labels("overloaded")
        metrics.in_flight.set_function(lambda: self.in_flight)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PROBES:
            return await handler(request)
        if self.in_flight >= self.max_in_flight:
            self._overloaded.inc()
            response = error(
                503,
                f"router overloaded: {self.in_flight} requests in flight, the most it takes; retry later",
                {RETRY_AFTER: self.retry_after},
            )
            response.force_close()
            return response
        self.in_flight += 1
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1

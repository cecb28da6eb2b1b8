"""How requests may arrive: deadlines for a request's head and body, and a bound on requests in flight, so that a
slow or greedy client costs a bounded share of the router and well-behaved clients keep their latency.

- The head: the server (router/server.py) closes a connection that has not sent a whole request head within
  `header_timeout` of its start or of its previous answer; an incomplete head gets no answer, only the close
  (nothing can be said to a client whose request is not known).
- The body: the server reads it under `body_timeout` and the size limit; a body that does not arrive in time is a
  408 (`body_late`), one that exceeds the limit (declared or streamed, chunked included) a 413 (`too_large`), both
  with a reason and the connection closed. After such an answer the server reads and discards what the client still
  sends for at most `LINGERING_SECONDS`, so that the client gets to read the answer, then closes.
- In progress: `Admission` bounds two things, and answers a request beyond either with 503, `Retry-After` and
  `Connection: close` (which sheds the connection too):
  - the bytes of bodies that requests in progress hold or may still receive: each request reserves its declared
    `Content-Length` (the body limit when chunked) before its body is read, until it is answered. This bounds the
    memory of live bodies, and a slow body costs only its own size: 200 slowloris bodies of 100 kB take 20 MB of the
    128 MiB, and small images keep getting in;
  - the requests being forwarded (`max_in_flight`), counted once the body is in, so slow bodies never hold a slot;
    this bounds the upstream connections and the router's work in progress. A prediction that arrives while every
    slot is taken is refused as soon as its head is in, before its body is read (a flood's refusals then cost the
    router a head's parse each, not a body's copy, a task and the handler).
  Health probes are always admitted, so an overloaded router is not restarted by its liveness probe.
- Shared fairly: once `CONTENDED` (three quarters) of the forwarding slots are taken, a client (the address its
  connection comes from) that already holds its fair share is refused: the slots divided among the clients holding
  any, this one, and one more that may still come. So one client's flood cannot take the slots every other client
  needs, and the last quarter stays for clients that hold less than their share. A single client (every request
  through one ingress pod) gets three quarters of the slots.
"""

from __future__ import annotations

import json

from visionroll_serving.router.http import Response
from visionroll_serving.router.metrics import RouterMetrics

RETRY_AFTER = "Retry-After"
# After an answer that closes the connection the server reads and discards what the client still sends, so the client
# gets to read the answer, for at most this long.
LINGERING_SECONDS = 1.0
PROBES = frozenset({"/healthz", "/readyz"})
PREDICTIONS = "/predictions/"
# The share of the forwarding slots taken from which a client holding its fair share is refused.
CONTENDED = 0.75
JSON = {"Content-Type": "application/json; charset=utf-8"}


def error(status: int, message: str, headers: dict[str, str] | None = None, *, close: bool = False) -> Response:
    body = json.dumps({"error": message, "code": status}).encode()
    return Response(status, body, {**JSON, **headers} if headers else JSON, close=close)


def too_large(limit: int, declared: int | None = None) -> Response:
    """413, closing: the rest of the body (if any) is not worth the connection."""
    if declared is not None:
        return error(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes", close=True)
    return error(413, f"request body exceeds the limit of {limit} bytes", close=True)


def body_late(seconds: float, got: int, declared: int | None) -> Response:
    """408, closing: the body did not arrive within `seconds`."""
    of = f" of {declared}" if declared is not None else ""
    return error(
        408, f"request body not received within {seconds:g}s ({got}{of} bytes arrived): send it faster", close=True
    )


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
        self.held: dict[str, int] = {}  # forwarding slots by client address (those holding any)
        self.contended = max(1, int(CONTENDED * max_in_flight))
        self._overloaded = metrics.refused.labels("overloaded")
        self._body_timeout = metrics.refused.labels("body_timeout")
        metrics.in_flight.set_function(lambda: self.in_flight)
        metrics.body_bytes_reserved.set_function(lambda: self.reserved)

    def overloaded(self, why: str, headers: dict[str, str] | None = None) -> Response:
        self._overloaded.inc()
        return error(
            503,
            f"router overloaded: {why}; retry later",
            {**(headers or {}), RETRY_AFTER: self.retry_after},
            close=True,
        )

    def refusal(self, client: str) -> str | None:
        """Why `client` gets no forwarding slot now, or None when it would get one."""
        if self.in_flight >= self.max_in_flight:
            return f"{self.in_flight} requests are being forwarded, the most it takes"
        if self.in_flight < self.contended:
            return None
        held = self.held.get(client, 0)
        clients = len(self.held) + (0 if held else 1) + 1  # the holders, this client, and one still to come
        share = max(1, self.max_in_flight // clients)
        if held >= share:
            return (
                f"{self.in_flight} of {self.max_in_flight} requests are being forwarded and this client ({client}) "
                f"has {held} of them, its share or more"
            )
        return None

    def admit(self, client: str, headers: dict[str, str] | None = None) -> Response | None:
        """Takes a forwarding slot for `client` (give it back with `release`); else the 503 to answer."""
        if (why := self.refusal(client)) is not None:
            return self.overloaded(why, headers)
        self.in_flight += 1
        self.held[client] = self.held.get(client, 0) + 1
        return None

    def release(self, client: str) -> None:
        self.in_flight -= 1
        held = self.held[client] - 1
        if held:
            self.held[client] = held
        else:
            del self.held[client]

    def reserve(self, path: str, declared: int | None, client: str) -> int | Response:
        """Before a body is read: the bytes reserved for it (give them back with `unreserve`), or the 503 to answer.
        Probes reserve nothing and are always admitted, so an overloaded router is not restarted by its liveness
        probe. A prediction that would get no forwarding slot now is refused before its body is read. A declared
        size over the limit reserves only the limit (the server refuses it with 413 unread)."""
        if path in PROBES:
            return 0
        if path.startswith(PREDICTIONS) and (why := self.refusal(client)) is not None:
            return self.overloaded(why)
        size = self.max_body_bytes if declared is None else min(declared, self.max_body_bytes)
        if self.reserved + size > self.body_bytes:
            return self.overloaded(f"bodies in progress hold {self.reserved} bytes of the {self.body_bytes} it takes")
        self.reserved += size
        return size

    def unreserve(self, size: int) -> None:
        self.reserved -= size

    def body_timed_out(self) -> None:
        self._body_timeout.inc()

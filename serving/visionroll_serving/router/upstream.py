"""The router's client to its variants: POST a body, get (status, body, content type), over keep-alive connections.

One pool of idle connections per upstream (host, port), newest first; a connection idle for longer than
`KEEPALIVE_SECONDS`, or opened more than `MAX_AGE_SECONDS` ago, is closed rather than reused. Upstreams are
Services: each connection is pinned to the pod its first packet went to (kube-proxy's DNAT, kept by conntrack), so a
pod that has left the Service (deleted, scaled down) is still sent requests on connections opened before it left.
Replacing every connection within `MAX_AGE_SECONDS` bounds that: TorchServe pods wait longer than that before they
stop (their preStop, `visionroll.workloads.deployment.PRESTOP_SECONDS`), so no request is sent to one that has begun
to stop, and connections spread over a Service's pods again as they come and go. A request that finds its reused
connection closed before any answer byte (the upstream closed an idle connection) is sent once more on a new one;
the request never reached the model.

Errors: `ConnectFailed` when no connection could be made (refused, unreachable, or not within the connect timeout:
the request never left), `TimeoutError` when the whole round trip took longer than its timeout (the connection is
closed, it may still carry the late answer), `UpstreamError` for anything else (the connection closed mid-answer, an
answer that is not HTTP/1.1).

Written on asyncio protocols because aiohttp's client cost about half of the router's CPU per request
(serving/README.md, "Where the router's time goes").
"""

from __future__ import annotations

import asyncio
import time
from typing import cast
from urllib.parse import urlsplit

from visionroll_serving.router.config import CONNECTION_MAX_AGE_SECONDS
from visionroll_serving.router.http import BadMessage, Chunked, Head, parse_head

KEEPALIVE_SECONDS = 30.0
MAX_AGE_SECONDS = CONNECTION_MAX_AGE_SECONDS  # a new connection every 5 s per one in use: noise next to a request
IDLE_PER_UPSTREAM = 64  # idle connections kept per upstream; more are closed when they come back


class UpstreamError(Exception):
    """The upstream's answer could not be read."""


class ConnectFailed(UpstreamError):
    """No connection to the upstream could be made: the request never left the router."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer: asyncio.Future[tuple[int, bytes, str]] | None = None
        self.head: Head | None = None
        self.chunked: Chunked | None = None
        self.reusable = True
        self.received = False  # any byte of the current answer
        self.idle_since = 0.0
        self.opened = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's subclasses

    def send(self, request: tuple[bytes, bytes]) -> asyncio.Future[tuple[int, bytes, str]]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.head, self.chunked, self.received = None, None, False
        self.transport.writelines(request)
        return self.answer

    def data_received(self, data: bytes) -> None:
        answer = self.answer
        if answer is None or answer.done():  # nothing asked for: not a connection to keep
            self.close()
            return
        self.received = True
        self.buffer += data
        try:
            done = self._parse()
        except BadMessage as exc:
            self.close()
            answer.set_exception(UpstreamError(f"malformed answer: {exc}"))
            return
        if done is not None:
            answer.set_result(done)

    def _parse(self) -> tuple[int, bytes, str] | None:
        head = self.head
        while head is None:
            head = parse_head(self.buffer)
            if head is None:
                return None
            if head.first_line[1] == "100":  # an interim answer; the real one follows
                head = None
        self.head = head
        version, status = head.first_line[0], head.first_line[1]
        if not status.isdigit():
            raise BadMessage(f"status {status!r}")
        if head.chunked:
            chunked = self.chunked = self.chunked or Chunked()
            if not chunked.feed(self.buffer):
                return None
            body = bytes(chunked.body)
        elif head.length is not None:
            if len(self.buffer) < head.length:
                return None
            body = bytes(self.buffer[: head.length])
            del self.buffer[: head.length]
        else:  # the answer ends when the connection does
            self.reusable = False
            return None
        if not head.keep_alive(version) or self.buffer:
            self.reusable = False
        return int(status), body, head.headers.get("content-type", "application/json")

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self.transport = None
        answer = self.answer
        if answer is None or answer.done():
            return
        head = self.head
        if head is not None and head.length is None and not head.chunked:
            body = bytes(self.buffer)
            answer.set_result((int(head.first_line[1]), body, head.headers.get("content-type", "application/json")))
        else:
            answer.set_exception(_Closed(self.received, exc))

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class _Closed(UpstreamError):
    def __init__(self, received: bool, exc: Exception | None) -> None:
        super().__init__(f"connection closed before a whole answer{f' ({exc})' if exc else ''}")
        self.received = received


def _expire(answer: asyncio.Future[tuple[int, bytes, str]]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())


class Upstreams:
    """Keep-alive connections to every upstream, and `post` over them."""

    def __init__(self, *, connect_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._heads: dict[str, tuple[tuple[str, int], bytes]] = {}  # url -> (address, request head start)
        self._busy: set[_Connection] = set()

    def _target(self, url: str) -> tuple[tuple[str, int], bytes]:
        found = self._heads.get(url)
        if found is None:
            parts = urlsplit(url)
            if parts.scheme != "http" or not parts.hostname:
                raise UpstreamError(f"only http:// upstreams are supported, got {url!r}")
            address = (parts.hostname, parts.port or 80)
            start = f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode("latin-1")
            found = self._heads[url] = (address, start)
        return found

    async def post(self, url: str, body: bytes, content_type: str, *, timeout: float) -> tuple[int, bytes, str]:
        """(status, body, content type) of the upstream's answer; raises as the module says."""
        address, start = self._target(url)
        head = b"%sContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (start, content_type.encode("latin-1"), len(body))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            connection, reused = await self._acquire(address, deadline)
            answer = connection.send((head, body))
            timer = loop.call_at(deadline, _expire, answer)
            try:
                result = await answer
            except _Closed as closed:
                if reused and not closed.received:
                    continue  # an idle connection the upstream had closed: the request never reached it
                raise
            except BaseException:
                connection.close()
                raise
            finally:
                timer.cancel()
                self._busy.discard(connection)
            self._release(address, connection)
            return result

    async def _acquire(self, address: tuple[str, int], deadline: float) -> tuple[_Connection, bool]:
        idle = self._idle.get(address)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            fresh = now - connection.idle_since < KEEPALIVE_SECONDS and now - connection.opened < MAX_AGE_SECONDS
            if fresh and connection.reusable and connection.transport is not None:
                self._busy.add(connection)
                return connection, True
            connection.close()
        loop = asyncio.get_running_loop()
        wait = min(self.connect_timeout, max(deadline - loop.time(), 0.0))
        try:
            async with asyncio.timeout(wait):
                _, protocol = await loop.create_connection(_Connection, *address)
        except TimeoutError:
            raise ConnectFailed(f"no connection to {address[0]}:{address[1]} within {wait:.3g}s") from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {address[0]}:{address[1]}: {exc}") from None
        self._busy.add(protocol)
        return protocol, False

    def _release(self, address: tuple[str, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(address, [])
        if not connection.reusable or connection.transport is None or len(idle) >= IDLE_PER_UPSTREAM:
            connection.close()
            return
        connection.answer = None
        connection.idle_since = time.monotonic()
        idle.append(connection)

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        for connection in self._busy:
            connection.close()

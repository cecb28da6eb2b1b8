"""The router's HTTP/1.1 server on asyncio protocols: one connection object per client, which reads a request head
under a deadline, reserves the body's bytes (router/guard.py), reads the body under its own deadline and the size
limit, hands the whole request to the handler and writes its answer as one buffer. Requests on a connection are
answered in order (pipelined ones wait, with reading paused once they hold more than `PIPELINED_BYTES`).

Connections are accepted at most `ACCEPTS_PER_TURN` at a time per turn of the event loop. A burst of new connections
(2,000 at once) then waits in the kernel's listen backlog and is taken a few at a time between the work of the
connections already open, instead of all in one turn: asyncio's own server accepts until the backlog is empty, and
one turn spent accepting, reading and refusing a thousand connections held every other client's request for
hundreds of milliseconds (serving/README.md, "The router under abuse").

An answer that closes the connection (`Connection: close`, a 408, 413 or 503) is followed by a lingering close: the
server shuts its side, reads and drops what the client still sends for at most `LINGERING_SECONDS`, then closes, so
a client still sending its body gets to read the answer instead of a reset.

Written on asyncio protocols (under uvloop) because aiohttp's server and client cost ~1.1 ms of CPU per proxied
request here against ~0.2 ms for nginx (serving/README.md, "Where the router's time goes").
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import cast

from visionroll_serving.router.guard import LINGERING_SECONDS, Admission, body_late, error, too_large
from visionroll_serving.router.http import BadMessage, Chunked, Head, Request, Response, answer_bytes, parse_head

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
PIPELINED_BYTES = 64 << 10
ACCEPTS_PER_TURN = 16
ACCEPT_PAUSE_SECONDS = 0.1  # after an accept that failed (e.g. out of file descriptors), before the next try
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

HEAD, BODY, BUSY, LINGER = "head", "body", "busy", "linger"  # a connection's states


class Server:
    """Listens on one address; `close` stops accepting, lets requests in progress finish, and closes the rest."""

    def __init__(
        self,
        handler: Handler,
        *,
        header_timeout: float,
        body_timeout: float,
        max_body_bytes: int,
        admission: Admission | None = None,
    ) -> None:
        self.handler = handler
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_body_bytes = max_body_bytes
        self.admission = admission
        self.connections: set[_Connection] = set()
        self.draining = False  # set on SIGTERM: every answer closes its connection (router/__main__.py)
        self._socket: socket.socket | None = None
        self._starting: set[asyncio.Task[None]] = set()  # connections being set up (the loop holds tasks weakly)

    async def listen(self, host: str, port: int, *, backlog: int = 100) -> int:
        """Listens (SO_REUSEADDR) and returns the port, the one the kernel chose when `port` is 0."""
        listening = socket.create_server((host, port), backlog=backlog)
        listening.setblocking(False)
        self._socket = listening
        asyncio.get_running_loop().add_reader(listening.fileno(), self._accept, listening)
        return int(listening.getsockname()[1])

    def _accept(self, listening: socket.socket) -> None:
        """Called when connections wait to be accepted; takes at most `ACCEPTS_PER_TURN` (the rest wait for the
        next turn, the listening socket being still readable)."""
        loop = asyncio.get_running_loop()
        for _ in range(ACCEPTS_PER_TURN):
            try:
                client, _ = listening.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. EMFILE: the connection stays in the backlog; pause rather than spin
                log.warning("accepting a connection failed (%s): accepting again in %gs", exc, ACCEPT_PAUSE_SECONDS)
                loop.remove_reader(listening.fileno())
                loop.call_later(ACCEPT_PAUSE_SECONDS, self._resume, listening)
                return
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(self._serve(client))
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    def _resume(self, listening: socket.socket) -> None:
        if self._socket is listening:  # not closed meanwhile
            asyncio.get_running_loop().add_reader(listening.fileno(), self._accept, listening)

    async def _serve(self, client: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: _Connection(self), client)
        except OSError:  # the client left before its transport was made
            client.close()

    async def close(self, *, timeout: float) -> None:
        listening = self._socket
        if listening is not None:
            asyncio.get_running_loop().remove_reader(listening.fileno())
            listening.close()
            self._socket = None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for connection in list(self.connections):
                if connection.state != BUSY:
                    connection.close()
            if not self.connections or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.close()


class _Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.state = HEAD
        self.timer: asyncio.TimerHandle | None = None
        self.head: Head | None = None
        self.chunked: Chunked | None = None
        self.reserved = 0
        self.keep_alive = True
        self.paused = False
        self.task: asyncio.Task[None] | None = None
        self.client = ""  # the peer's address

    # asyncio's callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's subclasses
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if peer else ""
        self.server.connections.add(self)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self.state == LINGER:
            return
        self.buffer += data
        if self.state == BUSY:
            if len(self.buffer) > PIPELINED_BYTES and self.transport is not None:
                self.transport.pause_reading()
                self.paused = True
            return
        self._advance()

    def eof_received(self) -> bool:
        # A client may shut its side once its request is sent: keep the connection to answer it, then close.
        self.keep_alive = False
        return self.state == BUSY

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._cancel_timer()
        self._unreserve()
        self.server.connections.discard(self)

    # the request's way through

    def _await_head(self) -> None:
        self.state = HEAD
        self.head, self.chunked = None, None
        self.timer = self.loop.call_later(self.server.header_timeout, self._head_late)
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        if self.buffer:
            self._advance()

    def _advance(self) -> None:
        try:
            if self.state == HEAD:
                head = parse_head(self.buffer)
                if head is None:
                    return
                self._cancel_timer()
                self._start_body(head)
            if self.state == BODY:
                body = self._read_body()
                if body is not None:
                    self._cancel_timer()
                    self._dispatch(body)
        except BadMessage as exc:
            self._answer(error(400, f"bad request: {exc}", close=True))

    def _start_body(self, head: Head) -> None:
        server = self.server
        method, target, version = head.first_line
        if not version.startswith("HTTP/1."):
            raise BadMessage(f"unsupported protocol {version[:20]!r}")
        self.head = head
        self.keep_alive = self.keep_alive and head.keep_alive(version)
        if head.length is not None and head.length > server.max_body_bytes:
            self._answer(too_large(server.max_body_bytes, head.length))
            return
        if server.admission is not None:
            declared = None if head.chunked else head.length
            reserved = server.admission.reserve(target.partition("?")[0], declared, self.client)
            if isinstance(reserved, Response):
                self._answer(reserved)
                return
            self.reserved = reserved
        self.state = BODY
        if head.chunked:
            self.chunked = Chunked()
        if (head.chunked or head.length) and head.headers.get("expect", "").lower() == "100-continue":
            assert self.transport is not None
            self.transport.write(CONTINUE)
        self.timer = self.loop.call_later(server.body_timeout, self._body_late)

    def _read_body(self) -> bytes | None:
        head, buffer = self.head, self.buffer
        assert head is not None
        if self.chunked is not None:
            done = self.chunked.feed(buffer)
            if len(self.chunked.body) > self.server.max_body_bytes:
                self._answer(too_large(self.server.max_body_bytes))
                return None
            return bytes(self.chunked.body) if done else None
        length = head.length or 0
        if len(buffer) < length:
            return None
        body = bytes(buffer[:length])
        del buffer[:length]
        return body

    def _dispatch(self, body: bytes) -> None:
        head = self.head
        assert head is not None
        self.state = BUSY
        method, target, _ = head.first_line
        request = Request(method, target.partition("?")[0], head.headers, body, self.client)
        self.task = self.loop.create_task(self._handle(request))

    async def _handle(self, request: Request) -> None:
        try:
            response = await self.server.handler(request)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            response = error(500, "the router failed on this request (its log says why)")
        self._unreserve()
        self._answer(response)

    def _answer(self, response: Response) -> None:
        self._cancel_timer()
        self._unreserve()
        transport = self.transport
        if transport is None or self.state == LINGER:
            return
        close = response.close or not self.keep_alive or self.server.draining
        transport.write(answer_bytes(response, close=close))
        if close:
            self._linger()
        else:
            self._await_head()

    def _linger(self) -> None:
        self.state = LINGER
        self.buffer.clear()
        transport = self.transport
        assert transport is not None
        if self.paused:
            transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        self.timer = self.loop.call_later(LINGERING_SECONDS, self.close)

    # deadlines and the end

    def _head_late(self) -> None:
        if self.state == HEAD:
            self.close()

    def _body_late(self) -> None:
        if self.state != BODY:
            return
        head, admission = self.head, self.server.admission
        assert head is not None
        got = len(self.chunked.body) if self.chunked is not None else len(self.buffer)
        if admission is not None:
            admission.body_timed_out()
        self._answer(body_late(self.server.body_timeout, got, head.length))

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _unreserve(self) -> None:
        if self.reserved and self.server.admission is not None:
            self.server.admission.unreserve(self.reserved)
        self.reserved = 0

    def close(self) -> None:
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()

"""The router's server takes new connections a few per turn of the event loop, so a burst of them cannot hold the
requests of connections already open (router/server.py); and a prediction that arrives while every forwarding slot
is taken is refused as soon as its head is in, with 503 and Retry-After, before its body is read
(router/guard.py)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from visionroll_serving.router import server as server_module
from visionroll_serving.router.guard import Admission
from visionroll_serving.router.http import Request, Response
from visionroll_serving.router.metrics import RouterMetrics
from visionroll_serving.router.server import ACCEPTS_PER_TURN, Server


async def _echo(request: Request) -> Response:
    return Response(200, request.body, {"Content-Type": "application/octet-stream"})


def _server(admission: Admission | None = None) -> Server:
    return Server(_echo, header_timeout=5.0, body_timeout=5.0, max_body_bytes=1 << 20, admission=admission)


def test_one_turn_accepts_at_most_a_few_connections() -> None:
    async def scenario() -> list[int]:
        server = _server()
        port = await server.listen("127.0.0.1", 0, backlog=128)
        burst = 2 * ACCEPTS_PER_TURN + 3
        # The kernel completes every handshake into the backlog; nothing is accepted until the loop turns.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(burst)]
        listening = server._socket
        assert listening is not None
        taken = []
        for _ in range(4):  # four turns' worth of accepting, without letting the loop run in between
            server._accept(listening)
            taken.append(len(server._starting))
        await asyncio.sleep(0.2)
        taken.append(len(server.connections))
        for client in clients:
            client.close()
        await server.close(timeout=1.0)
        return taken

    burst = 2 * ACCEPTS_PER_TURN + 3
    assert asyncio.run(scenario()) == [ACCEPTS_PER_TURN, 2 * ACCEPTS_PER_TURN, burst, burst, burst]


def test_a_burst_is_served_whole() -> None:
    """Pacing the accepts loses no connection: every one of a burst far larger than a turn gets its answer."""

    async def scenario() -> set[bytes]:
        server = _server()
        port = await server.listen("127.0.0.1", 0, backlog=512)

        async def one(i: int) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            body = str(i).encode()
            writer.write(b"POST /x HTTP/1.1\r\nHost: r\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await reader.readuntil(b"\r\n\r\n")
            answer = await reader.readexactly(len(body))
            writer.close()
            return answer

        answers = await asyncio.gather(*(one(i) for i in range(300)))
        await server.close(timeout=1.0)
        return set(answers)

    assert asyncio.run(scenario()) == {str(i).encode() for i in range(300)}


def test_a_prediction_is_refused_at_its_head_while_every_slot_is_taken() -> None:
    async def scenario() -> bytes:
        metrics = RouterMetrics()
        admission = Admission(metrics, body_bytes=1 << 20, max_body_bytes=1 << 20, max_in_flight=1, retry_after=1)
        assert admission.admit("10.0.0.9") is None  # the one slot is taken
        server = _server(admission)
        port = await server.listen("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # A head that promises a body it never sends: the answer cannot wait for the body.
        writer.write(b"POST /predictions/digits HTTP/1.1\r\nHost: r\r\nContent-Length: 1000\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(65536), 2.0)
        writer.close()
        await server.close(timeout=1.0)
        return answer

    answer = asyncio.run(scenario())
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"\r\nRetry-After: 1\r\n" in answer
    assert b"1 requests are being forwarded, the most it takes" in answer


class _FailingListener:
    """Stands in for a listening socket whose accept fails (out of file descriptors)."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.accepts = 0

    def fileno(self) -> int:
        return self.real.fileno()

    def accept(self) -> tuple[socket.socket, object]:
        self.accepts += 1
        raise OSError(24, "Too many open files")


def test_a_failing_accept_pauses_accepting_instead_of_spinning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "ACCEPT_PAUSE_SECONDS", 0.5)

    async def scenario() -> tuple[int, int]:
        server = _server()
        port = await server.listen("127.0.0.1", 0)
        real = server._socket
        assert real is not None
        loop = asyncio.get_running_loop()
        failing = _FailingListener(real)
        loop.remove_reader(real.fileno())
        server._socket = failing  # type: ignore[assignment]
        loop.add_reader(real.fileno(), server._accept, failing)
        client = socket.create_connection(("127.0.0.1", port))  # makes the listener readable
        await asyncio.sleep(0.2)
        paused = failing.accepts  # one failed accept, then no more while paused
        await asyncio.sleep(0.5)
        resumed = failing.accepts  # the pause ended: tried again (and failed again)
        client.close()
        loop.remove_reader(real.fileno())
        server._socket = real
        await server.close(timeout=1.0)
        return paused, resumed

    paused, resumed = asyncio.run(scenario())
    assert paused == 1
    assert resumed == 2

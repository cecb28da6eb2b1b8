"""The router's own HTTP/1.1: heads and chunked bodies parsed from a buffer (router/http.py), and the upstream client
(router/upstream.py) against small servers on loopback: keep-alive reuse, chunked answers, an idle connection the
upstream closed, a refused connection, a timeout."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from visionroll_serving.router.http import BadMessage, Chunked, parse_head
from visionroll_serving.router.upstream import ConnectFailed, Upstreams

HEAD = b"POST /predictions/digits HTTP/1.1\r\nHost: r\r\nContent-Type: image/png\r\nX-Request-Id: AbC\r\n"


def test_a_head_is_parsed_once_whole_and_taken_from_the_buffer() -> None:
    buffer = bytearray(HEAD)
    assert parse_head(buffer) is None
    buffer += b"Content-Length: 3\r\n\r\nabc"
    head = parse_head(buffer)
    assert head is not None
    assert head.first_line == ("POST", "/predictions/digits", "HTTP/1.1")
    assert head.headers["x-request-id"] == "AbC"  # names lower-cased, values as sent
    assert (head.length, head.chunked, head.keep_alive("HTTP/1.1")) == (3, False, True)
    assert buffer == b"abc"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (b"Content-Length: 3\r\nContent-Length: 4\r\n", "more than one"),
        (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "both"),
        (b"Transfer-Encoding: gzip\r\n", "unsupported"),
        (b"Content-Length: -1\r\n", "malformed Content-Length"),
        (b"no colon here\r\n", "no colon"),
    ],
)
def test_a_head_that_could_frame_the_body_two_ways_is_refused(extra: bytes, reason: str) -> None:
    with pytest.raises(BadMessage, match=reason):
        parse_head(bytearray(HEAD + extra + b"\r\n"))


def test_a_head_that_never_ends_is_refused_at_its_limit() -> None:
    with pytest.raises(BadMessage, match="longer than"):
        parse_head(bytearray(HEAD + b"X-Pad: " + b"a" * (20 << 10)))


def test_a_chunked_body_is_decoded_as_it_arrives() -> None:
    chunked, buffer = Chunked(), bytearray()
    pieces = [b"4\r\nWi", b"ki\r\n5;ext=1\r\npedia\r\n", b"0\r\nTrailer: x\r\n", b"\r\nnext"]
    done = []
    for piece in pieces:
        buffer += piece
        done.append(chunked.feed(buffer))
    assert done == [False, False, False, True]
    assert chunked.body == b"Wikipedia"
    assert buffer == b"next"  # what follows the body stays for the next message


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


def _run(serve: Serve, scenario: Callable[[str, Upstreams], Awaitable[None]]) -> None:
    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        upstreams = Upstreams(connect_timeout=1.0)
        try:
            await scenario(f"http://127.0.0.1:{port}/predictions/m/1.0", upstreams)
        finally:
            upstreams.close()
            server.close()

    asyncio.run(main())


def test_keep_alive_connections_are_reused_and_chunked_answers_read() -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while body := await _read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))

    async def scenario(url: str, upstreams: Upstreams) -> None:
        for body in (b"one", b"two", b"three"):
            assert await upstreams.post(url, body, "image/png", timeout=5) == (200, body, "text/plain")

    _run(serve, scenario)
    assert connections == 1


def test_an_idle_connection_the_upstream_closed_is_replaced_and_the_request_sent_again() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # answers one request per connection, without saying so

    async def scenario(url: str, upstreams: Upstreams) -> None:
        for _ in range(3):
            assert await upstreams.post(url, b"x", "image/png", timeout=5) == (200, b"ok", "application/json")
            await asyncio.sleep(0.05)

    _run(serve, scenario)


def test_a_refused_connection_is_connect_failed_and_a_slow_answer_a_timeout() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async def scenario(url: str, upstreams: Upstreams) -> None:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            closed_port = unused.getsockname()[1]
        with pytest.raises(ConnectFailed):
            await upstreams.post(f"http://127.0.0.1:{closed_port}/p", b"x", "image/png", timeout=5)
        with pytest.raises(TimeoutError):
            await upstreams.post(url, b"x", "image/png", timeout=0.2)

    _run(serve, scenario)

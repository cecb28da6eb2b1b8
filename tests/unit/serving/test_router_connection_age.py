"""The router replaces each upstream connection within its maximum age, so a pod that has left a Service is sent
nothing new on connections opened before it left (TorchServe pods wait longer than that before they stop:
tests/unit/workloads/test_deployment.py)."""

from __future__ import annotations

import asyncio

from visionroll_serving.router import upstream
from visionroll_serving.router.config import CONNECTION_MAX_AGE_SECONDS

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


async def _posts(max_age: float, pause: float) -> int:
    """Three requests to a loopback keep-alive server, `pause` seconds apart; returns the connections it accepted."""
    accepted = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(1)  # the one-byte body
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            writer.write(ANSWER)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = upstream.Upstreams(connect_timeout=2.0)
    old = upstream.MAX_AGE_SECONDS
    upstream.MAX_AGE_SECONDS = max_age
    try:
        for _ in range(3):
            status, body, _ = await pool.post(f"http://127.0.0.1:{port}/p", b"x", "image/png", timeout=5.0)
            assert (status, body) == (200, b"{}")
            await asyncio.sleep(pause)
    finally:
        upstream.MAX_AGE_SECONDS = old
        pool.close()
        server.close()
        await server.wait_closed()
    return accepted


def test_a_young_connection_is_reused() -> None:
    assert asyncio.run(_posts(max_age=60.0, pause=0.05)) == 1


def test_a_connection_past_its_age_is_replaced() -> None:
    assert asyncio.run(_posts(max_age=0.1, pause=0.15)) == 3


def test_the_router_uses_the_contracts_age() -> None:
    assert upstream.MAX_AGE_SECONDS == CONNECTION_MAX_AGE_SECONDS

"""A connection to a variant that cannot be made is tried again: the request never reached a pod, and through a
Service the next connection may reach another one (a pod that just died stays an endpoint for a second or two)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from visionroll_serving.router import app as router_app


class _Answer:
    status = 200
    headers = {"Content-Type": "application/json"}

    async def read(self) -> bytes:
        return b'{"1": 0.9}'

    async def __aenter__(self) -> _Answer:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


class _Session:
    """Refuses the first `refusals` connections, then answers."""

    def __init__(self, refusals: int, timeouts: bool = False) -> None:
        self.refusals, self.calls, self.timeouts = refusals, 0, timeouts

    def post(self, url: str, **_: Any) -> _Answer:
        self.calls += 1
        if self.calls <= self.refusals and self.timeouts:
            raise aiohttp.ConnectionTimeoutError("Connection timeout to host http://pod:8080")
        if self.calls <= self.refusals:
            key = aiohttp.client_reqrep.ConnectionKey("pod", 8080, False, True, None, None, None)
            raise aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))
        return _Answer()


def _router(session: _Session) -> router_app.Router:
    router = router_app.Router.__new__(router_app.Router)
    router._session = session  # type: ignore[assignment]
    return router


@pytest.mark.parametrize("refusals", [0, 1, router_app.CONNECT_ATTEMPTS - 1])
def test_a_refused_connection_is_tried_again(refusals: int) -> None:
    session = _Session(refusals)
    status, body, _ = asyncio.run(_router(session)._post("http://svc/predictions/m", b"x", "image/png", None))  # type: ignore[arg-type]
    assert (status, body, session.calls) == (200, b'{"1": 0.9}', refusals + 1)


def test_after_the_last_attempt_the_connection_error_is_the_answer() -> None:
    session = _Session(router_app.CONNECT_ATTEMPTS)
    with pytest.raises(aiohttp.ClientConnectorError):
        asyncio.run(_router(session)._post("http://svc/predictions/m", b"x", "image/png", None))  # type: ignore[arg-type]
    assert session.calls == router_app.CONNECT_ATTEMPTS


def test_a_connection_not_made_within_the_connect_timeout_is_tried_again() -> None:
    """A SIGKILLed pod's address swallows the SYN until its endpoint is gone: the request never left the router."""
    session = _Session(1, timeouts=True)
    status, _, _ = asyncio.run(_router(session)._post("http://svc/predictions/m", b"x", "image/png", None))  # type: ignore[arg-type]
    assert (status, session.calls) == (200, 2)

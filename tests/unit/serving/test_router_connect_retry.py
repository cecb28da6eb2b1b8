"""A connection to a variant that cannot be made is tried again: the request never reached a pod, and through a
Service the next connection may reach another one (a pod that just died stays an endpoint for a second or two)."""

from __future__ import annotations

import asyncio

import pytest

from visionroll_serving.router import app as router_app
from visionroll_serving.router.upstream import ConnectFailed

ANSWER = (200, b'{"1": 0.9}', "application/json")


class _Upstreams:
    """Fails the first `refusals` connections (refused, or not made within the connect timeout), then answers."""

    def __init__(self, refusals: int) -> None:
        self.refusals, self.calls = refusals, 0

    async def post(self, url: str, body: bytes, content_type: str, *, timeout: float) -> tuple[int, bytes, str]:
        self.calls += 1
        if self.calls <= self.refusals:
            raise ConnectFailed("cannot connect to pod:8080: [Errno 111] Connection refused")
        return ANSWER


def _router(upstreams: _Upstreams) -> router_app.Router:
    router = router_app.Router.__new__(router_app.Router)
    router.upstreams = upstreams  # type: ignore[assignment]
    return router


@pytest.mark.parametrize("refusals", [0, 1, router_app.CONNECT_ATTEMPTS - 1])
def test_a_connection_not_made_is_tried_again(refusals: int) -> None:
    upstreams = _Upstreams(refusals)
    answer = asyncio.run(_router(upstreams)._post("http://svc/predictions/m", b"x", "image/png", 1.0))
    assert (answer, upstreams.calls) == (ANSWER, refusals + 1)


def test_after_the_last_attempt_the_connection_error_is_the_answer() -> None:
    upstreams = _Upstreams(router_app.CONNECT_ATTEMPTS)
    with pytest.raises(ConnectFailed):
        asyncio.run(_router(upstreams)._post("http://svc/predictions/m", b"x", "image/png", 1.0))
    assert upstreams.calls == router_app.CONNECT_ATTEMPTS

"""Shadow mirroring: a bounded queue and a fixed number of senders, so a slow or dead shadow costs the client
nothing but one `put_nowait`. A full queue drops the copy and counts it; a shadow that fails counts as `error`.

The copy is offered before the live request is sent, so the shadow's inference runs beside the live one (as nginx's
`mirror` does) instead of landing on the upstreams while the next client request is being served. The live top-1
reaches the sender through a future that the live request resolves when its answer (or failure) is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from visionroll_serving.router.answers import TopOne
from visionroll_serving.router.metrics import VariantSeries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowJob:
    url: str
    body: bytes
    content_type: str
    live: asyncio.Future[TopOne | None]  # the live answer's top-1; None when the live request failed
    series: VariantSeries


Sender = Callable[[ShadowJob], Awaitable[TopOne | None]]  # the shadow's top-1; None when it gave none


class ShadowMirror:
    def __init__(self, send: Sender, *, queue_size: int = 1000, concurrency: int = 16) -> None:
        self._send = send
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(maxsize=queue_size)
        self._concurrency = concurrency
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work(), name=f"shadow-{i}") for i in range(self._concurrency)]

    def offer(self, job: ShadowJob) -> bool:
        """Queues a copy without waiting; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(job)
            return True
        except asyncio.QueueFull:
            job.series.dropped("queue_full")
            return False

    async def close(self, *, drain_seconds: float = 2.0) -> None:
        """Gives queued copies a short while to finish, then cancels the senders; leftovers count as dropped."""
        deadline = time.monotonic() + drain_seconds
        while self._queue.qsize() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        while not self._queue.empty():
            self._queue.get_nowait().series.dropped("shutdown")

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                shadow = await self._send(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # a shadow must never take the router down
                log.exception("shadow request to %s failed unexpectedly", job.url)
                shadow = None
            # Compared once the live answer is known too; the sender does not wait for it.
            job.live.add_done_callback(functools.partial(_record, job.series, shadow))


def _record(series: VariantSeries, shadow: TopOne | None, live: asyncio.Future[TopOne | None]) -> None:
    # The live request always sets a result (never cancels the future), so result() cannot raise here.
    top = live.result()
    if top is not None:  # no comparison when the live request itself failed
        series.compared(_compare(top, shadow))


def _compare(live: TopOne, shadow: TopOne | None) -> str:
    if shadow is None:
        return "error"
    return "agree" if shadow.label == live.label else "disagree"

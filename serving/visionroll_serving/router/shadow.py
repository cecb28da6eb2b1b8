"""Shadow mirroring: a bounded queue and a fixed number of senders, so a slow or dead shadow costs the client
nothing but one `put_nowait`. A full queue drops the copy and counts it; a shadow that fails counts as `error`.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    live: TopOne | None  # the live answer's top-1; None when the live request failed
    series: VariantSeries


@dataclass(frozen=True)
class UpstreamAnswer:
    code: str  # HTTP status, or "error" when there was none
    top: TopOne | None


Sender = Callable[[ShadowJob], Awaitable[UpstreamAnswer]]


class ShadowMirror:
    def __init__(self, send: Sender, *, queue_size: int = 1000, concurrency: int = 16) -> None:
        self._send = send
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(maxsize=queue_size)
        self._concurrency = concurrency
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work(), name=f"shadow-{i}") for i in range(self._concurrency)]

    def offer(self, job: ShadowJob) -> bool:
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
                answer = await self._send(job)
                if job.live is not None:
                    job.series.compared(_compare(job.live, answer))
            except asyncio.CancelledError:
                raise
            except Exception:  # a shadow must never take the router down
                log.exception("shadow request to %s failed unexpectedly", job.url)
                if job.live is not None:
                    job.series.compared("error")


def _compare(live: TopOne, answer: UpstreamAnswer) -> str:
    if answer.top is None:
        return "error"
    return "agree" if answer.top.label == live.label else "disagree"

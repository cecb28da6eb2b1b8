"""Copies of a client's request sent to the other variant, and the comparison of the two top-1 answers: a bounded
queue and a fixed number of senders, so a slow or dead variant costs the client nothing but one `put_nowait`. The
queue is bounded twice: by copies, and by the bytes of the bodies it holds (queued and being sent), which is what
bounds the router's memory when a shadow hangs and 1 MiB bodies pile up. A copy that would pass either bound is
dropped and counted (`reason="queue_full"`); the most bytes ever held is kept as a high-water mark for the metrics.

Two kinds, told apart by the `traffic` label of their series:

- `shadow`: a mirror to the shadow variant, queued before the live request is sent, so the shadow's inference runs
  beside the live one (as nginx's `mirror` does) instead of landing on the upstreams while the next client request
  is being served;
- `paired`: on canary and split, a copy of a request that one variant answered, queued once the live answer is in,
  so it never competes with the live request it copies.

Either way the live top-1 reaches the sender through a future that the live request resolves. The comparison is by
role, whichever answer was live: it counts only when stable gave a top-1, and is `agree`, `disagree`, or `error`
when the candidate gave none. It is recorded on the candidate's labels under the copy's `traffic`, so the agreement
of a candidate is one series whatever the strategy.
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
class CopyJob:
    url: str
    body: bytes
    content_type: str
    live: asyncio.Future[TopOne | None]  # the live answer's top-1; None when the live request gave none
    series: VariantSeries  # the copy's own request is recorded here: its variant, traffic shadow|paired
    comparisons: VariantSeries  # the candidate's series of the same traffic: the comparison is recorded here
    copy_is_stable: bool = False  # True when the copy goes to stable (a paired copy of a candidate answer)


Sender = Callable[[CopyJob], Awaitable[TopOne | None]]  # the copy's top-1; None when it gave none


class CopyQueue:
    def __init__(
        self, send: Sender, *, queue_size: int = 1000, queue_bytes: int = 64 << 20, concurrency: int = 16
    ) -> None:
        self._send = send
        self._queue: asyncio.Queue[CopyJob] = asyncio.Queue(maxsize=queue_size)
        self.max_bytes = queue_bytes
        self.bytes = 0  # bodies held by copies: queued, and being sent
        self.high_water = 0  # the most `bytes` has been since start
        self._concurrency = concurrency
        self._workers: list[asyncio.Task[None]] = []
        self._closing = False

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work(), name=f"copy-{i}") for i in range(self._concurrency)]

    def offer(self, job: CopyJob) -> bool:
        """Queues a copy without waiting; False (and counted as dropped) when the queue is full, by copies or bytes."""
        size = len(job.body)
        if self.bytes + size > self.max_bytes or self._queue.full():
            job.series.dropped("queue_full")
            return False
        self._queue.put_nowait(job)
        self.bytes += size
        self.high_water = max(self.high_water, self.bytes)
        return True

    async def close(self, *, drain_seconds: float = 2.0) -> None:
        """Gives queued copies a short while to finish, then cancels the senders; leftovers count as dropped."""
        deadline = time.monotonic() + drain_seconds
        while self._queue.qsize() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self._closing = True
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        while not self._queue.empty():
            job = self._queue.get_nowait()
            self.bytes -= len(job.body)
            job.series.dropped("shutdown")

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                copy = await self._send(job)
            except asyncio.CancelledError:
                if self._closing:
                    raise
                # Not ours (a timeout's cancellation that escaped as such): a sender that died here would leave the
                # queue with one sender fewer, for good.
                log.warning("copy to %s was cancelled; the sender goes on", job.url)
                copy = None
            except Exception:  # a copy must never take the router down
                log.exception("copy to %s failed unexpectedly", job.url)
                copy = None
            finally:
                self.bytes -= len(job.body)
            # Compared once the live answer is known too; the sender does not wait for it.
            job.live.add_done_callback(functools.partial(_record, job, copy))


def _record(job: CopyJob, copy: TopOne | None, live: asyncio.Future[TopOne | None]) -> None:
    # The live request always sets a result (never cancels the future), so result() cannot raise here.
    top = live.result()
    stable, candidate = (copy, top) if job.copy_is_stable else (top, copy)
    if (result := compare(stable, candidate)) is not None:
        job.comparisons.compared(result)


def compare(stable: TopOne | None, candidate: TopOne | None) -> str | None:
    """The `result` of one comparison; None (not counted) when stable gave no top-1 to compare with."""
    if stable is None:
        return None
    if candidate is None:
        return "error"
    return "agree" if candidate.label == stable.label else "disagree"

"""Runs reconcile ticks: one at a time per VisionModel, a bounded number at once, and again when due.

Three things start a tick: kopf's change handlers (create / update / resume, with kopf's own retries), a change to an
owned object (a "nudge": coalesced, so a burst of watch events costs one tick), and the schedule (the decision's
`requeue_after`, else the resync period). The schedule is the reason no kopf timer is used: kopf timers put a
finalizer on every VisionModel, and nothing here needs one (owner references clean up).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from visionroll.reconcile import Reconciler, TickResult

log = logging.getLogger(__name__)

Key = tuple[str, str]
NUDGE_DELAY = 2.0  # coalesces the burst of watch events that one tick's applies cause
MAX_ERROR_DELAY = 300.0


class TickRunner:
    def __init__(self, reconciler: Reconciler, *, workers: int, resync_seconds: float) -> None:
        self.reconciler = reconciler
        self.resync_seconds = resync_seconds
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._locks: dict[Key, asyncio.Lock] = {}
        self._timers: dict[Key, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[Key, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def run(self, namespace: str, name: str) -> TickResult:
        """Tick now (waiting for a tick of the same VisionModel in flight); errors propagate to the caller."""
        key = (namespace, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(self._executor, self.reconciler.tick, namespace, name)
            except Exception:
                self._failures[key] = self._failures.get(key, 0) + 1
                self.schedule(key, min(MAX_ERROR_DELAY, 2.0 ** self._failures[key]))
                raise
        self._failures.pop(key, None)
        if result.gone:
            self.forget(namespace, name)
        else:
            self.schedule(key, min(result.requeue_after or self.resync_seconds, self.resync_seconds))
        return result

    def nudge(self, namespace: str, name: str, *, delay: float = NUDGE_DELAY) -> None:
        """Something it owns changed: tick soon."""
        self.schedule((namespace, name), delay)

    def schedule(self, key: Key, delay: float) -> None:
        """Tick `key` after `delay` seconds, unless a tick is already due sooner."""
        if self._closed:
            return
        due = time.monotonic() + max(0.0, delay)
        current = self._timers.get(key)
        if current is not None:
            if current[0] <= due:
                return
            current[1].cancel()
        handle = asyncio.get_running_loop().call_later(max(0.0, delay), self._fire, key)
        self._timers[key] = (due, handle)

    def forget(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[1].cancel()
        self._failures.pop(key, None)
        lock = self._locks.get(key)
        if lock is not None and not lock.locked():
            del self._locks[key]

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        task = asyncio.get_running_loop().create_task(self._scheduled(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _scheduled(self, key: Key) -> None:
        try:
            await self.run(*key)
        except Exception as exc:  # the schedule retries with backoff; kopf retries only its own handlers
            log.warning("reconcile of %s/%s failed (retrying): %s", key[0], key[1], exc)

    async def close(self) -> None:
        self._closed = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

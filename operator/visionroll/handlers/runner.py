"""Runs reconcile ticks: one at a time per VisionModel, a bounded number at once, and again when due. It is the
operator's one retry loop (kopf's handler retries are not used: a second loop would retry permanent errors too).

Three things start a tick: `changed` (kopf saw the VisionModel created, changed, or present at start-up), `nudge` (an
owned object changed: coalesced, so a burst of watch events costs one tick), and the schedule (the decision's
`requeue_after`, else the resync period; after a transient error, a backoff). The schedule is the reason no kopf timer
is used: kopf timers put a finalizer on every VisionModel, and nothing here needs one (owner references clean up).

A failed tick never escapes: `retry.retry_after` says what follows it. A transient error is retried with a backoff; a
permanent one holds the VisionModel (no schedule, no resync) until it or an object it owns changes (`retry.Holds`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from visionroll.errors import VisionrollError
from visionroll.handlers.retry import Backoff, Holds, retry_after
from visionroll.reconcile import TickResult

log = logging.getLogger(__name__)

Key = tuple[str, str]
NUDGE_DELAY = 2.0  # coalesces the burst of watch events that one tick's applies cause


class Ticker(Protocol):
    """What the runner runs: `reconcile.Reconciler`, or a fake in tests."""

    def tick(self, namespace: str, name: str) -> TickResult: ...


class TickRunner:
    def __init__(
        self, reconciler: Ticker, *, workers: int, resync_seconds: float, backoff: Backoff | None = None
    ) -> None:
        self.reconciler = reconciler
        self.resync_seconds = resync_seconds
        self.backoff = backoff or Backoff()
        self.holds = Holds()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._locks: dict[Key, asyncio.Lock] = {}
        self._timers: dict[Key, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[Key, int] = {}
        self._tasks: set[asyncio.Task[TickResult | None]] = set()
        self._closed = False

    async def changed(self, namespace: str, name: str) -> TickResult | None:
        """The VisionModel was created or changed (or is found at start-up): tick now, whatever held it. Returns
        the tick's result, None when it failed (the failure is handled here: retried or held)."""
        key = (namespace, name)
        self.holds.changed(key)
        return await self._run(key)

    def nudge(self, namespace: str, name: str, *, delay: float = NUDGE_DELAY) -> None:
        """Something it owns changed: tick soon, whatever held it."""
        key = (namespace, name)
        self.holds.changed(key)
        self.schedule(key, delay)

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
        self.holds.forget(key)
        lock = self._locks.get(key)
        if lock is not None and not lock.locked():
            del self._locks[key]

    async def _run(self, key: Key) -> TickResult | None:
        """One tick (after a tick of the same VisionModel in flight), then the next one scheduled or the key held."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            seen = self.holds.changes(key)
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(self._executor, self.reconciler.tick, *key)
            except Exception as exc:
                self._failed(key, exc, seen=seen)
                return None
        self._failures.pop(key, None)
        self.holds.release(key)
        if result.gone:
            self.forget(*key)
        else:
            self.schedule(key, min(result.requeue_after or self.resync_seconds, self.resync_seconds))
        return result

    def _failed(self, key: Key, exc: Exception, *, seen: int) -> None:
        failures = self._failures.get(key, 0) + 1
        delay = retry_after(exc, failures, self.backoff)
        if delay is None:
            self._failures.pop(key, None)
            self.holds.hold(key, seen=seen, reason=str(exc))
            log.warning(
                "reconcile of %s/%s failed permanently (%s); not retried until it or an object it owns changes: %s",
                key[0],
                key[1],
                type(exc).__name__,
                exc,
            )
            return
        self._failures[key] = failures
        self.schedule(key, delay)
        log.warning(
            "reconcile of %s/%s failed (%s, retry %d in %.0f s): %s",
            key[0],
            key[1],
            type(exc).__name__,
            failures,
            delay,
            exc,
            exc_info=not isinstance(exc, VisionrollError),  # an error nobody expected: show where it came from
        )

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        if self.holds.held(key) is not None:
            return  # a resync or requeue due before the permanent error: nothing has changed since
        task = asyncio.get_running_loop().create_task(self._run(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closed = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

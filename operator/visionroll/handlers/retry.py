"""What a failed tick leads to, as plain data: the runner's retry policy, with no clock and no event loop.

A transient error (`errors.TransientError`: the API server busy, a conflict, a timeout), and an exception the operator
did not expect, is tried again after a backoff: 2, 4, 8 … seconds, at most 300. A permanent error
(`errors.PermanentError`: a spec that does not validate, an object the API server refuses, an unknown provider) fails
the same way for the same input. The tick has reported it (Degraded=True with the reason, and an Event), so the
VisionModel is *held*: not ticked again, not even by the resync, until it or an object it owns changes.

`Holds` tells a change that came after the failed tick began from one that came before: each change bumps a
counter, and a hold remembers the counter's value when the tick that failed started. A change that arrives while
that tick is still running therefore releases the hold, and is never lost.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from visionroll.errors import PermanentError


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th consecutive retry: `first` doubled each time, at most `cap` (seconds)."""

    first: float = 2.0
    cap: float = 300.0

    def delay(self, failures: int) -> float:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, got {failures}")
        return float(min(self.cap, self.first * 2.0 ** min(failures - 1, 64)))


def retry_after(error: BaseException, failures: int, backoff: Backoff) -> float | None:
    """Seconds until the next try after `failures` consecutive failures ending in `error`; None: do not retry
    (a permanent error) until something changes."""
    if isinstance(error, PermanentError):
        return None
    return backoff.delay(failures)


@dataclass(frozen=True)
class Hold:
    seen: int
    """The change counter when the tick that failed started."""
    reason: str


class Holds:
    """Which keys are held after a permanent error, and the changes that release them."""

    def __init__(self) -> None:
        self._changes: dict[Hashable, int] = {}
        self._holds: dict[Hashable, Hold] = {}

    def changes(self, key: Hashable) -> int:
        """The change counter, read when a tick starts."""
        return self._changes.get(key, 0)

    def changed(self, key: Hashable) -> None:
        """The VisionModel or an object it owns changed: any hold on it no longer applies."""
        self._changes[key] = self._changes.get(key, 0) + 1

    def hold(self, key: Hashable, *, seen: int, reason: str) -> None:
        """A tick that started at change counter `seen` failed permanently."""
        self._holds[key] = Hold(seen=seen, reason=reason)

    def release(self, key: Hashable) -> None:
        """A tick succeeded."""
        self._holds.pop(key, None)

    def held(self, key: Hashable) -> Hold | None:
        """The hold in force, if nothing changed since the tick that failed started."""
        hold = self._holds.get(key)
        return hold if hold is not None and hold.seen == self.changes(key) else None

    def forget(self, key: Hashable) -> None:
        self._changes.pop(key, None)
        self._holds.pop(key, None)

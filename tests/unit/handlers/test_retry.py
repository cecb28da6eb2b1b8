"""The retry policy as plain data: which errors are retried and when, and what releases a hold."""

from __future__ import annotations

import pytest

from visionroll.errors import ApiRejected, ApiUnavailable, InvalidSpec, TransientError, UnknownProvider
from visionroll.handlers.retry import Backoff, Holds, retry_after
from visionroll.k8s.client import Conflict


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(first=2.0, cap=300.0)
    assert [backoff.delay(n) for n in range(1, 11)] == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff.delay(10_000) == 300  # no overflow however long it fails


def test_backoff_counts_from_the_first_failure() -> None:
    with pytest.raises(ValueError, match="failures must be at least 1"):
        Backoff().delay(0)


@pytest.mark.parametrize(
    "error",
    [ApiUnavailable("503"), TransientError("busy"), Conflict("409"), RuntimeError("a bug"), KeyError("x")],
    ids=lambda e: type(e).__name__,
)
def test_transient_and_unexpected_errors_are_retried_with_backoff(error: Exception) -> None:
    assert retry_after(error, 3, Backoff(first=2.0, cap=300.0)) == 8


@pytest.mark.parametrize(
    "error",
    [InvalidSpec("spec.rollout.strategy: …"), ApiRejected("422 …"), UnknownProvider("mesh")],
    ids=lambda e: type(e).__name__,
)
def test_permanent_errors_are_not_retried(error: Exception) -> None:
    assert retry_after(error, 1, Backoff()) is None


KEY = ("ns", "digits")


def test_a_hold_stands_until_something_changes() -> None:
    holds = Holds()
    holds.hold(KEY, seen=holds.changes(KEY), reason="refused")
    held = holds.held(KEY)
    assert held is not None and held.reason == "refused"
    holds.changed(KEY)
    assert holds.held(KEY) is None


def test_a_change_during_the_failing_tick_releases_its_hold() -> None:
    holds = Holds()
    seen = holds.changes(KEY)  # the tick starts
    holds.changed(KEY)  # an owned object changes while it runs
    holds.hold(KEY, seen=seen, reason="refused")  # then it fails permanently
    assert holds.held(KEY) is None


def test_holds_are_per_visionmodel_and_released_by_success() -> None:
    holds = Holds()
    other = ("ns", "other")
    holds.hold(KEY, seen=0, reason="refused")
    holds.changed(other)
    assert holds.held(KEY) is not None and holds.held(other) is None
    holds.release(KEY)
    assert holds.held(KEY) is None

"""The runner is the one retry loop: transient errors back off, permanent ones hold the VisionModel through the resync
until it (or an object it owns) changes. A fake reconciler plays the ticks; delays are scaled down to milliseconds."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from visionroll.errors import ApiRejected, ApiUnavailable, InvalidSpec
from visionroll.handlers.operator import reconcile_visionmodel
from visionroll.handlers.retry import Backoff
from visionroll.handlers.runner import TickRunner
from visionroll.reconcile import TickResult

NS, NAME = "ns", "digits"
Outcome = TickResult | Exception | Callable[[], TickResult]


class FakeReconciler:
    """Plays `outcomes` in order (the last one repeats): a result, an exception to raise, or a callable."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[float] = []

    def tick(self, namespace: str, name: str) -> TickResult:
        assert (namespace, name) == (NS, NAME)
        self.calls.append(time.monotonic())
        outcome = self.outcomes[min(len(self.calls), len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome() if callable(outcome) else outcome


def scenario(fake: FakeReconciler, body: Callable[[TickRunner], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        runner = TickRunner(
            fake,
            workers=2,
            resync_seconds=options.get("resync", 60.0),
            backoff=Backoff(first=options.get("first", 0.02), cap=options.get("cap", 0.08)),
        )
        try:
            await body(runner)
        finally:
            await runner.close()

    asyncio.run(main())


async def until(fake: FakeReconciler, calls: int, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.calls) < calls:
        assert time.monotonic() < deadline, f"{len(fake.calls)} tick(s), expected {calls}"
        await asyncio.sleep(0.005)


def test_transient_errors_are_retried_with_a_growing_backoff() -> None:
    fake = FakeReconciler(*[ApiUnavailable("503")] * 4, TickResult())

    async def body(runner: TickRunner) -> None:
        assert await runner.changed(NS, NAME) is None  # handled here, not raised to kopf
        await until(fake, 5)
        await asyncio.sleep(0.2)  # success: the next tick is the resync, a minute away
        assert len(fake.calls) == 5

    scenario(fake, body)
    gaps = [b - a for a, b in zip(fake.calls, fake.calls[1:], strict=False)]
    for gap, wanted in zip(gaps, [0.02, 0.04, 0.08, 0.08], strict=True):  # doubled, capped at 0.08
        assert gap >= wanted * 0.9, gaps


def test_a_permanent_error_is_not_retried_by_the_schedule() -> None:
    # The first tick succeeds and schedules a resync; the resync tick is refused by the API server.
    fake = FakeReconciler(TickResult(), ApiRejected("422 Deployment is invalid: spec.template…"))

    async def body(runner: TickRunner) -> None:
        await runner.changed(NS, NAME)
        await until(fake, 2)
        await asyncio.sleep(0.4)  # twenty resync periods, twenty backoffs
        assert len(fake.calls) == 2
        assert runner.holds.held((NS, NAME)) is not None

    scenario(fake, body, resync=0.02)


def test_a_permanent_error_is_retried_after_a_spec_change() -> None:
    fake = FakeReconciler(InvalidSpec("spec.rollout.strategy: …"), InvalidSpec("still"), TickResult())

    async def body(runner: TickRunner) -> None:
        await runner.changed(NS, NAME)
        await asyncio.sleep(0.2)
        assert len(fake.calls) == 1  # held
        assert await runner.changed(NS, NAME) is None  # the spec changed, but is still refused
        await asyncio.sleep(0.2)
        assert len(fake.calls) == 2  # held again
        assert await runner.changed(NS, NAME) == TickResult()  # fixed
        await until(fake, 4)  # and back on the resync schedule

    scenario(fake, body, resync=0.05)


def test_a_permanent_error_is_retried_when_an_owned_object_changes() -> None:
    fake = FakeReconciler(ApiRejected("refused"), TickResult())

    async def body(runner: TickRunner) -> None:
        await runner.changed(NS, NAME)
        await asyncio.sleep(0.1)
        assert len(fake.calls) == 1
        runner.nudge(NS, NAME, delay=0.01)  # e.g. someone deleted its Deployment
        await until(fake, 2)

    scenario(fake, body)


def test_a_change_while_the_failing_tick_runs_is_not_lost() -> None:
    started, finish = threading.Event(), threading.Event()

    def slow_refusal() -> TickResult:
        started.set()
        finish.wait(2)
        raise ApiRejected("refused")

    fake = FakeReconciler(slow_refusal, TickResult())

    async def body(runner: TickRunner) -> None:
        tick = asyncio.ensure_future(runner.changed(NS, NAME))
        while not started.is_set():
            await asyncio.sleep(0.005)
        runner.nudge(NS, NAME, delay=0.05)  # arrives mid-tick; fires after the tick has failed
        finish.set()
        assert await tick is None
        await until(fake, 2)

    scenario(fake, body)


def test_a_change_before_the_failing_tick_does_not_release_it() -> None:
    fake = FakeReconciler(TickResult(), ApiRejected("refused"), TickResult())

    async def body(runner: TickRunner) -> None:
        await runner.changed(NS, NAME)
        runner.nudge(NS, NAME, delay=0.01)  # the nudged tick fails...
        await until(fake, 2)
        await asyncio.sleep(0.2)  # ...and the nudge it ran for does not run it again
        assert len(fake.calls) == 2

    scenario(fake, body, resync=0.03)


def test_the_kopf_handler_never_raises_so_kopf_never_retries() -> None:
    for error in (ApiUnavailable("503"), InvalidSpec("bad"), RuntimeError("a bug")):
        fake = FakeReconciler(error, TickResult())

        async def body(runner: TickRunner) -> None:
            await reconcile_visionmodel(namespace=NS, name=NAME, memo={"runner": runner})

        scenario(fake, body)
        assert len(fake.calls) == 1


def test_a_deleted_visionmodel_is_forgotten() -> None:
    fake = FakeReconciler(TickResult(gone=True))

    async def body(runner: TickRunner) -> None:
        await runner.changed(NS, NAME)
        await asyncio.sleep(0.1)
        assert len(fake.calls) == 1

    scenario(fake, body, resync=0.01)

"""Shadow mirroring never blocks: a full queue drops and counts; results are compared by top-1."""

from __future__ import annotations

import asyncio

from visionroll_serving.router.answers import TopOne
from visionroll_serving.router.config import RouterConfig, Variant
from visionroll_serving.router.metrics import RouterMetrics
from visionroll_serving.router.shadow import ShadowJob, ShadowMirror

CANDIDATE = Variant("candidate", "2-0-x", "2.0", "http://127.0.0.1:1", 0)
CONFIG = RouterConfig("ns", "digits", "digits", (CANDIDATE,))


def sample(metrics: RouterMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(
        name, {"namespace": "ns", "visionmodel": "digits", "variant": "candidate", "revision": "2-0-x",
               "traffic": "shadow", **labels},
    )  # fmt: skip
    return value or 0.0


def done(top: TopOne | None) -> asyncio.Future[TopOne | None]:
    future: asyncio.Future[TopOne | None] = asyncio.get_running_loop().create_future()
    future.set_result(top)
    return future


def test_full_queue_drops_and_answers_are_compared() -> None:
    metrics = RouterMetrics()
    release = asyncio.Event()

    async def send(job: ShadowJob) -> TopOne | None:
        await release.wait()
        return TopOne("7" if job.body == b"same" else "1", 0.9)

    async def scenario() -> None:
        mirror = ShadowMirror(send, queue_size=2, concurrency=1)
        mirror.start()
        series = metrics.series(CONFIG, CANDIDATE, "shadow")
        live = done(TopOne("7", 0.99))
        accepted = [mirror.offer(ShadowJob("u", body, "image/png", live, series)) for body in (b"same", b"other")]
        await asyncio.sleep(0)  # the sender takes the first job and blocks
        accepted += [mirror.offer(ShadowJob("u", b"same", "image/png", live, series)) for _ in range(3)]
        assert accepted == [True, True, True, False, False]
        release.set()
        await mirror.close()

    asyncio.run(scenario())
    assert sample(metrics, "visionroll_router_shadow_dropped_total", reason="queue_full") == 2
    assert sample(metrics, "visionroll_router_shadow_comparisons_total", result="agree") == 2
    assert sample(metrics, "visionroll_router_shadow_comparisons_total", result="disagree") == 1


def test_a_failing_sender_counts_as_error() -> None:
    metrics = RouterMetrics()

    async def send(job: ShadowJob) -> TopOne | None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        mirror = ShadowMirror(send, queue_size=4, concurrency=2)
        mirror.start()
        job = ShadowJob("u", b"x", "image/png", done(TopOne("7", 0.9)), metrics.series(CONFIG, CANDIDATE, "shadow"))
        mirror.offer(job)
        await mirror.close()

    asyncio.run(scenario())
    assert sample(metrics, "visionroll_router_shadow_comparisons_total", result="error") == 1


def test_the_copy_is_sent_before_the_live_answer_and_compared_after_it() -> None:
    """The shadow request does not wait for the live one; a failed live request means no comparison."""
    metrics = RouterMetrics()
    sent: list[bytes] = []

    async def send(job: ShadowJob) -> TopOne | None:
        sent.append(job.body)
        return TopOne("7", 0.9)

    async def scenario() -> None:
        mirror = ShadowMirror(send, queue_size=4, concurrency=2)
        mirror.start()
        series = metrics.series(CONFIG, CANDIDATE, "shadow")
        loop = asyncio.get_running_loop()
        agreeing, failed = loop.create_future(), loop.create_future()
        mirror.offer(ShadowJob("u", b"a", "image/png", agreeing, series))
        mirror.offer(ShadowJob("u", b"b", "image/png", failed, series))
        for _ in range(5):
            await asyncio.sleep(0)
        assert sent == [b"a", b"b"]  # both copies went out while the live answers were still pending
        assert sample(metrics, "visionroll_router_shadow_comparisons_total", result="agree") == 0
        agreeing.set_result(TopOne("7", 0.99))
        failed.set_result(None)
        await asyncio.sleep(0)
        await mirror.close()

    asyncio.run(scenario())
    assert sample(metrics, "visionroll_router_shadow_comparisons_total", result="agree") == 1
    assert (
        sum(sample(metrics, "visionroll_router_shadow_comparisons_total", result=r) for r in ("disagree", "error")) == 0
    )

"""Shadow mirroring never blocks: a full queue drops and counts; results are compared by top-1."""

from __future__ import annotations

import asyncio

from visionroll_serving.router.answers import TopOne
from visionroll_serving.router.config import RouterConfig, Variant
from visionroll_serving.router.metrics import RouterMetrics
from visionroll_serving.router.shadow import ShadowJob, ShadowMirror, UpstreamAnswer

CANDIDATE = Variant("candidate", "2-0-x", "2.0", "http://127.0.0.1:1", 0)
CONFIG = RouterConfig("ns", "digits", "digits", (CANDIDATE,))


def sample(metrics: RouterMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(
        name, {"namespace": "ns", "visionmodel": "digits", "variant": "candidate", "revision": "2-0-x",
               "traffic": "shadow", **labels},
    )  # fmt: skip
    return value or 0.0


def test_full_queue_drops_and_answers_are_compared() -> None:
    metrics = RouterMetrics()
    release = asyncio.Event()

    async def send(job: ShadowJob) -> UpstreamAnswer:
        await release.wait()
        return UpstreamAnswer("200", TopOne("7" if job.body == b"same" else "1", 0.9))

    async def scenario() -> None:
        mirror = ShadowMirror(send, queue_size=2, concurrency=1)
        mirror.start()
        series = metrics.series(CONFIG, CANDIDATE, "shadow")
        live = TopOne("7", 0.99)
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

    async def send(job: ShadowJob) -> UpstreamAnswer:
        raise RuntimeError("boom")

    async def scenario() -> None:
        mirror = ShadowMirror(send, queue_size=4, concurrency=2)
        mirror.start()
        mirror.offer(ShadowJob("u", b"x", "image/png", TopOne("7", 0.9), metrics.series(CONFIG, CANDIDATE, "shadow")))
        await mirror.close()

    asyncio.run(scenario())
    assert sample(metrics, "visionroll_router_shadow_comparisons_total", result="error") == 1

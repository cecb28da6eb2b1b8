"""The router's bounds: the copy queue holds at most its bytes (a high-water mark says how close it came), and the
worst case of every bounded buffer fits the memory limit the operator gives the router's pods."""

from __future__ import annotations

import asyncio
from typing import Any

from visionroll.traffic import Backend, TrafficPlan
from visionroll.traffic.router import RouterProvider
from visionroll_serving.router.answers import TopOne
from visionroll_serving.router.app import Settings
from visionroll_serving.router.config import RouterConfig, Variant
from visionroll_serving.router.copies import CopyJob, CopyQueue
from visionroll_serving.router.metrics import RouterMetrics

CANDIDATE = Variant("candidate", "2-0-x", "2.0", "http://127.0.0.1:1", 0)
STABLE = Variant("stable", "1-0-x", "1.0", "http://127.0.0.1:2", 100)
CONFIG = RouterConfig("ns", "digits", "digits", (STABLE, CANDIDATE))
MI = 1 << 20


def dropped(metrics: RouterMetrics) -> float:
    labels = {"namespace": "ns", "visionmodel": "digits", "variant": "candidate", "revision": "2-0-x",
              "traffic": "shadow", "reason": "queue_full"}  # fmt: skip
    return metrics.registry.get_sample_value("visionroll_router_shadow_dropped_total", labels) or 0.0


def test_the_copy_queue_is_bounded_in_bytes_held_queued_and_in_flight() -> None:
    metrics = RouterMetrics()
    release = asyncio.Event()

    async def hang(job: CopyJob) -> TopOne | None:  # a shadow that does not answer until released
        await release.wait()
        return None

    async def scenario() -> None:
        queue = CopyQueue(hang, queue_size=1000, queue_bytes=250, concurrency=1)
        queue.start()
        live: asyncio.Future[TopOne | None] = asyncio.get_running_loop().create_future()
        live.set_result(None)
        series = metrics.series(CONFIG, CANDIDATE, "shadow")
        offered = [queue.offer(CopyJob("u", b"x" * 100, "image/png", live, series, series)) for _ in range(4)]
        assert offered == [True, True, False, False]  # 100 + 100 fit in 250; the third would hold 300
        await asyncio.sleep(0)  # the sender takes one: its body still counts while it is being sent
        assert queue.bytes == 200
        assert not queue.offer(CopyJob("u", b"x" * 100, "image/png", live, series, series))
        assert queue.offer(CopyJob("u", b"x" * 50, "image/png", live, series, series))  # a small one still fits
        assert (queue.bytes, queue.high_water) == (250, 250)
        release.set()
        await queue.close()
        assert queue.bytes == 0
        assert queue.high_water == 250

    asyncio.run(scenario())
    assert dropped(metrics) == 3


def test_the_routers_bounded_buffers_fit_its_memory_limit() -> None:
    """Bodies of requests in progress, copies and the answer log at their bounds, plus the process (~70 MB measured at
    rest, 128 MB allowed here) stay below the limit of the Deployment the operator writes; the copy bound is well
    below it."""
    settings = Settings()
    deployment = next(o for o in RouterProvider().objects(_plan()) if o["kind"] == "Deployment")
    limit = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    limit_bytes = int(limit[:-2]) * MI
    worst = settings.body_bytes + settings.copy_queue_bytes + settings.feedback_bytes
    assert worst + 128 * MI < limit_bytes
    assert settings.copy_queue_bytes <= limit_bytes // 4


def _plan() -> TrafficPlan:
    def metadata(name: str, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
        return {"name": name, "namespace": "default", "labels": dict(extra_labels or {})}

    def front(selector: dict[str, str], target_port: int | str, metrics_port: int | None = None) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": metadata("digits"), "spec": {"selector": selector}}

    stable = Backend("stable", "1-0-ab12cd", "1.0", "digits-1-0-ab12cd", 8080, 100)
    return TrafficPlan(
        namespace="default", visionmodel="digits", model="digits", backends=(stable,), metadata=metadata,
        front_service=front, mirror_percent=0, router_image="router:test", pod_security_context={},
        container_security_context={},
    )  # fmt: skip


def test_a_sender_outlives_a_cancellation_that_is_not_the_queues() -> None:
    """A CancelledError out of a send (not from close) costs that copy only: the sender goes on, the bytes return."""
    metrics = RouterMetrics()
    sent: list[bytes] = []

    async def send(job: CopyJob) -> TopOne | None:
        sent.append(job.body)
        if job.body == b"first":
            raise asyncio.CancelledError
        return None

    async def scenario() -> None:
        queue = CopyQueue(send, queue_size=10, queue_bytes=100, concurrency=1)
        queue.start()
        live: asyncio.Future[TopOne | None] = asyncio.get_running_loop().create_future()
        live.set_result(None)
        series = metrics.series(CONFIG, CANDIDATE, "shadow")
        assert queue.offer(CopyJob("u", b"first", "image/png", live, series, series))
        assert queue.offer(CopyJob("u", b"second", "image/png", live, series, series))
        for _ in range(10):
            await asyncio.sleep(0)
        assert sent == [b"first", b"second"]
        assert queue.bytes == 0
        await queue.close()

    asyncio.run(scenario())

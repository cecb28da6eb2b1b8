"""Copies never block: a full queue drops and counts; answers are compared by top-1, by role (shadow and paired)."""

from __future__ import annotations

import asyncio

from visionroll_serving.router.answers import TopOne
from visionroll_serving.router.config import RouterConfig, Variant
from visionroll_serving.router.copies import CopyJob, CopyQueue, compare
from visionroll_serving.router.metrics import RouterMetrics

CANDIDATE = Variant("candidate", "2-0-x", "2.0", "http://127.0.0.1:1", 0)
STABLE = Variant("stable", "1-0-x", "1.0", "http://127.0.0.1:2", 100)
CONFIG = RouterConfig("ns", "digits", "digits", (STABLE, CANDIDATE))


def sample(metrics: RouterMetrics, name: str, *, variant: str = "candidate", traffic: str = "shadow",
           **labels: str) -> float:  # fmt: skip
    revision = {"candidate": "2-0-x", "stable": "1-0-x"}[variant]
    value = metrics.registry.get_sample_value(
        name, {"namespace": "ns", "visionmodel": "digits", "variant": variant, "revision": revision,
               "traffic": traffic, **labels},
    )  # fmt: skip
    return value or 0.0


def shadow_job(body: bytes, live: asyncio.Future[TopOne | None], metrics: RouterMetrics) -> CopyJob:
    series = metrics.series(CONFIG, CANDIDATE, "shadow")
    return CopyJob("u", body, "image/png", live, series, series)


def done(top: TopOne | None) -> asyncio.Future[TopOne | None]:
    future: asyncio.Future[TopOne | None] = asyncio.get_running_loop().create_future()
    future.set_result(top)
    return future


def test_full_queue_drops_and_answers_are_compared() -> None:
    metrics = RouterMetrics()
    release = asyncio.Event()

    async def send(job: CopyJob) -> TopOne | None:
        await release.wait()
        return TopOne("7" if job.body == b"same" else "1", 0.9)

    async def scenario() -> None:
        mirror = CopyQueue(send, queue_size=2, concurrency=1)
        mirror.start()
        live = done(TopOne("7", 0.99))
        accepted = [mirror.offer(shadow_job(body, live, metrics)) for body in (b"same", b"other")]
        await asyncio.sleep(0)  # the sender takes the first job and blocks
        accepted += [mirror.offer(shadow_job(b"same", live, metrics)) for _ in range(3)]
        assert accepted == [True, True, True, False, False]
        release.set()
        await mirror.close()

    asyncio.run(scenario())
    assert sample(metrics, "visionroll_router_shadow_dropped_total", reason="queue_full") == 2
    assert sample(metrics, "visionroll_router_shadow_comparisons_total", result="agree") == 2
    assert sample(metrics, "visionroll_router_shadow_comparisons_total", result="disagree") == 1


def test_a_failing_sender_counts_as_error() -> None:
    metrics = RouterMetrics()

    async def send(job: CopyJob) -> TopOne | None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        mirror = CopyQueue(send, queue_size=4, concurrency=2)
        mirror.start()
        mirror.offer(shadow_job(b"x", done(TopOne("7", 0.9)), metrics))
        await mirror.close()

    asyncio.run(scenario())
    assert sample(metrics, "visionroll_router_shadow_comparisons_total", result="error") == 1


def test_the_copy_is_sent_before_the_live_answer_and_compared_after_it() -> None:
    """The shadow request does not wait for the live one; a failed live request means no comparison."""
    metrics = RouterMetrics()
    sent: list[bytes] = []

    async def send(job: CopyJob) -> TopOne | None:
        sent.append(job.body)
        return TopOne("7", 0.9)

    async def scenario() -> None:
        mirror = CopyQueue(send, queue_size=4, concurrency=2)
        mirror.start()
        loop = asyncio.get_running_loop()
        agreeing, failed = loop.create_future(), loop.create_future()
        mirror.offer(shadow_job(b"a", agreeing, metrics))
        mirror.offer(shadow_job(b"b", failed, metrics))
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


def test_comparison_is_by_role_whichever_answer_was_live() -> None:
    seven, one = TopOne("7", 0.9), TopOne("1", 0.8)
    assert compare(stable=seven, candidate=seven) == "agree"
    assert compare(stable=seven, candidate=one) == "disagree"
    assert compare(stable=seven, candidate=None) == "error"  # the candidate gave no answer: its fault
    assert compare(stable=None, candidate=seven) is None  # nothing to compare with: not counted


def test_paired_copies_to_stable_are_compared_on_the_candidates_labels() -> None:
    """A candidate-routed request copied to stable: the copy is stable's `paired` request, the comparison is the
    candidate's, so one agreement series covers shadow and paired copies; a copy stable cannot answer is no
    comparison, while a candidate that answered nothing is an `error`."""
    metrics = RouterMetrics()
    stable_answers = {b"same": TopOne("7", 0.9), b"other": TopOne("1", 0.9), b"stable-fails": None,
                      b"candidate-failed": TopOne("3", 0.9)}  # fmt: skip

    async def send(job: CopyJob) -> TopOne | None:
        assert job.copy_is_stable
        job.series.observe("200" if stable_answers[job.body] else "503", 0.01, stable_answers[job.body])
        return stable_answers[job.body]

    async def scenario() -> None:
        queue = CopyQueue(send, queue_size=8, concurrency=2)
        queue.start()
        to_stable = metrics.series(CONFIG, STABLE, "paired")
        candidate = metrics.series(CONFIG, CANDIDATE, "paired")
        for body, live in ((b"same", TopOne("7", 0.8)), (b"other", TopOne("7", 0.8)),
                           (b"stable-fails", TopOne("7", 0.8)), (b"candidate-failed", None)):  # fmt: skip
            queue.offer(CopyJob("u", body, "image/png", done(live), to_stable, candidate, copy_is_stable=True))
        await queue.close()

    asyncio.run(scenario())
    compared = "visionroll_router_shadow_comparisons_total"
    assert {r: sample(metrics, compared, traffic="paired", result=r) for r in ("agree", "disagree", "error")} == {
        "agree": 1, "disagree": 1, "error": 1}  # fmt: skip
    assert sample(metrics, compared, variant="stable", traffic="paired", result="agree") == 0
    assert sample(metrics, "visionroll_router_requests_total", variant="stable", traffic="paired", code="200") == 3
    assert sample(metrics, "visionroll_router_requests_total", variant="stable", traffic="live", code="200") == 0

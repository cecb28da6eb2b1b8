"""Request ids, the answer log's bounds (time, entries, bytes — real memory measured), and feedback bodies."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from visionroll_serving.router.feedback import (
    ENTRY_OVERHEAD_BYTES,
    AnswerLog,
    Feedback,
    FeedbackError,
    parse_feedback,
    request_id,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_valid_client_id_is_honoured_and_anything_else_replaced_by_a_random_one() -> None:
    assert request_id("order-42.a:b_c") == "order-42.a:b_c"
    fresh = {request_id(sent) for sent in (None, "", "-leading-dash", "has space", "x" * 129, "é")}
    assert len(fresh) == 6 and all(len(rid) == 32 and int(rid, 16) >= 0 for rid in fresh)


def test_an_answer_is_labelled_once_and_forgotten_after_its_ttl() -> None:
    clock = Clock()
    log: AnswerLog[str] = AnswerLog(ttl=60, max_entries=10, max_bytes=10_000, clock=clock)
    log.remember("a", "stable", "7")
    log.remember("b", "candidate", "1")
    first = log.label("a")
    assert first is not None and (first.variant, first.predicted, first.labelled) == ("stable", "7", False)
    again = log.label("a")
    assert again is not None and again.labelled  # the caller refuses a second label
    assert log.label("nobody") is None
    clock.now += 60
    assert log.label("b") is None  # expired, even before anything evicts it
    log.remember("c", "stable", "3")  # the next answer evicts the expired ones
    assert len(log) == 1


def test_a_reused_id_keeps_the_latest_answer() -> None:
    log: AnswerLog[str] = AnswerLog(ttl=60, max_entries=10, max_bytes=10_000, clock=Clock())
    log.remember("a", "stable", "7")
    log.remember("a", "candidate", "1")
    answer = log.label("a")
    assert len(log) == 1 and answer is not None and (answer.variant, answer.predicted) == ("candidate", "1")
    assert log.bytes == AnswerLog.cost("a", "1")


def test_entries_and_bytes_are_bounded_oldest_first() -> None:
    log: AnswerLog[str] = AnswerLog(ttl=3600, max_entries=3, max_bytes=100_000, clock=Clock())
    for i in range(5):
        log.remember(f"id-{i}", "stable", "7")
    assert len(log) == 3 and log.label("id-1") is None and log.label("id-2") is not None
    small: AnswerLog[str] = AnswerLog(ttl=3600, max_entries=1000, max_bytes=3 * (ENTRY_OVERHEAD_BYTES + 10),
                                      clock=Clock())  # fmt: skip
    for i in range(10):
        small.remember(f"id-{i:05d}", "stable", "7")  # 8 + 1 characters: three fit
    assert len(small) == 3 and small.bytes <= small.max_bytes and small.label("id-00009") is not None


def test_the_byte_bound_holds_for_real_memory() -> None:
    """With random 32-character ids (what the router makes) and 10 classes, what the log really holds in CPython
    stays within its byte bound: the estimate per entry covers the real cost."""
    budget = 2_000_000
    log: AnswerLog[str] = AnswerLog(ttl=3600, max_entries=10**9, max_bytes=budget, clock=Clock())
    labels = [str(c) for c in range(10)]
    series = "the same object for every entry, as the router's series are"
    answers = 50_000
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for i in range(answers):
        log.remember(request_id(None), series, labels[i % 10])  # the id lives only in the log, as in the router
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(log) < answers, "the bound never bit: make the test larger"
    assert log.bytes <= budget
    assert held - before <= budget, f"{held - before} bytes held by {len(log)} entries"


def test_feedback_bodies() -> None:
    assert parse_feedback(b'{"requestId": "abc", "label": "7"}') == Feedback("abc", "7")
    assert parse_feedback(b'{"requestId": "abc", "label": 7}') == Feedback("abc", "7")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b'["abc", "7"]', "must be a JSON object"),
        (b'{"requestID": "abc", "label": "7"}', r"unknown field\(s\) \['requestID'\]"),
        (b'{"label": "7"}', "requestId: must be"),
        (b'{"requestId": "a b", "label": "7"}', "requestId: must be"),
        (b'{"requestId": "abc"}', "label: must be"),
        (b'{"requestId": "abc", "label": ""}', "label: must be"),
        (b'{"requestId": "abc", "label": true}', "label: must be"),
        (b'{"requestId": "abc", "label": "' + b"x" * 200 + b'"}', "label: must be"),
        (b'{"requestId": "abc", "label": "' + b"x" * 5000 + b'"}', "exceeds 4096 bytes"),
    ],
)
def test_malformed_feedback_says_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(FeedbackError, match=reason):
        parse_feedback(body)


def test_impossible_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        AnswerLog(ttl=1, max_entries=1, max_bytes=10)

"""Ground truth that arrives later: request ids, the answers remembered for them, and `POST /feedback` bodies.

The router gives every prediction a request id (the client's `X-Request-Id` when it is valid, else a random one) and
remembers, for `ttl` seconds, which variant answered it with which top-1 class. A label sent later for that id
counts once, as `correct` or `wrong`, for the variant that answered. The memory is bounded three ways: entries
older than `ttl`, at most `max_entries`, and at most `max_bytes` by an estimate that covers each entry's real cost
in CPython (tests/unit/serving/test_feedback.py measures it); the oldest entries go first.

Pure apart from the clock, which is a parameter.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

REQUEST_ID_HEADER = "X-Request-Id"
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
MAX_FEEDBACK_BYTES = 4096
MAX_LABEL_CHARS = 128
# Per entry, on top of the id's and the class's characters: the OrderedDict slot and its link node, the key str
# header, the entry tuple and its float. Measured at ~270 bytes on CPython 3.12 (64-bit); rounded up.
ENTRY_OVERHEAD_BYTES = 320

T = TypeVar("T")  # what identifies the answering variant: the router stores its metric series


def request_id(sent: str | None) -> str:
    """The client's id when it is 1-128 characters of `[A-Za-z0-9._:-]` starting with a letter or digit, else a
    fresh random one (128 bits, so ids cannot be guessed to label others' requests)."""
    if sent is not None and _VALID_ID.fullmatch(sent):
        return sent
    return secrets.token_hex(16)


class Answer(NamedTuple, Generic[T]):
    expires: float
    variant: T
    predicted: str
    labelled: bool = False


class AnswerLog(Generic[T]):
    """Request id -> the answer given, oldest first."""

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries < 1 or max_bytes < ENTRY_OVERHEAD_BYTES:
            raise ValueError(
                f"answer log needs ttl > 0, max_entries >= 1, max_bytes >= {ENTRY_OVERHEAD_BYTES}; "
                f"got {ttl}, {max_entries}, {max_bytes}"
            )
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._answers: OrderedDict[str, Answer[T]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._answers)

    @staticmethod
    def cost(request_id: str, predicted: str) -> int:
        return ENTRY_OVERHEAD_BYTES + len(request_id) + len(predicted)

    def remember(self, request_id: str, variant: T, predicted: str) -> None:
        """A client that reuses an id replaces the earlier answer (the latest answer is the one labelled)."""
        now = self._clock()
        answers = self._answers
        old = answers.pop(request_id, None)
        if old is not None:
            self.bytes -= self.cost(request_id, old.predicted)
        # Classes repeat: one string per class, not one per entry.
        answers[request_id] = Answer(now + self.ttl, variant, sys.intern(predicted))
        self.bytes += self.cost(request_id, predicted)
        while answers and (
            len(answers) > self.max_entries
            or self.bytes > self.max_bytes
            or next(iter(answers.values())).expires <= now
        ):
            key, gone = answers.popitem(last=False)
            self.bytes -= self.cost(key, gone.predicted)

    def label(self, request_id: str) -> Answer[T] | None:
        """The answer to count a label against, marked labelled (a second label for it finds `labelled` True);
        None when the id is unknown or expired."""
        answer = self._answers.get(request_id)
        if answer is None or answer.expires <= self._clock():
            return None
        if not answer.labelled:
            self._answers[request_id] = answer._replace(labelled=True)  # keeps its place in the order
        return answer


class FeedbackError(ValueError):
    """A feedback body the router cannot count; the message says why."""


class Feedback(NamedTuple):
    request_id: str
    label: str


def parse_feedback(body: bytes) -> Feedback:
    """`{"requestId": "<id from X-Request-Id>", "label": "<true class>"}`; the label may be an integer."""
    if len(body) > MAX_FEEDBACK_BYTES:
        raise FeedbackError(f"feedback body of {len(body)} bytes exceeds {MAX_FEEDBACK_BYTES} bytes")
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedbackError(f"feedback is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise FeedbackError('feedback must be a JSON object {"requestId": ..., "label": ...}')
    unknown = sorted(set(raw) - {"requestId", "label"})
    if unknown:
        raise FeedbackError(f"feedback has unknown field(s) {unknown}; expected requestId and label")
    rid = raw.get("requestId")
    if not isinstance(rid, str) or not _VALID_ID.fullmatch(rid):
        raise FeedbackError(
            f"requestId: must be the {REQUEST_ID_HEADER} the router answered with "
            f"(1-128 characters of [A-Za-z0-9._:-]), got {rid!r}"
        )
    label = raw.get("label")
    if isinstance(label, int) and not isinstance(label, bool):
        label = str(label)
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_CHARS or not label.isprintable():
        raise FeedbackError(
            f"label: must be the true class, a non-empty printable string of at most {MAX_LABEL_CHARS} characters "
            f"or an integer, got {label!r}"
        )
    return Feedback(rid, label.strip())

"""What the router reads from an upstream answer: the top-1 class and score of a handler answer, and the reason in
an error body, which it puts in the one error form clients see (docs/contracts.md)."""

from __future__ import annotations

import json
from typing import NamedTuple


class TopOne(NamedTuple):
    label: str
    score: float


def top_one(body: bytes) -> TopOne | None:
    """None when the body is not a well-formed answer (an error body, a foreign format)."""
    try:
        answer = json.loads(body)
        best = answer["top_k"][0]
        return TopOne(str(best["label"]), float(best["score"]))
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def error_body(status: int, body: bytes, variant: str) -> bytes | None:
    """The error form `{"error": ..., "code": ...}` for an upstream's non-2xx answer that is not in it already
    (TorchServe's own errors: `{"code", "type", "message"}`, or any other body); None when it is."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        return None
    if isinstance(answer, dict) and (answer.get("message") or answer.get("type")):
        reason = str(answer.get("message") or answer.get("type"))
    else:
        reason = body[:200].decode("utf-8", "replace").strip() or "no body"
    return json.dumps({"error": f"upstream {variant} answered {status}: {reason}", "code": status}).encode()

"""The one thing the router reads from a handler answer: its top-1 class and score (docs/contracts.md)."""

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

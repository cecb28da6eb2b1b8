"""Which variant serves a request, and whether it is mirrored: pure functions of the config and a random draw.

Weights are whole percentages, so the choice is a bucket in [0, 100): a uniform draw for anonymous requests, a
stable hash of the sticky header's value otherwise, so one session always lands on the same variant while the
weights stay the same.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass

from visionroll_serving.router.config import RouterConfig, Variant


def sticky_bucket(value: str) -> float:
    digest = hashlib.blake2b(value.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * 100.0


@dataclass(frozen=True)
class Route:
    live: Variant
    shadow: Variant | None


class Picker:
    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self._live = [v for v in config.variants if v.weight > 0]
        self._edges: list[int] = []
        total = 0
        for variant in self._live:
            total += variant.weight
            self._edges.append(total)
        shadow = config.shadow
        self._shadow = config.variant(shadow.variant) if shadow and shadow.percent > 0 else None
        self._shadow_fraction = shadow.percent / 100.0 if shadow else 0.0

    def live(self, bucket: float) -> Variant:
        """`bucket` in [0, 100)."""
        return self._live[min(bisect_right(self._edges, bucket), len(self._live) - 1)]

    def route(self, *, draw: float, mirror_draw: float, sticky: str | None = None) -> Route:
        """`draw` and `mirror_draw` are uniform in [0, 1); `sticky` is the sticky header's value, if any."""
        live = self.live(sticky_bucket(sticky) if sticky else draw * 100.0)
        shadow = self._shadow
        if shadow is None or shadow.name == live.name or mirror_draw >= self._shadow_fraction:
            return Route(live, None)
        return Route(live, shadow)

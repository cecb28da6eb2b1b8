"""Which variant serves a request, and whether a copy goes to the other one: pure functions of the config and
random draws.

Weights are whole percentages, so the choice is a bucket in [0, 100): a uniform draw for anonymous requests, a
stable hash of the sticky header's value otherwise, so one session always lands on the same variant while the
weights stay the same. A request gets at most one copy: a shadow mirror when the shadow's share draws it, else a
paired copy when the live variant's paired share draws it (each from its own uniform draw).
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
    shadow: Variant | None = None
    """Mirrored: the copy goes out beside the live request."""
    paired: Variant | None = None
    """Paired: the copy goes out once the live answer is in."""


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
        # live variant's name -> (the variant that gets its paired copy, the share of its requests copied)
        self._paired: dict[str, tuple[Variant, float]] = {}
        paired = config.paired
        if paired is not None:
            names = {v.name for v in config.variants}
            for live, other, percent in (
                ("candidate", "stable", paired.candidate_percent),
                ("stable", "candidate", paired.stable_percent),
            ):
                if percent > 0 and {live, other} <= names:
                    self._paired[live] = (config.variant(other), percent / 100.0)

    def live(self, bucket: float) -> Variant:
        """`bucket` in [0, 100)."""
        return self._live[min(bisect_right(self._edges, bucket), len(self._live) - 1)]

    def route(self, *, draw: float, mirror_draw: float, paired_draw: float, sticky: str | None = None) -> Route:
        """`draw`, `mirror_draw` and `paired_draw` are uniform in [0, 1); `sticky` is the sticky header's value."""
        live = self.live(sticky_bucket(sticky) if sticky else draw * 100.0)
        shadow = self._shadow
        if shadow is not None and shadow.name != live.name and mirror_draw < self._shadow_fraction:
            return Route(live, shadow=shadow)
        paired = self._paired.get(live.name)
        if paired is not None and paired_draw < paired[1]:
            return Route(live, paired=paired[0])
        return Route(live)

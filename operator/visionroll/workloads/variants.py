"""A serving variant: one revision in one role (stable, candidate, retiring), with the traffic it receives.

The role comes from the status and can change without the pods changing (a candidate becomes stable when promoted),
so it is never part of a pod template or a selector: only revision labels select pods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from visionroll.api import Autoscaling, ModelSource, Serving

Role = Literal["stable", "candidate", "retiring"]


@dataclass(frozen=True)
class Variant:
    role: Role
    revision: str
    model: ModelSource
    serving: Serving
    weight: int = 0
    """Percent of live traffic."""
    mirror_percent: int = 0
    """Percent of live traffic mirrored to it (shadow)."""
    floor: int | None = None
    """Replicas it keeps at least, whatever its share: the stable held during a rollout, a candidate being scaled to
    carry all the traffic (a handover)."""


def replica_range(autoscaling: Autoscaling, variant: Variant) -> tuple[int, int]:
    """(minReplicas, maxReplicas) of the variant's HPA.

    Stable keeps the full range, and through a rollout at least the replicas it had when the rollout began (its
    `floor`), so a rollback can move all traffic back at once. A candidate scales with the share of traffic it sees,
    live or mirrored, keeps one pod while it exists, and its `floor` during a handover. A retiring revision only
    drains in-flight requests.
    """
    floor = min(variant.floor or 1, autoscaling.max_replicas)
    if variant.role == "stable":
        return max(autoscaling.min_replicas, floor), autoscaling.max_replicas
    if variant.role == "retiring":
        return 1, 1
    share = max(variant.weight, variant.mirror_percent)
    low = max(1, floor, math.ceil(autoscaling.min_replicas * share / 100))
    high = max(low, math.ceil(autoscaling.max_replicas * share / 100))
    return low, high

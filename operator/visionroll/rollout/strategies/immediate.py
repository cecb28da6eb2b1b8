"""Immediate: no stage and no analysis, like a Deployment's rolling update. The new revision waits with no traffic
until it has ready pods, is scaled to carry all the traffic (a handover), takes it at once, and the old stable
drains."""

from __future__ import annotations

from datetime import datetime

from visionroll.api import VisionModelSpec, VisionModelStatus
from visionroll.rollout import transitions as t
from visionroll.rollout.types import Event

STRATEGY = "immediate"


def when_ready(
    status: VisionModelStatus, spec: VisionModelSpec, stable_ready: int, now: datetime
) -> tuple[VisionModelStatus, Event]:
    """The new revision has ready pods: hand all the traffic over to it."""
    return t.hand_over(status, spec, "the new revision has ready pods", stable_ready, now)

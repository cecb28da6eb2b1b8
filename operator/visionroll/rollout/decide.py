"""The rollout decision: `decide(...)` maps (spec, status, measurements, controls, now) to the whole next status.

First version: deploys the first revision, replaces on `immediate`, keeps a converged model stable. The staged
strategies (canary, shadow, split) follow in the same module family.
"""

from __future__ import annotations

from datetime import datetime

from visionroll.api import Revision, VisionModelSpec, VisionModelStatus, Weights
from visionroll.rollout.types import Controls, Decision, Event, Measurements


def analysis_due(spec: VisionModelSpec, status: VisionModelStatus, now: datetime) -> bool:
    """True when a rollout is in progress and one analysis interval has passed since the last measurement."""
    return False


def decide(
    *,
    spec: VisionModelSpec,
    status: VisionModelStatus,
    generation: int,
    desired: Revision,
    measurements: Measurements | None,
    controls: Controls,
    now: datetime,
) -> Decision:
    if status.stable is None or spec.rollout.strategy == "immediate" and status.stable.revision != desired.revision:
        new = status.model_copy(
            update={
                "phase": "Stable",
                "stable": desired,
                "candidate": None,
                "weights": Weights(stable=100, candidate=0),
                "observed_generation": generation,
            }
        )
        return Decision(
            status=new, events=(Event("Normal", "Deployed", f"serving {desired.version}"),), outcome="deployed"
        )
    return Decision(status=status.model_copy(update={"observed_generation": generation}))

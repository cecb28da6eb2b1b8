"""Where the tick gets its decision: `visionroll.rollout.decide` (the rollout core), or, until that lands, a minimal
stand-in with the same signature that serves the desired revision at once.

The stand-in lives only here, in the reconcile code path; it disappears as soon as `visionroll.rollout.decide` is
importable (checked at import time, no configuration).
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Protocol, cast

from visionroll.api import Revision, VisionModelSpec, VisionModelStatus, Weights
from visionroll.rollout.types import Controls, Decision, Event, Measurements


class DecideFn(Protocol):
    def __call__(
        self,
        *,
        spec: VisionModelSpec,
        status: VisionModelStatus,
        generation: int,
        desired: Revision,
        measurements: Measurements | None,
        controls: Controls,
        now: datetime,
    ) -> Decision: ...


class AnalysisDueFn(Protocol):
    def __call__(self, spec: VisionModelSpec, status: VisionModelStatus, now: datetime) -> bool: ...


class MeasurementProvider(Protocol):
    """What the tick needs from `visionroll.metrics` (injected; None means no analysis can be measured)."""

    def measure(
        self, *, namespace: str, visionmodel: str, spec: VisionModelSpec, status: VisionModelStatus, now: datetime
    ) -> Measurements: ...


def standin_decide(
    *,
    spec: VisionModelSpec,
    status: VisionModelStatus,
    generation: int,
    desired: Revision,
    measurements: Measurements | None,
    controls: Controls,
    now: datetime,
) -> Decision:
    """Stand-in for the rollout core: the desired revision becomes stable immediately, with all the traffic."""
    if status.stable is not None and status.stable.revision == desired.revision and status.candidate is None:
        return Decision(status=status.model_copy(update={"phase": "Stable"}))
    new = status.model_copy(
        update={
            "phase": "Stable",
            "message": f"serving {desired.version}",
            "stable": desired,
            "candidate": None,
            "weights": Weights(stable=100, candidate=0),
            "mirror_percent": 0,
            "retiring": None,
            "retire_at": None,
        }
    )
    event = Event("Normal", "Deployed", f"serving version {desired.version} (revision {desired.revision})")
    return Decision(status=new, events=(event,), outcome="promoted" if status.stable else None)


def _never_due(spec: VisionModelSpec, status: VisionModelStatus, now: datetime) -> bool:
    return False


def load() -> tuple[DecideFn, AnalysisDueFn, bool]:
    """(decide, analysis_due, real): the rollout core's functions when it has them, else the stand-ins."""
    core = importlib.import_module("visionroll.rollout")
    decide = getattr(core, "decide", None)
    due = getattr(core, "analysis_due", None)
    if callable(decide) and callable(due):
        return cast(DecideFn, decide), cast(AnalysisDueFn, due), True
    return standin_decide, _never_due, False

"""The VisionModel API (visionroll.io/v1alpha1): pydantic models that are the one source of the CRD schema."""

from visionroll.api.rules import parse_duration
from visionroll.api.spec import (
    Analysis,
    Autoscaling,
    Canary,
    Gates,
    ModelSource,
    Rollout,
    Serving,
    Shadow,
    Split,
    Traffic,
    VisionModelSpec,
)
from visionroll.api.status import (
    AnalysisRecord,
    Condition,
    GateResult,
    HistoryEntry,
    Revision,
    VisionModelStatus,
    Weights,
)

GROUP = "visionroll.io"
VERSION = "v1alpha1"
KIND = "VisionModel"
PLURAL = "visionmodels"
SINGULAR = "visionmodel"
SHORT_NAMES = ["vmodel"]
CATEGORIES = ["visionroll"]
API_VERSION = f"{GROUP}/{VERSION}"

__all__ = [
    "API_VERSION",
    "CATEGORIES",
    "GROUP",
    "KIND",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "Analysis",
    "AnalysisRecord",
    "Autoscaling",
    "Canary",
    "Condition",
    "GateResult",
    "Gates",
    "HistoryEntry",
    "ModelSource",
    "Revision",
    "Rollout",
    "Serving",
    "Shadow",
    "Split",
    "Traffic",
    "VisionModelSpec",
    "VisionModelStatus",
    "Weights",
    "parse_duration",
]

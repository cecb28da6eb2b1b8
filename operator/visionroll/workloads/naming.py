"""Names and labels of the objects a VisionModel owns. A revision names one servable model build."""

from __future__ import annotations

import hashlib
import json
import re

from visionroll.api import ModelSource, Serving

MANAGED_BY = "visionroll"
LABEL_MODEL = "visionroll.io/model"
LABEL_REVISION = "visionroll.io/revision"
LABEL_ROLE = "visionroll.io/role"


def revision_record(model: ModelSource, serving: Serving) -> str:
    """Everything that changes what the pods serve, as JSON: hashed into the revision name, and recorded in the
    revision's ConfigMap so that its objects can be rebuilt."""
    return json.dumps({"model": model.wire(), "serving": serving.wire()}, sort_keys=True)


def revision(model: ModelSource, serving: Serving) -> str:
    """`<version-slug>-<6 hex>`: the hash covers everything that changes what the pods serve."""
    digest = hashlib.sha256(revision_record(model, serving).encode()).hexdigest()[:6]
    slug = re.sub(r"[^a-z0-9]+", "-", model.version.lower()).strip("-")[:20] or "v"
    return f"{slug}-{digest}"


def variant_name(visionmodel: str, rev: str) -> str:
    return f"{visionmodel}-{rev}"


def router_name(visionmodel: str) -> str:
    return f"{visionmodel}-router"


def routing_configmap_name(visionmodel: str) -> str:
    return f"{visionmodel}-routing"


def labels(visionmodel: str, rev: str | None = None) -> dict[str, str]:
    out = {
        "app.kubernetes.io/name": "visionroll-serving",
        "app.kubernetes.io/instance": visionmodel,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_MODEL: visionmodel,
    }
    if rev:
        out[LABEL_REVISION] = rev
    return out

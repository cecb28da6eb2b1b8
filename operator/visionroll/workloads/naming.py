"""The revision: the name of one servable model build, a hash of everything that changes what the pods serve.

The names and labels of the objects a VisionModel owns are in `visionroll.vocabulary`."""

from __future__ import annotations

import hashlib
import json
import re

from visionroll.api import ModelSource, Serving


def revision_record(model: ModelSource, serving: Serving) -> str:
    """Everything that changes what the pods serve, as JSON: hashed into the revision name, and recorded in the
    revision's ConfigMap so that its objects can be rebuilt."""
    return json.dumps({"model": model.wire(), "serving": serving.wire()}, sort_keys=True)


def revision(model: ModelSource, serving: Serving) -> str:
    """`<version-slug>-<6 hex>`: the hash covers everything that changes what the pods serve."""
    digest = hashlib.sha256(revision_record(model, serving).encode()).hexdigest()[:6]
    slug = re.sub(r"[^a-z0-9]+", "-", model.version.lower()).strip("-")[:20] or "v"
    return f"{slug}-{digest}"

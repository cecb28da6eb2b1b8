"""The words every layer shares, at the bottom so that none copies them: the labels and annotations the operator
writes and reads, and the names of the objects a VisionModel owns.

This module imports nothing of the project. The revision (a hash of what the pods serve) is named in
`workloads/naming.py`, which needs the API's models; `api/pods.py` names the images and scrape annotations.
"""

from __future__ import annotations

MANAGED_BY = "visionroll"
"""Value of `app.kubernetes.io/managed-by` on everything the operator owns: kopf watches owned kinds by it."""
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MODEL = "visionroll.io/model"
LABEL_REVISION = "visionroll.io/revision"
LABEL_ROLE = "visionroll.io/role"
OWNED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"

ANNOTATION_PREFIX = "visionroll.io"
"""kopf keeps its progress and diff base in annotations under this prefix (handlers/config.py)."""
# Annotations a person (or `kubectl visionmodel`) sets. promote/abort carry the candidate revision they mean, so a
# stale annotation never acts on a later candidate; resume is the removal of `paused`.
ANNOTATION_PAUSED = "visionroll.io/paused"
ANNOTATION_PROMOTE = "visionroll.io/promote"
ANNOTATION_ABORT = "visionroll.io/abort"
ANNOTATION_RESUME = "visionroll.io/resume"  # restarts a stage the analysis paused (inconclusive), afresh
REVISION_CONTROLS = (ANNOTATION_PROMOTE, ANNOTATION_ABORT, ANNOTATION_RESUME)

ROUTER_LABELS = {"app.kubernetes.io/name": "visionroll-router", LABEL_COMPONENT: "router"}
"""On every object of the router (added to the contract labels)."""


def variant_name(visionmodel: str, rev: str) -> str:
    """A revision's Deployment, Service, HPA, PDB and ConfigMap."""
    return f"{visionmodel}-{rev}"


def router_name(visionmodel: str) -> str:
    return f"{visionmodel}-router"


def routing_configmap_name(visionmodel: str) -> str:
    """The ConfigMap that carries `router.json`."""
    return f"{visionmodel}-routing"


def labels(visionmodel: str, rev: str | None = None) -> dict[str, str]:
    """The contract labels (docs/contracts.md) on every object of a VisionModel, with its revision's if given."""
    out = {
        "app.kubernetes.io/name": "visionroll-serving",
        "app.kubernetes.io/instance": visionmodel,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_MODEL: visionmodel,
    }
    if rev:
        out[LABEL_REVISION] = rev
    return out

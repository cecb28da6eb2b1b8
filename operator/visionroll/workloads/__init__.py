"""Pure builders of the objects that serve one VisionModel revision: Deployment, Service, HPA, PodDisruptionBudget,
and the ConfigMap with TorchServe's config.properties (the one builder of that file) and the revision's record.

`serving_objects(owner, variant, autoscaling)` is the whole set for one variant, in the order they are applied
(configuration before the pods that mount it). Nothing here talks to the API server; the only file read is the init
container's program, shipped in this package (`fetch_program.py`).
"""

from __future__ import annotations

from visionroll.api import Autoscaling
from visionroll.workloads.autoscaling import hpa, pdb
from visionroll.workloads.deployment import deployment
from visionroll.workloads.meta import Manifest, Owner
from visionroll.workloads.service import endpoint, front_service, variant_service
from visionroll.workloads.torchserve import config_map
from visionroll.workloads.variants import Role, Variant, replica_range


def serving_objects(owner: Owner, variant: Variant, autoscaling: Autoscaling) -> list[Manifest]:
    return [
        config_map(owner, revision=variant.revision, model=variant.model, serving=variant.serving),
        variant_service(owner, variant),
        deployment(owner, variant),
        hpa(owner, variant, autoscaling),
        pdb(owner, variant),
    ]


__all__ = [
    "Manifest",
    "Owner",
    "Role",
    "Variant",
    "endpoint",
    "front_service",
    "replica_range",
    "serving_objects",
]

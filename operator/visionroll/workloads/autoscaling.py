"""The HPA (autoscaling/v2) and PodDisruptionBudget of one revision."""

from __future__ import annotations

from typing import Any

from visionroll.api import Autoscaling
from visionroll.workloads import naming
from visionroll.workloads.deployment import selector_labels
from visionroll.workloads.meta import Manifest, Owner, manifest, metadata
from visionroll.workloads.variants import Variant, replica_range

REQUESTS_METRIC = "visionroll_router_requests_per_second"


def _rps(value: float) -> str:
    # A Kubernetes quantity: whole numbers as they are, fractions in milli-units.
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def hpa(owner: Owner, variant: Variant, autoscaling: Autoscaling) -> Manifest:
    name = naming.variant_name(owner.name, variant.revision)
    low, high = replica_range(autoscaling, variant)
    metrics: list[dict[str, Any]] = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": autoscaling.target_cpu_utilization},
            },
        }
    ]
    if autoscaling.target_requests_per_second is not None:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": REQUESTS_METRIC},
                    "target": {"type": "AverageValue", "averageValue": _rps(autoscaling.target_requests_per_second)},
                },
            }
        )
    return manifest(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        metadata(owner, name, revision=variant.revision, extra_labels={naming.LABEL_ROLE: variant.role}),
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": metrics,
        },
    )


def pdb(owner: Owner, variant: Variant) -> Manifest:
    # maxUnavailable rather than minAvailable: a one-replica variant must not block node drains forever.
    return manifest(
        "policy/v1",
        "PodDisruptionBudget",
        metadata(
            owner,
            naming.variant_name(owner.name, variant.revision),
            revision=variant.revision,
            extra_labels={naming.LABEL_ROLE: variant.role},
        ),
        spec={"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(owner.name, variant.revision)}},
    )

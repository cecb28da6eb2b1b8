"""The HPA (autoscaling/v2) and PodDisruptionBudget of one revision.

The HPA scales on CPU, which metrics-server serves. It has no requests-per-second target: that would need a
custom-metrics adapter serving the router's request rate, which the chart does not install (api/spec.py refuses
`autoscaling.targetRequestsPerSecond`)."""

from __future__ import annotations

from visionroll import vocabulary
from visionroll.api import Autoscaling
from visionroll.workloads.deployment import selector_labels
from visionroll.workloads.meta import Manifest, Owner, manifest, metadata
from visionroll.workloads.variants import Variant, replica_range


def hpa(owner: Owner, variant: Variant, autoscaling: Autoscaling) -> Manifest:
    name = vocabulary.variant_name(owner.name, variant.revision)
    low, high = replica_range(autoscaling, variant)
    cpu = {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": autoscaling.target_cpu_utilization},
        },
    }
    return manifest(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        metadata(owner, name, revision=variant.revision, extra_labels={vocabulary.LABEL_ROLE: variant.role}),
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [cpu],
        },
    )


def pdb(owner: Owner, variant: Variant) -> Manifest:
    # maxUnavailable rather than minAvailable: a one-replica variant must not block node drains forever.
    return manifest(
        "policy/v1",
        "PodDisruptionBudget",
        metadata(
            owner,
            vocabulary.variant_name(owner.name, variant.revision),
            revision=variant.revision,
            extra_labels={vocabulary.LABEL_ROLE: variant.role},
        ),
        spec={"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(owner.name, variant.revision)}},
    )

"""Services: one per revision (inference and metrics only; the management API is never exposed), and the front
Service `<name>` clients use, whose selector the traffic provider chooses."""

from __future__ import annotations

from visionroll import vocabulary
from visionroll.workloads.deployment import selector_labels
from visionroll.workloads.meta import Manifest, Owner, manifest, metadata
from visionroll.workloads.torchserve import INFERENCE_PORT, METRICS_PORT
from visionroll.workloads.variants import Variant

FRONT_PORT = 8080


def variant_service(owner: Owner, variant: Variant) -> Manifest:
    return manifest(
        "v1",
        "Service",
        metadata(
            owner,
            vocabulary.variant_name(owner.name, variant.revision),
            revision=variant.revision,
            extra_labels={vocabulary.LABEL_ROLE: variant.role},
        ),
        spec={
            "type": "ClusterIP",
            "selector": selector_labels(owner.name, variant.revision),
            "ports": [
                {"name": "inference", "port": INFERENCE_PORT, "targetPort": "inference", "protocol": "TCP"},
                {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    )


def front_service(
    owner: Owner, *, selector: dict[str, str], target_port: int | str, metrics_port: int | None = None
) -> Manifest:
    """The stable client address `http://<name>.<namespace>.svc:8080`; with `metrics_port`, also the port that
    Prometheus scrapes the router on (one Service per VisionModel for both: cluster IPs are a finite range)."""
    ports: list[dict[str, object]] = [
        {"name": "http", "port": FRONT_PORT, "targetPort": target_port, "protocol": "TCP"}
    ]
    if metrics_port is not None:
        ports.append({"name": "metrics", "port": metrics_port, "targetPort": "metrics", "protocol": "TCP"})
    return manifest(
        "v1",
        "Service",
        metadata(owner, owner.name, extra_labels={vocabulary.LABEL_ROLE: "front"}),
        spec={"type": "ClusterIP", "selector": dict(selector), "ports": ports},
    )


def endpoint(owner_name: str, namespace: str, model_name: str) -> str:
    return f"http://{owner_name}.{namespace}.svc:{FRONT_PORT}/predictions/{model_name}"

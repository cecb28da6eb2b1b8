"""What the pods the operator runs share, at the bottom layer so that every layer uses one spelling: the images this
project builds, by the names the API, the operator and the chart default to, and the annotations by which a plain
Prometheus finds a pod's metrics.

`Dockerfile` builds the operator image, `serving/Dockerfile` the serving image (TorchServe with the vision handler) and
`serving/router/Dockerfile` the router image (the Go router, `/visionroll-router`). The tag is the project's version,
the chart's appVersion.
"""

from __future__ import annotations

VERSION = "0.1.0"
REGISTRY = "ghcr.io/visionroll"
OPERATOR_IMAGE = f"{REGISTRY}/operator:{VERSION}"
SERVING_IMAGE = f"{REGISTRY}/serving:{VERSION}"
ROUTER_IMAGE = f"{REGISTRY}/router:{VERSION}"


def scrape_annotations(port: int, path: str = "/metrics") -> dict[str, str]:
    """`prometheus.io/*` pod annotations, read by a plain Prometheus's kubernetes_sd_configs (role pod) with the
    relabelling the chart's README shows."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": path}

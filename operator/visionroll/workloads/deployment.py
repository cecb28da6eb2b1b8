"""The Deployment that runs TorchServe for one revision.

Replicas are left to the HPA (the Deployment's `spec.replicas` is never applied, so the operator and the HPA never
fight over it). Only revision labels are in the pod template: promoting a candidate must not restart its pods.
"""

from __future__ import annotations

import math
from typing import Any

from visionroll import vocabulary
from visionroll.api import Serving
from visionroll.api.pods import scrape_annotations
from visionroll.workloads.meta import Manifest, Owner, manifest, metadata
from visionroll.workloads.security import container_security_context, pod_security_context
from visionroll.workloads.storage import MODEL_STORE, fetch_container, parse_storage_uri
from visionroll.workloads.torchserve import CONFIG_DIR, CONFIG_KEY, INFERENCE_PORT, METRICS_PORT
from visionroll.workloads.variants import Variant
from visionroll_serving.router.config import CONNECTION_MAX_AGE_SECONDS

GPU_RESOURCE = "nvidia.com/gpu"
LOG_DIR = "/home/model-server/logs"
# Stopping a TorchServe pod (scale-down, a drain, `kubectl delete`). TorchServe has no graceful shutdown (its stop
# loses the requests in flight), and its launcher, the container's PID 1, has no SIGTERM handler, so the kubelet's
# SIGTERM is ignored and the pod would run until SIGKILL at the end of its grace period. So the preStop hook first
# waits while the EndpointSlice and kube-proxy take the pod out of the Service (a few seconds) and the routers replace
# every connection still pinned to it (their connections' maximum age); then nothing is sent to it any more, and
# `torchserve --stop` (TorchServe's own stop: SIGTERM to its Java frontend, which the launcher then follows) loses
# nothing. The hook returns once the SIGTERM is sent: with `--foreground` it would wait for the frontend, whose exit
# ends the container while the hook still runs, and the kubelet would report the hook killed (FailedPreStopHook).
SERVICE_PROPAGATION_SECONDS = 5
PRESTOP_SECONDS = math.ceil(CONNECTION_MAX_AGE_SECONDS) + SERVICE_PROPAGATION_SECONDS
STOP_SECONDS = 20  # TorchServe's own stop; past the grace period the kubelet kills what is left
TERMINATION_GRACE_SECONDS = PRESTOP_SECONDS + STOP_SECONDS
PRESTOP_COMMAND = ["/bin/sh", "-c", f"sleep {PRESTOP_SECONDS}; exec torchserve --stop"]


def selector_labels(visionmodel: str, revision: str) -> dict[str, str]:
    return {vocabulary.LABEL_MODEL: visionmodel, vocabulary.LABEL_REVISION: revision}


def _resources(serving: Serving) -> dict[str, Any]:
    requests = {k: v for k, v in serving.resources.requests.wire().items() if v}
    limits = {k: v for k, v in serving.resources.limits.wire().items() if v}
    if serving.gpu:
        # Extended resources must be requested and limited alike.
        limits[GPU_RESOURCE] = str(serving.gpu)
        requests[GPU_RESOURCE] = str(serving.gpu)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "inference"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _torchserve_container(variant: Variant) -> dict[str, Any]:
    return {
        "name": "torchserve",
        "image": variant.serving.image,
        "command": ["torchserve"],
        "args": [
            "--start",
            "--foreground",
            "--ncs",
            "--ts-config",
            f"{CONFIG_DIR}/{CONFIG_KEY}",
            "--model-store",
            MODEL_STORE,
            "--disable-token-auth",
        ],
        "env": [
            # Everything TorchServe and Java write goes to emptyDirs, so the root filesystem can be read-only.
            {"name": "HOME", "value": "/tmp"},
            {"name": "TEMP", "value": "/tmp"},
            {"name": "TMPDIR", "value": "/tmp"},
            {"name": "LOG_LOCATION", "value": LOG_DIR},
            {"name": "METRICS_LOCATION", "value": LOG_DIR},
        ],
        "ports": [
            {"name": "inference", "containerPort": INFERENCE_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        # /ping is 200 only once the model has its workers; loading may take minutes, hence the startup probe.
        "startupProbe": _probe("/ping", period=5, failures=60),
        "readinessProbe": _probe("/ping", period=5, failures=2),
        "livenessProbe": _probe("/ping", period=10, failures=6),
        "lifecycle": {"preStop": {"exec": {"command": PRESTOP_COMMAND}}},
        "resources": _resources(variant.serving),
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "model-store", "mountPath": MODEL_STORE},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "logs", "mountPath": LOG_DIR},
        ],
    }


def deployment(owner: Owner, variant: Variant) -> Manifest:
    name = vocabulary.variant_name(owner.name, variant.revision)
    fetch, extra_volumes = fetch_container(
        parse_storage_uri(variant.model.storage_uri),
        image=variant.serving.image,
        model_name=variant.model.name,
        model_version=variant.model.version,
        security_context=container_security_context(),
        digest=variant.model.digest,
    )
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        # Hundreds of Services in a namespace would otherwise become thousands of environment variables.
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "initContainers": [fetch],
        "containers": [_torchserve_container(variant)],
        "volumes": [
            {"name": "config", "configMap": {"name": name}},
            {"name": "model-store", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "logs", "emptyDir": {}},
            *extra_volumes,
        ],
    }
    return manifest(
        "apps/v1",
        "Deployment",
        metadata(owner, name, revision=variant.revision, extra_labels={vocabulary.LABEL_ROLE: variant.role}),
        spec={
            "selector": {"matchLabels": selector_labels(owner.name, variant.revision)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": vocabulary.labels(owner.name, variant.revision),
                    "annotations": scrape_annotations(METRICS_PORT),
                },
                "spec": pod_spec,
            },
        },
    )

"""The TorchServe Deployment: restricted pod security, the archive fetch, probes, resources, no replica field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from visionroll import vocabulary
from visionroll.api import VisionModelSpec
from visionroll.workloads import Owner, Variant
from visionroll.workloads.deployment import PRESTOP_SECONDS, SERVICE_PROPAGATION_SECONDS, deployment
from visionroll.workloads.storage import PROGRAM
from visionroll_serving.router.config import CONNECTION_MAX_AGE_SECONDS


def pod(dep: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = dep["spec"]["template"]["spec"]
    return spec


def test_name_labels_owner(owner: Owner, stable: Variant) -> None:
    dep = deployment(owner, stable)
    meta = dep["metadata"]
    assert meta["name"] == f"digits-{stable.revision}"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "visionroll"
    assert meta["labels"][vocabulary.LABEL_REVISION] == stable.revision
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "visionroll.io/v1alpha1",
            "kind": "VisionModel",
            "name": "digits",
            "uid": "0000-1111",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_replicas_are_left_to_the_hpa(owner: Owner, stable: Variant) -> None:
    assert "replicas" not in deployment(owner, stable)["spec"]


def test_role_is_not_in_the_pod_template_so_promotion_restarts_nothing(owner: Owner, stable: Variant) -> None:
    candidate = Variant("candidate", stable.revision, stable.model, stable.serving, weight=5)
    assert deployment(owner, stable)["spec"]["template"] == deployment(owner, candidate)["spec"]["template"]
    assert deployment(owner, stable)["spec"]["selector"] == deployment(owner, candidate)["spec"]["selector"]


def test_pod_security_restricted(owner: Owner, stable: Variant) -> None:
    p = pod(deployment(owner, stable))
    assert p["automountServiceAccountToken"] is False
    assert p["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for c in p["containers"] + p["initContainers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["runAsNonRoot"] is True and isinstance(sc["runAsUser"], int)
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"] for m in p["containers"][0]["volumeMounts"]}
    assert {"/tmp", "/home/model-server/logs", "/home/model-server/model-store"} <= mounts


def test_only_inference_and_metrics_ports(owner: Owner, stable: Variant) -> None:
    ports = pod(deployment(owner, stable))["containers"][0]["ports"]
    assert [(p["name"], p["containerPort"]) for p in ports] == [("inference", 8080), ("metrics", 8082)]


def test_probes_use_ping(owner: Owner, stable: Variant) -> None:
    c = pod(deployment(owner, stable))["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/ping", "port": "inference"}


def test_http_archive_is_downloaded_without_curl(owner: Owner, stable: Variant) -> None:
    p = pod(deployment(owner, stable))
    (fetch,) = p["initContainers"]
    assert fetch["command"] == ["python3"]
    assert fetch["args"][-2:] == [
        "https://models.example.com/digits-2.0.mar",
        "/home/model-server/model-store/digits.mar",
    ]
    assert not any("persistentVolumeClaim" in v for v in p["volumes"])


def test_the_fetch_refuses_an_archive_of_another_version_with_a_termination_message(
    owner: Owner, stable: Variant
) -> None:
    (fetch,) = pod(deployment(owner, stable))["initContainers"]
    args = fetch["args"]
    assert args[:2] == ["-c", PROGRAM]
    assert args[args.index("--model-name") + 1] == "digits"
    assert args[args.index("--model-version") + 1] == "2.0"
    assert args[args.index("--termination-log") + 1] == fetch["terminationMessagePath"] == "/dev/termination-log"
    assert fetch["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_pvc_archive_is_mounted_read_only_and_copied(make_spec: Callable[..., VisionModelSpec], owner: Owner) -> None:
    spec = make_spec(model={"name": "digits", "version": "3.0", "storageUri": "pvc://model-store/digits/d-3.mar"})
    variant = Variant("stable", "3-0-abcdef", spec.model, spec.serving, weight=100)
    p = pod(deployment(owner, variant))
    assert {"name": "model-source", "persistentVolumeClaim": {"claimName": "model-store", "readOnly": True}} in p[
        "volumes"
    ]
    (fetch,) = p["initContainers"]
    assert fetch["args"][-2] == "/mnt/visionroll-source/digits/d-3.mar"
    assert {"name": "model-source", "mountPath": "/mnt/visionroll-source", "readOnly": True} in fetch["volumeMounts"]


@pytest.mark.parametrize("uri", ["pvc://claim/../escape.mar", "pvc://claim/", "ftp://host/x.mar"])
def test_unusable_storage_uri_is_refused(make_spec: Callable[..., VisionModelSpec], owner: Owner, uri: str) -> None:
    spec = make_spec()
    model = spec.model.model_copy(update={"storage_uri": uri})
    with pytest.raises(ValueError, match="storageUri"):
        deployment(owner, Variant("stable", "x-000000", model, spec.serving))


def test_resources_and_gpus(make_spec: Callable[..., VisionModelSpec], owner: Owner) -> None:
    spec = make_spec(
        serving={"gpu": 2, "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}}}
    )
    variant = Variant("stable", "2-0-abcdef", spec.model, spec.serving)
    resources = pod(deployment(owner, variant))["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "2"},
        "limits": {"memory": "8Gi", "nvidia.com/gpu": "2"},
    }


def test_no_gpu_resource_without_gpus(owner: Owner, stable: Variant) -> None:
    resources = pod(deployment(owner, stable))["containers"][0]["resources"]
    assert "nvidia.com/gpu" not in resources.get("limits", {})


def test_torchserve_pods_outwait_the_routers_connections_then_stop_themselves(owner: Owner, stable: Variant) -> None:
    pod = deployment(owner, stable)["spec"]["template"]["spec"]
    (torchserve,) = pod["containers"]
    command = torchserve["lifecycle"]["preStop"]["exec"]["command"]
    assert command == ["/bin/sh", "-c", f"sleep {PRESTOP_SECONDS}; exec torchserve --stop"]
    assert PRESTOP_SECONDS >= CONNECTION_MAX_AGE_SECONDS + SERVICE_PROPAGATION_SECONDS
    # the grace period counts the preStop too: TorchServe's own stop must fit after the wait
    assert pod["terminationGracePeriodSeconds"] >= PRESTOP_SECONDS + 10

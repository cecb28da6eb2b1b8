"""On the real node: a revision whose archive is another version than `spec.model.version` never serves. The
operator's own Deployment (visionroll.workloads) runs the fetch-model init container in the serving image; it refuses
the digits 1.0 archive for a spec that says 2.0, the pod never becomes ready, and `failure_reasons` reads the
mismatch from the live pod's status, as the kubelet reports it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localkube import hostnet, images
from localkube.cluster import LocalCluster
from localkube.fileserver import serve_directory
from support.kube import wait
from visionroll import vocabulary
from visionroll.api import VisionModelSpec
from visionroll.reconcile.pods import failure_reasons
from visionroll.workloads import Owner, Variant, naming, serving_objects
from visionroll_serving import build as model_build

pytestmark = [pytest.mark.slow, pytest.mark.node]


@pytest.fixture
def archives_url(node_cluster: LocalCluster) -> Iterator[str]:
    """The digits archives, served from the host on the node's address (pods reach it, nothing else does)."""
    result = model_build.build()
    directory = next(iter(result.archives.values())).parent
    with serve_directory(directory, host=hostnet.NODE_IP) as url:
        yield url


def _variant_objects(storage_uri: str, version: str) -> tuple[str, str, list[dict[str, Any]]]:
    """(Deployment name, revision, objects) the operator builds for a stable variant of this model source."""
    spec = VisionModelSpec.model_validate(
        {
            "model": {"name": "digits", "version": version, "storageUri": storage_uri},
            "serving": {"image": images.SERVING_IMAGE, "workers": 1},
            "rollout": {"strategy": "immediate"},
        }
    )
    owner = Owner(name="digits", namespace="unused", uid="unused")
    revision = naming.revision(spec.model, spec.serving)
    variant = Variant("stable", revision, spec.model, spec.serving, weight=100)
    objects = serving_objects(owner, variant, spec.autoscaling)
    for obj in objects:
        # No VisionModel owns them here: the garbage collector would delete objects of a missing owner.
        obj["metadata"].pop("ownerReferences", None)
        obj["metadata"].pop("namespace", None)
    return vocabulary.variant_name(owner.name, revision), revision, objects


def test_an_archive_of_another_version_never_serves_and_the_pod_says_why(
    node_cluster: LocalCluster, node_namespace: str, archives_url: str
) -> None:
    ns = node_namespace
    archive = f"{archives_url}/digits-1.0.mar"
    name, revision, objects = _variant_objects(archive, "2.0")
    node_cluster.apply(objects, namespace=ns)

    def pods() -> list[dict[str, Any]]:
        listed = node_cluster.kubectl_json("get", "pods", "-n", ns, "-l", f"{vocabulary.LABEL_REVISION}={revision}")
        return list(listed["items"])

    reasons = wait(f"a failure reason for revision {revision}", lambda: failure_reasons(pods()) or None,
                   timeout=240, interval=2)  # fmt: skip
    assert reasons == {
        revision: f"init container fetch-model: archive {archive} is version '1.0' of model 'digits', "
        "but spec.model.version is '2.0'"
    }
    (fetch,) = pods()[0]["status"]["initContainerStatuses"]
    assert not fetch["ready"]
    deployment = node_cluster.kubectl_json("get", "deployment", name, "-n", ns)
    assert not deployment["status"].get("readyReplicas")

"""The kinds the operator reads and writes, and their REST paths. No discovery: the set is fixed and small."""

from __future__ import annotations

from dataclasses import dataclass

from visionroll.api import API_VERSION, KIND, PLURAL


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str

    def path(self, namespace: str, name: str | None = None, *, subresource: str | None = None) -> str:
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        path = f"{root}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path += f"/{name}"
        if subresource is not None:
            path += f"/{subresource}"
        return path


KINDS: dict[tuple[str, str], Kind] = {
    (k.api_version, k.kind): k
    for k in (
        Kind("v1", "ConfigMap", "configmaps"),
        Kind("v1", "Service", "services"),
        Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        Kind("v1", "Event", "events"),
        Kind("v1", "Pod", "pods"),
        Kind("apps/v1", "Deployment", "deployments"),
        Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        Kind("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes"),
        Kind(API_VERSION, KIND, PLURAL),
    )
}

VISIONMODEL = KINDS[(API_VERSION, KIND)]
PVC = KINDS[("v1", "PersistentVolumeClaim")]
EVENT = KINDS[("v1", "Event")]
DEPLOYMENT = KINDS[("apps/v1", "Deployment")]
POD = KINDS[("v1", "Pod")]

# What a VisionModel can own, in the order objects go down (pods last, so nothing they mount vanishes first).
OWNED: tuple[Kind, ...] = tuple(
    KINDS[k]
    for k in (
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("v1", "ConfigMap"),
    )
)


def kind_of(obj: dict[str, object]) -> Kind:
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    try:
        return KINDS[key]
    except KeyError:
        raise ValueError(f"visionroll does not manage {key[1]} ({key[0]})") from None

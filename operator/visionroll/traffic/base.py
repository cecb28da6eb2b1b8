"""What every traffic provider gets and gives.

A provider is pure: from a `TrafficPlan` (the weights and mirror from the status, the backends' Service names, and
the metadata every object must carry) it builds the objects that split client traffic, including the front Service
`<name>`. The reconcile layer applies them after the workloads are up and before old workloads go down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from visionroll.api.spec import GatewayApi

Manifest = dict[str, Any]
VariantName = Literal["stable", "candidate"]
DEFAULT_STICKY_HEADER = "x-visionroll-session"


@dataclass(frozen=True)
class Backend:
    """One serving variant as a traffic destination."""

    variant: VariantName
    revision: str
    version: str
    service: str
    """Name of the variant's Service (same namespace)."""
    port: int
    weight: int
    """Percent of live traffic."""


@dataclass(frozen=True)
class TrafficPlan:
    namespace: str
    visionmodel: str
    model: str
    """TorchServe model name (the path `/predictions/<model>`)."""
    backends: tuple[Backend, ...]
    metadata: Callable[..., dict[str, Any]]
    """`metadata(name, extra_labels=...)`: name, namespace, labels and owner reference for an owned object."""
    front_service: Callable[..., Manifest]
    """`front_service(selector=..., target_port=..., metrics_port=None)`: the client-facing Service `<visionmodel>`."""
    mirror_percent: int = 0
    """Percent of live traffic copied to the candidate (shadow); clients never see those answers."""
    paired_percent: float = 0
    """Percent of candidate-routed requests copied to stable to compare the top-1 answers on the same input
    (`spec.rollout.analysis.gates.agreement.pairedPercent`); copies are made only while both variants serve clients."""
    sticky_header: str = DEFAULT_STICKY_HEADER
    router_image: str = ""
    pod_security_context: dict[str, Any] = field(default_factory=dict)
    container_security_context: dict[str, Any] = field(default_factory=dict)
    gateway_api: GatewayApi | None = None

    def backend(self, variant: VariantName) -> Backend | None:
        return next((b for b in self.backends if b.variant == variant), None)


class TrafficProvider(Protocol):
    """Builds the objects that split traffic between stable and candidate."""

    name: str

    def objects(self, plan: TrafficPlan) -> list[Manifest]:
        """Every object this provider needs for the plan, in apply order; the front Service included."""
        ...

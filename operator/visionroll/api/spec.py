"""The VisionModel spec: what the user declares.

These pydantic models are the single source of the CRD schema (see `crdgen`). Cross-field rules are written twice on
purpose, once as CEL (`x-kubernetes-validations`, enforced by the API server at admission) and once as a pydantic
validator (enforced when Python code or the CLI builds a spec); `tests/unit/api` keeps the two in agreement.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic.alias_generators import to_camel

from visionroll.api.pods import SERVING_IMAGE

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
STORAGE_URI_PATTERN = r"^(https?|pvc)://[^\s]+$"
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$"

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `30s`, `1m30s`, `500ms`; raises ValueError naming the text."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m, 500ms")
    return sum(float(n) * _DURATION_UNITS[u] for n, _, u in re.findall(r"([0-9]+(\.[0-9]+)?)(ms|s|m|h)", text))


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


class Schema(BaseModel):
    """Base: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def wire(self) -> dict[str, Any]:
        """The JSON form a user would write (aliases, no unset optionals)."""
        return self.model_dump(by_alias=True, exclude_none=True)


def rules(*entries: dict[str, str]) -> ConfigDict:
    """A model config carrying CEL rules into the generated schema."""
    validations: list[JsonValue] = [dict(e) for e in entries]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})


Duration = str
Percent = Annotated[int, Field(ge=0, le=100)]
StepWeight = Annotated[int, Field(ge=1, le=100)]


class ModelSource(Schema):
    name: str = Field(pattern=DNS_LABEL_PATTERN, max_length=40, description="TorchServe model name.")
    version: str = Field(pattern=VERSION_PATTERN, description="Model version; a change starts a rollout.")
    storage_uri: str = Field(
        pattern=STORAGE_URI_PATTERN,
        max_length=2048,
        description="Where the model archive (.mar) is: http(s)://host/path.mar or pvc://claim-name/path.mar.",
    )


class ResourceList(Schema):
    cpu: str | None = Field(default=None, pattern=QUANTITY_PATTERN)
    memory: str | None = Field(default=None, pattern=QUANTITY_PATTERN)


class Resources(Schema):
    requests: ResourceList = Field(default_factory=lambda: ResourceList(cpu="500m", memory="1Gi"))
    limits: ResourceList = Field(default_factory=lambda: ResourceList(memory="2Gi"))


class Serving(Schema):
    image: str = Field(
        default=SERVING_IMAGE,
        min_length=1,
        description="TorchServe image: by default the serving image this project builds (serving/Dockerfile).",
    )
    workers: int = Field(default=1, ge=1, le=64, description="TorchServe workers per pod.")
    batch_size: int = Field(default=1, ge=1, le=256)
    max_batch_delay_ms: int = Field(default=20, ge=0, le=10000)
    response_timeout_seconds: int = Field(default=30, ge=1, le=600)
    resources: Resources = Field(default_factory=Resources)
    gpu: int = Field(default=0, ge=0, le=8, description="nvidia.com/gpu per pod.")


class Autoscaling(Schema):
    model_config = rules(
        cel("self.maxReplicas >= self.minReplicas", "maxReplicas must be >= minReplicas", ".maxReplicas"),
    )
    min_replicas: int = Field(default=1, ge=1, le=100)
    max_replicas: int = Field(default=3, ge=1, le=1000)
    target_cpu_utilization: int = Field(
        default=70, ge=1, le=100, alias="targetCPUUtilization", description="Percent of the CPU request."
    )
    target_requests_per_second: float | None = Field(default=None, gt=0, description="Per pod, from the router.")

    @model_validator(mode="after")
    def _replicas(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be >= minReplicas")
        return self


class ParentRef(Schema):
    name: str = Field(min_length=1)
    namespace: str | None = None
    section_name: str | None = None


class GatewayApi(Schema):
    parent_refs: list[ParentRef] = Field(min_length=1, max_length=8)
    hostnames: list[str] = Field(default_factory=list, max_length=16)


class Traffic(Schema):
    model_config = rules(
        cel(
            "self.provider != 'gateway-api' || has(self.gatewayApi)",
            "provider gateway-api needs the gatewayApi section",
            ".gatewayApi",
        ),
    )
    provider: Literal["router", "gateway-api"] = "router"
    sticky_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    gateway_api: GatewayApi | None = None

    @model_validator(mode="after")
    def _provider(self) -> Traffic:
        if self.provider == "gateway-api" and self.gateway_api is None:
            raise ValueError("provider gateway-api needs the gatewayApi section")
        return self


class Canary(Schema):
    model_config = rules(
        cel(
            "self.steps.isSorted() && self.steps.all(s, self.steps.exists_one(t, t == s))",
            "steps must be strictly increasing",
            ".steps",
        ),
    )
    steps: list[StepWeight] = Field(default_factory=lambda: [5, 25, 50, 100], min_length=1, max_length=20)
    step_duration: Duration = Field(default="30s", pattern=DURATION_PATTERN)

    @model_validator(mode="after")
    def _steps(self) -> Canary:
        if any(b <= a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("steps must be strictly increasing")
        return self


class Shadow(Schema):
    mirror_percent: int = Field(default=100, ge=1, le=100)
    duration: Duration = Field(default="5m", pattern=DURATION_PATTERN)
    then_promote: Literal["direct", "canary"] = "direct"


class Split(Schema):
    model_config = rules(
        cel("self.weights.sum() == 100", "weights must sum to 100", ".weights"),
    )
    weights: list[Percent] = Field(
        default_factory=lambda: [50, 50], min_length=2, max_length=2, description="[stable, candidate] percentages."
    )
    duration: Duration = Field(default="30m", pattern=DURATION_PATTERN)
    decide: Literal["auto", "manual"] = "auto"

    @model_validator(mode="after")
    def _weights(self) -> Split:
        if sum(self.weights) != 100:
            raise ValueError("weights must sum to 100")
        return self


class LatencyGate(Schema):
    model_config = rules(
        cel("has(self.maxMs) || has(self.maxRatioToStable)", "latencyP99 needs maxMs or maxRatioToStable"),
    )
    max_ms: float | None = Field(default=None, gt=0)
    max_ratio_to_stable: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one(self) -> LatencyGate:
        if self.max_ms is None and self.max_ratio_to_stable is None:
            raise ValueError("latencyP99 needs maxMs or maxRatioToStable")
        return self


class ErrorRateGate(Schema):
    max: float = Field(ge=0, le=1, description="Highest acceptable candidate error rate (5xx and failed requests).")
    confidence: float = Field(
        default=0.95, ge=0.5, lt=1, description="Confidence of the one-sided test that the rate exceeds max."
    )


class DriftGate(Schema):
    method: Literal["jensen-shannon"] = "jensen-shannon"
    max: float = Field(ge=0, le=1, description="Largest Jensen-Shannon divergence (base 2) of predicted classes.")


class AgreementGate(Schema):
    min: float = Field(ge=0, le=1, description="Lowest shadow top-1 agreement with stable on the same input.")


class CustomGate(Schema):
    model_config = rules(
        cel("has(self.min) || has(self.max)", "a custom gate needs min or max"),
        cel("!has(self.min) || !has(self.max) || self.min <= self.max", "min must be <= max", ".min"),
    )
    name: str = Field(pattern=DNS_LABEL_PATTERN, max_length=40)
    query: str = Field(min_length=1, max_length=4096, description="PromQL returning one number; may use {{.*}} vars.")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> CustomGate:
        if self.min is None and self.max is None:
            raise ValueError("a custom gate needs min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must be <= max")
        return self


class Gates(Schema):
    model_config = rules(
        cel(
            "self.custom.all(c, self.custom.exists_one(d, d.name == c.name))",
            "custom gate names must be unique",
            ".custom",
        ),
    )
    latency_p99: LatencyGate | None = None
    error_rate: ErrorRateGate | None = None
    drift: DriftGate | None = None
    agreement: AgreementGate | None = None
    custom: list[CustomGate] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _unique(self) -> Gates:
        names = [c.name for c in self.custom]
        if len(names) != len(set(names)):
            raise ValueError("custom gate names must be unique")
        return self


class Analysis(Schema):
    interval: Duration = Field(default="10s", pattern=DURATION_PATTERN)
    min_samples: int = Field(default=200, ge=1, description="Per gate and window; fewer is inconclusive.")
    failure_limit: int = Field(default=2, ge=1, le=100)
    inconclusive_limit: int = Field(default=3, ge=1, le=100)
    on_inconclusive: Literal["rollback", "pause"] = "rollback"
    gates: Gates = Field(default_factory=Gates)


class Rollout(Schema):
    model_config = rules(
        cel("self.strategy != 'canary' || has(self.canary)", "strategy canary needs the canary section", ".canary"),
        cel("self.strategy != 'shadow' || has(self.shadow)", "strategy shadow needs the shadow section", ".shadow"),
        cel("self.strategy != 'split' || has(self.split)", "strategy split needs the split section", ".split"),
        cel(
            "self.strategy != 'shadow' || !has(self.shadow) || self.shadow.thenPromote != 'canary' || has(self.canary)",
            "shadow.thenPromote canary needs the canary section",
            ".canary",
        ),
        cel(
            "!has(self.analysis.gates.agreement) || self.strategy == 'shadow'",
            "the agreement gate needs strategy shadow (only mirrored traffic is compared)",
            ".analysis.gates.agreement",
        ),
    )
    strategy: Literal["canary", "shadow", "split", "immediate"] = "canary"
    canary: Canary | None = None
    shadow: Shadow | None = None
    split: Split | None = None
    progress_deadline: Duration = Field(
        default="30m", pattern=DURATION_PATTERN, description="A rollout still running after this is reported stuck."
    )
    analysis: Analysis = Field(default_factory=Analysis)

    @model_validator(mode="after")
    def _sections(self) -> Rollout:
        for name in ("canary", "shadow", "split"):
            if self.strategy == name and getattr(self, name) is None:
                raise ValueError(f"strategy {name} needs the {name} section")
        if self.strategy == "shadow" and self.shadow and self.shadow.then_promote == "canary" and self.canary is None:
            raise ValueError("shadow.thenPromote canary needs the canary section")
        if self.analysis.gates.agreement is not None and self.strategy != "shadow":
            raise ValueError("the agreement gate needs strategy shadow (only mirrored traffic is compared)")
        return self


class VisionModelSpec(Schema):
    model: ModelSource
    serving: Serving = Field(default_factory=Serving)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    traffic: Traffic = Field(default_factory=Traffic)
    rollout: Rollout

"""The VisionModel spec: what the user declares.

These pydantic models are the single source of the CRD schema (generated at build time by `visionroll_build.crd`).
Rules are written twice on purpose, once as CEL (`x-kubernetes-validations`, enforced by the API server at admission)
and once in Python (enforced when Python code or the CLI builds a spec); `rules` holds the helpers that keep the two
alike, and the one case table in tests/support/api_cases.py runs against both. Every bound says why in the field's
description: a value past it is one the operator cannot act on, or one no real deployment needs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from visionroll.api.pods import SERVING_IMAGE
from visionroll.api.rules import (
    DURATION_PATTERN,
    IMAGE_CHECKS,
    QUANTITY_PATTERN,
    STORAGE_URI_CHECKS,
    STORAGE_URI_PATTERN,
    cel,
    checked,
    duration_between,
    matches,
    quantity,
    quantity_between,
    rules,
    whole_quantity,
)

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
GATEWAY_HOSTNAME_PATTERN = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"

# The VisionModel's name names what it owns: `<name>-<revision>` (Deployment, Service, HPA, PDB, ConfigMap),
# `<name>-router` and `<name>-routing`. A Service name is a DNS-1035 label (a lowercase letter first) of at most 63
# characters, and a revision (workloads/naming.py) is at most 27: a 20-character version slug, '-', 6 hex digits.
# 30 + 1 + 27 = 58 leaves room; tests/unit/api/test_names.py checks these numbers against naming.py.
NAME_MAX = 30
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAME_RULES = (
    cel(
        f"size(self.metadata.name) <= {NAME_MAX}",
        f"metadata.name must be at most {NAME_MAX} characters (owned objects derive their names)",
    ),
    cel(
        f"self.metadata.name.matches(r'{NAME_PATTERN}')",
        "metadata.name must start with a lowercase letter and hold only lowercase letters, digits and '-' "
        "(a DNS-1035 label: Services are named after it)",
    ),
)


def check_name(name: str) -> None:
    """The root rules NAME_RULES in Python: ValueError with the same messages."""
    failed = []
    if len(name) > NAME_MAX:
        failed.append(NAME_RULES[0]["message"])
    if not matches(NAME_PATTERN, name):
        failed.append(NAME_RULES[1]["message"])
    if failed:
        raise ValueError("; ".join(failed))


class Schema(BaseModel):
    """Base: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def wire(self) -> dict[str, Any]:
        """The JSON form a user would write (aliases, no unset optionals)."""
        return self.model_dump(by_alias=True, exclude_none=True)


def _duration(field: str, low: str, high: str) -> tuple[Any, ...]:
    """`Annotated` metadata of a duration field: the pattern, and [low, high] in CEL and Python."""
    return checked(duration_between(field, low, high), pattern=DURATION_PATTERN, max_length=32)


# Why these bounds: an interval is how often Prometheus is asked (its own scrape interval is seconds; more than an
# hour between looks is no watch at all); a canary step waits for evidence at one weight (a day is the longest
# anyone waits at one step); a shadow or split stage is an experiment (a week); the progress deadline must outlast
# the longest rollout one can declare (20 steps of a day) for its "stuck" alert to mean anything.
Interval = Annotated[str, *_duration("interval", "1s", "1h")]
StepDuration = Annotated[str, *_duration("stepDuration", "1s", "24h")]
ShadowDuration = Annotated[str, *_duration("shadow.duration", "1s", "168h")]
SplitDuration = Annotated[str, *_duration("split.duration", "1s", "168h")]
ProgressDeadline = Annotated[str, *_duration("progressDeadline", "1s", "720h")]
# A pod's CPU (cores) and memory: a request of nothing cannot be scheduled as meant (and the autoscaler's
# targetCPUUtilization is a percent of the CPU request); 512 cores or 4Ti is far past what one model server uses.
Cpu = Annotated[str, *checked(quantity_between("cpu", "1m", "512"), pattern=QUANTITY_PATTERN, max_length=32)]
# Memory is counted in whole bytes: the API server warns that a fractional byte value is invalid.
Memory = Annotated[
    str,
    *checked(
        quantity_between("memory", "1Mi", "4Ti"),
        whole_quantity("memory", "bytes"),
        pattern=QUANTITY_PATTERN,
        max_length=32,
    ),
]
StepWeight = Annotated[int, Field(ge=1, le=100)]
SplitWeight = Annotated[int, Field(ge=1, le=99)]
GatewayHostname = Annotated[str, Field(pattern=GATEWAY_HOSTNAME_PATTERN, max_length=253)]


class ModelSource(Schema):
    name: str = Field(pattern=DNS_LABEL_PATTERN, max_length=40, description="TorchServe model name.")
    version: str = Field(pattern=VERSION_PATTERN, description="Model version; a change starts a rollout.")
    storage_uri: Annotated[str, *checked(*STORAGE_URI_CHECKS, pattern=STORAGE_URI_PATTERN, max_length=2048)] = Field(
        description="Where the model archive (.mar) is: http(s)://host[:port]/path.mar (no user@, no '..' segments, "
        "not a link-local or cloud metadata address) or pvc://claim-name/path/in/claim.mar."
    )
    digest: str | None = Field(
        default=None,
        pattern=DIGEST_PATTERN,
        description="sha256:<64 lowercase hex digits> of the archive file. A model archive is code (its handler runs "
        "in TorchServe): the fetch-model init container refuses an archive with another digest, and the revision "
        "never serves. Strongly advised for http:// sources (nothing else protects the download); admitted "
        "without it, with a warning (docs/security.md).",
    )


class ResourceList(Schema):
    cpu: Cpu | None = Field(default=None, description="Cores, 1m to 512.")
    memory: Memory | None = Field(default=None, description="Bytes, 1Mi to 4Ti.")


class Resources(Schema):
    model_config = rules(
        cel(
            "has(self.requests.cpu) || has(self.limits.cpu)",
            "requests.cpu is needed: autoscaling.targetCPUUtilization is a percent of it",
            ".requests",
        ),
        cel(
            "!has(self.requests.cpu) || !has(self.limits.cpu) || !isQuantity(self.requests.cpu) || "
            "!isQuantity(self.limits.cpu) || quantity(self.requests.cpu).compareTo(quantity(self.limits.cpu)) <= 0",
            "requests.cpu must be <= limits.cpu",
            ".requests.cpu",
        ),
        cel(
            "!has(self.requests.memory) || !has(self.limits.memory) || !isQuantity(self.requests.memory) || "
            "!isQuantity(self.limits.memory) || "
            "quantity(self.requests.memory).compareTo(quantity(self.limits.memory)) <= 0",
            "requests.memory must be <= limits.memory",
            ".requests.memory",
        ),
    )
    requests: ResourceList = Field(
        default_factory=lambda: ResourceList(cpu="500m", memory="1Gi"),
        description="Needs cpu (or limits.cpu, which Kubernetes then also requests).",
    )
    limits: ResourceList = Field(
        default_factory=lambda: ResourceList(memory="2Gi"),
        description="Each at least its request; the default memory limit is 2Gi, so a larger request needs a limit.",
    )

    @model_validator(mode="after")
    def _requests(self) -> Resources:
        failed = []
        if self.requests.cpu is None and self.limits.cpu is None:
            failed.append("requests.cpu is needed: autoscaling.targetCPUUtilization is a percent of it")
        for name in ("cpu", "memory"):
            asked, limit = getattr(self.requests, name), getattr(self.limits, name)
            if asked is not None and limit is not None and quantity(asked) > quantity(limit):
                failed.append(f"requests.{name} must be <= limits.{name}")
        if failed:
            raise ValueError("; ".join(failed))
        return self


class Serving(Schema):
    image: Annotated[str, *checked(*IMAGE_CHECKS, max_length=1024)] = Field(
        default=SERVING_IMAGE,
        description="TorchServe image reference: by default the serving image this project builds "
        "(serving/Dockerfile).",
    )
    workers: int = Field(default=1, ge=1, le=64, description="TorchServe workers per pod, 1 to 64.")
    batch_size: int = Field(default=1, ge=1, le=256, description="Requests per TorchServe batch, 1 to 256.")
    max_batch_delay_ms: int = Field(
        default=20, ge=0, le=10000, description="Longest wait to fill a batch, 0 to 10000 ms."
    )
    response_timeout_seconds: int = Field(
        default=30, ge=1, le=600, description="TorchServe's response timeout, 1 to 600 s."
    )
    resources: Resources = Field(default_factory=Resources)
    gpu: int = Field(default=0, ge=0, le=8, description="nvidia.com/gpu per pod, 0 to 8.")


# Requests-per-second autoscaling was in the API before any metrics pipeline could serve the router's request rate to
# an HPA (that needs a custom-metrics adapter such as prometheus-adapter, which this project does not ship). The field
# stays in the schema only so that a spec still setting it is refused with this reason rather than pruned in silence.
RETIRED_REQUESTS_TARGET = (
    "targetRequestsPerSecond is not supported: autoscaling is on CPU only (targetCPUUtilization); "
    "no custom-metrics pipeline serves the router's request rate to the HPA"
)


class Autoscaling(Schema):
    model_config = rules(
        cel("self.maxReplicas >= self.minReplicas", "maxReplicas must be >= minReplicas", ".maxReplicas"),
        cel("!has(self.targetRequestsPerSecond)", RETIRED_REQUESTS_TARGET, ".targetRequestsPerSecond"),
    )
    min_replicas: int = Field(default=1, ge=1, le=100, description="1 to 100.")
    max_replicas: int = Field(default=3, ge=1, le=1000, description="1 to 1000, at least minReplicas.")
    target_cpu_utilization: int = Field(
        default=70, ge=1, le=100, alias="targetCPUUtilization", description="Percent of the CPU request, 1 to 100."
    )
    target_requests_per_second: float | None = Field(
        default=None, description="Not supported, refused when set: autoscaling is on CPU only."
    )

    @field_validator("target_requests_per_second")
    @classmethod
    def _retired(cls, value: float | None) -> float | None:
        if value is not None:
            raise ValueError(RETIRED_REQUESTS_TARGET)
        return value

    @model_validator(mode="after")
    def _replicas(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be >= minReplicas")
        return self


class ParentRef(Schema):
    """A Gateway API parentReference (its own name, namespace and sectionName rules)."""

    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = Field(default=None, pattern=DNS_LABEL_PATTERN, max_length=63)
    section_name: str | None = Field(default=None, pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)


class GatewayApi(Schema):
    parent_refs: list[ParentRef] = Field(min_length=1, max_length=8)
    hostnames: list[GatewayHostname] = Field(
        default_factory=list, max_length=16, description="HTTPRoute hostnames (Gateway API's hostname rule)."
    )


class Traffic(Schema):
    model_config = rules(
        cel(
            "self.provider != 'gateway-api' || has(self.gatewayApi)",
            "provider gateway-api needs the gatewayApi section",
            ".gatewayApi",
        ),
        cel(
            "self.provider != 'gateway-api' || !has(self.stickyHeader)",
            "stickyHeader needs provider router: gateway-api does not keep a session on one variant",
            ".stickyHeader",
        ),
    )
    provider: Literal["router", "gateway-api"] = Field(
        default="router",
        description="router (the built-in router: weights, mirroring, sticky sessions, the metrics every built-in "
        "gate reads) or gateway-api (an HTTPRoute with weights only).",
    )
    sticky_header: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="Router only: requests with the same value stay on one variant.",
    )
    gateway_api: GatewayApi | None = None

    @model_validator(mode="after")
    def _provider(self) -> Traffic:
        failed = []
        if self.provider == "gateway-api" and self.gateway_api is None:
            failed.append("provider gateway-api needs the gatewayApi section")
        if self.provider == "gateway-api" and self.sticky_header is not None:
            failed.append("stickyHeader needs provider router: gateway-api does not keep a session on one variant")
        if failed:
            raise ValueError("; ".join(failed))
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
    step_duration: StepDuration = Field(default="30s", description="Time at each step, 1s to 24h.")

    @model_validator(mode="after")
    def _steps(self) -> Canary:
        if any(b <= a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("steps must be strictly increasing")
        return self


class Shadow(Schema):
    mirror_percent: int = Field(default=100, ge=1, le=100, description="Percent of live traffic copied, 1 to 100.")
    duration: ShadowDuration = Field(default="5m", description="1s to 168h (a week).")
    then_promote: Literal["direct", "canary"] = "direct"


class Split(Schema):
    model_config = rules(
        cel("self.weights.sum() == 100", "weights must sum to 100", ".weights"),
    )
    weights: list[SplitWeight] = Field(
        default_factory=lambda: [50, 50],
        min_length=2,
        max_length=2,
        description="[stable, candidate] percentages, each 1 to 99: both variants get traffic.",
    )
    duration: SplitDuration = Field(default="30m", description="1s to 168h (a week).")
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
    max_ms: float | None = Field(
        default=None, gt=0, le=600000, description="Highest p99 in ms, up to 600000 (responseTimeoutSeconds' cap)."
    )
    max_ratio_to_stable: float | None = Field(
        default=None, gt=0, le=100, description="Highest candidate p99 / stable p99, up to 100."
    )

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
    max: float = Field(
        ge=0,
        le=1,
        description="Largest Jensen-Shannon divergence (base 2) of predicted classes, candidate vs stable; judged by "
        "confidence bounds that widen with the number of classes, never by the raw (upward-biased) divergence.",
    )


class AgreementGate(Schema):
    min: float = Field(ge=0, le=1, description="Lowest top-1 agreement with stable on the same input.")
    paired_percent: float = Field(
        default=0,
        ge=0,
        le=100,
        description="Share of candidate-routed requests (canary, split) the router also sends to stable to compare "
        "top-1 answers; 0 = none, and agreement then judges shadow stages only.",
    )


class AccuracyGate(Schema):
    model_config = rules(
        cel("has(self.min) || has(self.maxDropVsStable)", "accuracy needs min or maxDropVsStable"),
    )
    min: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Lowest candidate accuracy (top-1 correct / labels) on the ground-truth labels sent to the "
        "router's POST /feedback; judged by confidence bounds, inconclusive until enough labels arrive.",
    )
    max_drop_vs_stable: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Largest accuracy drop allowed against stable (stable accuracy - candidate accuracy) on labels "
        "of both variants' live answers; stable must serve live traffic in the stage.",
    )

    @model_validator(mode="after")
    def _one(self) -> AccuracyGate:
        if self.min is None and self.max_drop_vs_stable is None:
            raise ValueError("accuracy needs min or maxDropVsStable")
        return self


class RecallGate(Schema):
    min: float = Field(
        ge=0,
        le=1,
        description="Lowest recall of the candidate's worst class (correct / labels of that true class) on the "
        "ground-truth labels sent to POST /feedback; every class labelled so far is bounded.",
    )


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
    accuracy: AccuracyGate | None = None
    recall: RecallGate | None = None
    custom: list[CustomGate] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _unique(self) -> Gates:
        names = [c.name for c in self.custom]
        if len(names) != len(set(names)):
            raise ValueError("custom gate names must be unique")
        return self


class Analysis(Schema):
    interval: Interval = Field(default="10s", description="Time between analyses, 1s to 1h.")
    min_samples: int = Field(
        default=200,
        ge=1,
        le=100000,
        description="Per gate, counted over the stage so far, 1 to 100000; fewer is inconclusive.",
    )
    failure_limit: int = Field(default=2, ge=1, le=100, description="1 to 100.")
    inconclusive_limit: int = Field(default=3, ge=1, le=100, description="1 to 100.")
    on_inconclusive: Literal["rollback", "pause"] = "rollback"
    gates: Gates = Field(default_factory=Gates)


# Labels (POST /feedback) count only for answers clients got: a candidate that is only shadowed gets none.
_LABELS_NEED_LIVE = (
    "the accuracy and recall gates judge labelled live answers: strategy shadow needs thenPromote canary for them"
)


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
            "!has(self.analysis.gates.agreement) || self.strategy == 'shadow' || "
            "(has(self.analysis.gates.agreement.pairedPercent) && self.analysis.gates.agreement.pairedPercent > 0)",
            "the agreement gate needs strategy shadow, or pairedPercent > 0 (only copies of one input are compared)",
            ".analysis.gates.agreement",
        ),
        cel(
            "(!has(self.analysis.gates.accuracy) && !has(self.analysis.gates.recall)) || self.strategy != 'shadow' || "
            "!has(self.shadow) || self.shadow.thenPromote == 'canary'",
            _LABELS_NEED_LIVE,
            ".analysis.gates",
        ),
    )
    strategy: Literal["canary", "shadow", "split", "immediate"] = "canary"
    canary: Canary | None = None
    shadow: Shadow | None = None
    split: Split | None = None
    progress_deadline: ProgressDeadline = Field(
        default="30m",
        description="A rollout still running after this is reported stuck; 1s to 720h (30 days, longer than the "
        "longest rollout one can declare).",
    )
    analysis: Analysis = Field(default_factory=Analysis)

    @model_validator(mode="after")
    def _sections(self) -> Rollout:
        for name in ("canary", "shadow", "split"):
            if self.strategy == name and getattr(self, name) is None:
                raise ValueError(f"strategy {name} needs the {name} section")
        if self.strategy == "shadow" and self.shadow and self.shadow.then_promote == "canary" and self.canary is None:
            raise ValueError("shadow.thenPromote canary needs the canary section")
        labelled = self.analysis.gates.accuracy is not None or self.analysis.gates.recall is not None
        if labelled and self.strategy == "shadow" and self.shadow and self.shadow.then_promote != "canary":
            raise ValueError(_LABELS_NEED_LIVE)
        agreement = self.analysis.gates.agreement
        if agreement is not None and self.strategy != "shadow" and agreement.paired_percent <= 0:
            raise ValueError(
                "the agreement gate needs strategy shadow, or pairedPercent > 0 (only copies of one input are compared)"
            )
        return self


# What the gateway-api provider cannot do (traffic/gateway_api.py builds one HTTPRoute with weighted backends, no
# router): mirror traffic, and yield the router's metrics (metrics/queries.py), which the built-in latencyP99,
# errorRate and drift gates read (without them every analysis is inconclusive and every rollout rolled back).
_ROUTER_GATES = ("latencyP99", "errorRate", "drift", "agreement", "accuracy", "recall")
_GATEWAY_CANNOT_MIRROR = "strategy shadow needs provider router: gateway-api cannot mirror traffic"
_GATEWAY_CANNOT_MEASURE = (
    "provider gateway-api cannot measure the latencyP99, errorRate, drift, agreement, accuracy and recall gates "
    "(they read the router's metrics, copies and labels); use custom gates"
)
_GATEWAY_NEEDS_GATES = (
    "provider gateway-api needs custom gates for a gated strategy: the default gates read the router's metrics"
)


class VisionModelSpec(Schema):
    model_config = rules(
        cel(
            "self.traffic.provider != 'gateway-api' || self.rollout.strategy != 'shadow'",
            _GATEWAY_CANNOT_MIRROR,
            ".rollout.strategy",
        ),
        cel(
            "self.traffic.provider != 'gateway-api' || self.rollout.strategy == 'immediate' || "
            + " && ".join(f"!has(self.rollout.analysis.gates.{g})" for g in _ROUTER_GATES),
            _GATEWAY_CANNOT_MEASURE,
            ".rollout.analysis.gates",
        ),
        cel(
            "self.traffic.provider != 'gateway-api' || self.rollout.strategy == 'immediate' || "
            "(has(self.rollout.analysis.gates.custom) && size(self.rollout.analysis.gates.custom) > 0)",
            _GATEWAY_NEEDS_GATES,
            ".rollout.analysis.gates",
        ),
    )
    model: ModelSource
    serving: Serving = Field(default_factory=Serving)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    traffic: Traffic = Field(default_factory=Traffic)
    rollout: Rollout

    @model_validator(mode="after")
    def _provider_can(self) -> VisionModelSpec:
        if self.traffic.provider != "gateway-api":
            return self
        failed = []
        if self.rollout.strategy == "shadow":
            failed.append(_GATEWAY_CANNOT_MIRROR)
        gates = self.rollout.analysis.gates
        if self.rollout.strategy != "immediate" and (
            gates.latency_p99 or gates.error_rate or gates.drift or gates.agreement or gates.accuracy or gates.recall
        ):
            failed.append(_GATEWAY_CANNOT_MEASURE)
        if self.rollout.strategy != "immediate" and not gates.custom:
            failed.append(_GATEWAY_NEEDS_GATES)
        if failed:
            raise ValueError("; ".join(failed))
        return self

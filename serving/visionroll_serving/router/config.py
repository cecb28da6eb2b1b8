"""router.json (docs/contracts.md): its schema (`RouterJson`, pydantic), which the operator builds the document with
(visionroll/traffic/router.py). The router (serving/router, Go) parses it with the same rules and names the field it
refuses; tests/integration/serving/test_router_config.py holds the two to the same verdict on every case.

The schema is pure, pydantic and the standard library only: the operator imports this module, and its image carries
it (and nothing else of the data plane).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

ROLES = ("stable", "candidate")
Role = Literal["stable", "candidate"]
Text = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]
Weight = Annotated[int, Field(strict=True, ge=0, le=100)]
Percent = Annotated[float, Field(strict=True, ge=0, le=100)]

# Not a field of the document, but the other half of the same contract: the router replaces every connection to an
# upstream within this many seconds of opening it (serving/router/upstream.go, ConnectionMaxAgeSeconds; a test holds
# the two equal), and the operator has TorchServe pods wait longer than that before they stop
# (visionroll.workloads.deployment.PRESTOP_SECONDS).
CONNECTION_MAX_AGE_SECONDS = 5.0


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    def wire(self) -> dict[str, Any]:
        """The JSON document, with the field names router.json spells."""
        return self.model_dump(mode="json", by_alias=True)


class VariantSpec(_Wire):
    """One entry of `variants`: a revision's Service and its share of live traffic (percent)."""

    name: Role
    revision: Text
    version: Text
    upstream: Text
    """`scheme://host:port` of the variant's Service."""
    weight: Weight

    @field_validator("upstream")
    @classmethod
    def _scheme_host_port(cls, upstream: str) -> str:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be scheme://host:port only")
        return f"{parts.scheme}://{parts.netloc}"


class ShadowSpec(_Wire):
    """Live traffic copied to `variant` (percent); clients never see those answers."""

    variant: Role
    percent: Percent


class PairedSpec(_Wire):
    """Paired copies: after a live answer, the same body goes to the other variant and the two top-1 answers are
    compared. `candidatePercent` of candidate-routed requests are copied to stable, `stablePercent` of stable-routed
    requests to the candidate."""

    model_config = ConfigDict(extra="forbid")

    candidate_percent: Percent = Field(default=0.0, alias="candidatePercent")
    stable_percent: Percent = Field(default=0.0, alias="stablePercent")


StickyHeader = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, to_lower=True, min_length=1)]


class RouterJson(_Wire):
    """The whole of router.json. Other top-level fields are ignored."""

    namespace: Text
    visionmodel: Text
    model: Text
    """TorchServe's model name: the path `/predictions/<model>`."""
    variants: list[VariantSpec] = Field(min_length=1)
    """Weights sum to 100; a variant with weight 0 is listed but gets no live traffic."""
    shadow: ShadowSpec | None = None
    paired: PairedSpec | None = None
    sticky_header: StickyHeader | None = Field(default=None, alias="stickyHeader")
    """Requests with the same value of this header go to the same variant."""

    @model_validator(mode="after")
    def _consistent(self) -> RouterJson:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variants: names must be unique, got {names}")
        total = sum(v.weight for v in self.variants)
        if total != 100:
            raise ValueError(f"variants[*].weight: must sum to 100, got {total}")
        if self.shadow is not None and self.shadow.variant not in names:
            raise ValueError(f"shadow.variant: must name one of the variants {names}, got {self.shadow.variant!r}")
        paired = self.paired
        if paired is not None and (paired.candidate_percent or paired.stable_percent) and set(ROLES) - set(names):
            raise ValueError(f"paired: copies need both variants {list(ROLES)}, got {names}")
        return self

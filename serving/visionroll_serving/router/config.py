"""router.json (docs/contracts.md): its one schema (`RouterJson`, pydantic), which the operator builds
(visionroll/traffic/router.py) and the router parses into frozen values (`RouterConfig`); anything invalid raises
ConfigError naming the field.

The schema is pure, pydantic and the standard library only: the operator imports this module, and its image carries
it (and nothing else of the data plane).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

ROLES = ("stable", "candidate")
Role = Literal["stable", "candidate"]
Text = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]
Weight = Annotated[int, Field(strict=True, ge=0, le=100)]
Percent = Annotated[float, Field(strict=True, ge=0, le=100)]

# Not a field of the document, but the other half of the same contract: the router replaces every connection to an
# upstream within this many seconds of opening it (router/upstream.py), and the operator has TorchServe pods wait
# longer than that before they stop (visionroll.workloads.deployment.PRESTOP_SECONDS).
CONNECTION_MAX_AGE_SECONDS = 5.0


class ConfigError(ValueError):
    """The routing config is invalid; the message names the field."""


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


@dataclass(frozen=True)
class Variant:
    name: str
    revision: str
    version: str
    upstream: str
    weight: int


@dataclass(frozen=True)
class Shadow:
    variant: str
    percent: float


@dataclass(frozen=True)
class Paired:
    """Paired copies (`PairedSpec`) as the router applies them."""

    candidate_percent: float
    stable_percent: float = 0.0


@dataclass(frozen=True)
class RouterConfig:
    """A validated router.json as the request path reads it, upstreams resolved."""

    namespace: str
    visionmodel: str
    model: str
    variants: tuple[Variant, ...]
    shadow: Shadow | None = None
    sticky_header: str | None = None
    paired: Paired | None = None

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(name)


def parse_config(text: str | bytes, *, resolve: Mapping[str, str] | None = None) -> RouterConfig:
    """Parses and validates router.json; `resolve` rewrites upstream "HOST:PORT" to "IP:PORT" (curl-like)."""
    try:
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"router.json is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError("router.json must be a JSON object")
    try:
        spec = RouterJson.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None
    return RouterConfig(
        namespace=spec.namespace,
        visionmodel=spec.visionmodel,
        model=spec.model,
        variants=tuple(
            Variant(v.name, v.revision, v.version, resolve_upstream(v.upstream, resolve or {}), v.weight)
            for v in spec.variants
        ),
        shadow=Shadow(spec.shadow.variant, spec.shadow.percent) if spec.shadow else None,
        sticky_header=spec.sticky_header,
        paired=Paired(spec.paired.candidate_percent, spec.paired.stable_percent) if spec.paired else None,
    )


def _first_error(exc: ValidationError) -> str:
    """`<field>: <what is wrong>, got <value>`, the field as router.json spells it (`variants[0].weight`)."""
    error = exc.errors()[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "model_type":
        message = "must be an object or null"
    if error["type"] == "value_error" and not where:
        return message  # a rule over several fields: the message names them
    if error["type"] == "extra_forbidden":
        section, _, unknown = where.rpartition(".")
        return f"{section}: unknown field {unknown!r}"
    got = "" if error["type"] == "missing" else f", got {error['input']!r}"
    return f"{where}: {message}{got}"


def resolve_upstream(upstream: str, resolve: Mapping[str, str]) -> str:
    parts = urlsplit(upstream)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = resolve.get(f"{parts.hostname}:{port}")
    return urlunsplit((parts.scheme, target, "", "", "")) if target else upstream


def parse_resolve(entries: list[str]) -> dict[str, str]:
    """`HOST:PORT=IP:PORT` entries, as given on the command line."""
    mapping: dict[str, str] = {}
    for entry in entries:
        source, sep, target = entry.partition("=")
        if not sep or ":" not in source or ":" not in target:
            raise ConfigError(f"--resolve {entry!r}: expected HOST:PORT=IP:PORT")
        mapping[source.strip().lower()] = target.strip()
    return mapping

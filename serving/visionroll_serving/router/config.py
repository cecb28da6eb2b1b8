"""router.json (docs/contracts.md), parsed into frozen values; anything invalid raises ConfigError with the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROLES = ("stable", "candidate")


class ConfigError(ValueError):
    """The routing config is invalid; the message names the field."""


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
    """Paired copies (docs/contracts.md): after a live answer, the same body goes to the other variant and the two
    top-1 answers are compared. `candidate_percent` of candidate-routed requests are copied to stable,
    `stable_percent` of stable-routed requests to the candidate."""

    candidate_percent: float
    stable_percent: float = 0.0


@dataclass(frozen=True)
class RouterConfig:
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
    variants_raw = raw.get("variants")
    if not isinstance(variants_raw, list) or not variants_raw:
        raise ConfigError("variants: must be a non-empty list")
    variants = tuple(_variant(item, i, resolve or {}) for i, item in enumerate(variants_raw))
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"variants: names must be unique, got {names}")
    total = sum(v.weight for v in variants)
    if total != 100:
        raise ConfigError(f"variants[*].weight: must sum to 100, got {total}")
    sticky = raw.get("stickyHeader")
    if sticky is not None and (not isinstance(sticky, str) or not sticky.strip()):
        raise ConfigError("stickyHeader: must be a non-empty header name or absent")
    return RouterConfig(
        namespace=_text(raw, "namespace"),
        visionmodel=_text(raw, "visionmodel"),
        model=_text(raw, "model"),
        variants=variants,
        shadow=_shadow(raw.get("shadow"), names),
        sticky_header=sticky.strip().lower() if sticky else None,
        paired=_paired(raw.get("paired"), names),
    )


def _text(raw: Mapping[str, Any], key: str, where: str = "") -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}{key}: must be a non-empty string")
    return value.strip()


def _variant(item: Any, index: int, resolve: Mapping[str, str]) -> Variant:
    where = f"variants[{index}]."
    if not isinstance(item, dict):
        raise ConfigError(f"variants[{index}]: must be an object")
    name = _text(item, "name", where)
    if name not in ROLES:
        raise ConfigError(f"{where}name: must be one of {list(ROLES)}, got {name!r}")
    weight = item.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        raise ConfigError(f"{where}weight: must be an integer in [0, 100], got {weight!r}")
    return Variant(
        name=name,
        revision=_text(item, "revision", where),
        version=_text(item, "version", where),
        upstream=resolve_upstream(_upstream(item, where), resolve),
        weight=weight,
    )


def _upstream(item: Mapping[str, Any], where: str) -> str:
    upstream = _text(item, "upstream", where)
    parts = urlsplit(upstream)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}upstream: must be an http(s) URL, got {upstream!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{where}upstream: must be scheme://host:port only, got {upstream!r}")
    return f"{parts.scheme}://{parts.netloc}"


def resolve_upstream(upstream: str, resolve: Mapping[str, str]) -> str:
    parts = urlsplit(upstream)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = resolve.get(f"{parts.hostname}:{port}")
    return urlunsplit((parts.scheme, target, "", "", "")) if target else upstream


def _shadow(raw: Any, names: list[str]) -> Shadow | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("shadow: must be an object or null")
    variant = raw.get("variant")
    if variant not in names:
        raise ConfigError(f"shadow.variant: must name one of the variants {names}, got {variant!r}")
    percent = raw.get("percent")
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise ConfigError(f"shadow.percent: must be a number in [0, 100], got {percent!r}")
    return Shadow(variant=str(variant), percent=float(percent))


PAIRED_KEYS = {"candidatePercent": "candidate_percent", "stablePercent": "stable_percent"}


def _paired(raw: Any, names: list[str]) -> Paired | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("paired: must be an object or null")
    unknown = sorted(set(raw) - set(PAIRED_KEYS))
    if unknown:
        raise ConfigError(f"paired: unknown field(s) {unknown}; known: {sorted(PAIRED_KEYS)}")
    percents: dict[str, float] = {}
    for key, field in PAIRED_KEYS.items():
        value = raw.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise ConfigError(f"paired.{key}: must be a number in [0, 100], got {value!r}")
        percents[field] = float(value)
    if any(percents.values()) and set(ROLES) - set(names):
        raise ConfigError(f"paired: copies need both variants {list(ROLES)}, got {names}")
    return Paired(**percents)


def parse_resolve(entries: list[str]) -> dict[str, str]:
    """`HOST:PORT=IP:PORT` entries, as given on the command line."""
    mapping: dict[str, str] = {}
    for entry in entries:
        source, sep, target = entry.partition("=")
        if not sep or ":" not in source or ":" not in target:
            raise ConfigError(f"--resolve {entry!r}: expected HOST:PORT=IP:PORT")
        mapping[source.strip().lower()] = target.strip()
    return mapping

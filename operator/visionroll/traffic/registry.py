"""Traffic providers by the name used in `spec.traffic.provider`. An unknown name is an error, never a fallback."""

from __future__ import annotations

from collections.abc import Mapping

from visionroll.errors import UnknownProvider
from visionroll.traffic.base import TrafficProvider
from visionroll.traffic.gateway_api import GatewayApiProvider
from visionroll.traffic.router import RouterProvider

PROVIDERS: Mapping[str, TrafficProvider] = {p.name: p for p in (RouterProvider(), GatewayApiProvider())}


def provider(name: str) -> TrafficProvider:
    try:
        return PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise UnknownProvider(f"unknown traffic provider {name!r}; known providers: {known}") from None

"""Traffic providers behind one small Protocol: the built-in router, Gateway API HTTPRoute.

`provider(name)` returns the provider for `spec.traffic.provider`; each builds, from a `TrafficPlan`, the objects that
split live traffic by the status' weights and mirror the shadow share; the router's `router.json` is built in the
router's own schema (`visionroll_serving.router.config`). Pure: nothing here talks to the API server.
"""

from __future__ import annotations

from visionroll.traffic.base import DEFAULT_STICKY_HEADER, Backend, TrafficPlan, TrafficProvider
from visionroll.traffic.registry import PROVIDERS, provider

__all__ = ["DEFAULT_STICKY_HEADER", "PROVIDERS", "Backend", "TrafficPlan", "TrafficProvider", "provider"]

"""The kopf handlers: thin glue from watch events to ticks; the runner decides what a failed tick leads to.

Importing this module registers the handlers (what `kopf run -m visionroll.handlers.operator` and
`python -m visionroll` rely on). The runner lives in kopf's `memo`, built once at startup.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from visionroll import observability, vocabulary
from visionroll.api import GROUP, PLURAL, VERSION
from visionroll.handlers.config import OWNED_RESOURCES, configure
from visionroll.handlers.runner import TickRunner
from visionroll.k8s import Client, Kube, OwnedCache
from visionroll.metrics import PrometheusProvider
from visionroll.reconcile import Reconciler
from visionroll.settings import Settings

log = logging.getLogger(__name__)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: Settings = memo.get("settings") or Settings.from_env()
    memo["settings"] = config
    configure(settings, config)
    observability.serve(config.metrics_port, address=config.bind_address)
    cache = OwnedCache(max_age=config.resync_seconds)
    memo["cache"] = cache
    kube = Kube(Client.from_environment(pool_size=config.workers * 2), cache=cache)
    # Tests may put their own provider (or None) in memo; the operator measures in Prometheus.
    measurements = (
        memo["measurements"]
        if "measurements" in memo
        else PrometheusProvider.from_url(config.prometheus_url, min_window_seconds=config.analysis_window_seconds)
    )
    reconciler = Reconciler(kube, config, measurements=measurements)
    memo["runner"] = TickRunner(reconciler, workers=config.workers, resync_seconds=config.resync_seconds)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runner: TickRunner | None = memo.get("runner")
    if runner is not None:
        await runner.close()


# No kopf retries: the runner is the one retry loop (transient errors back off, permanent ones hold the VisionModel
# until it changes), so the handler never raises. Distinct ids keep kopf's progress annotations of the three apart.
@kopf.on.resume(GROUP, VERSION, PLURAL, id="resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="update")
async def reconcile_visionmodel(*, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    runner: TickRunner = memo["runner"]
    await runner.changed(namespace or "", name)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def visionmodel_event(*, type: str, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    if type == "DELETED" and namespace:
        runner: TickRunner | None = memo.get("runner")
        if runner is not None:
            runner.forget(namespace, name)
        cache: OwnedCache | None = memo.get("cache")
        if cache is not None:
            cache.forget(namespace, name)
        observability.forget(namespace, name)


async def owned_event(
    *, type: str | None, event: Any, namespace: str | None, labels: Mapping[str, str], memo: Any, **_: Any
) -> None:
    """An owned object changed or vanished: remember it, and tick its VisionModel soon (a hand edit is reverted, a
    deletion recreated, a Deployment's ready replicas reach the status)."""
    cache: OwnedCache | None = memo.get("cache")
    raw = event.get("object") if isinstance(event, Mapping) else None
    if cache is not None and isinstance(raw, dict):
        if type == "DELETED":
            cache.drop(raw)
        else:
            cache.put(raw)
    owner = labels.get(vocabulary.LABEL_MODEL)
    runner: TickRunner | None = memo.get("runner")
    if owner and namespace and runner is not None and type is not None:  # None: initial listing; resume covers it
        runner.nudge(namespace, owner)


for _group, _version, _plural in OWNED_RESOURCES:
    kopf.on.event(_group, _version, _plural, labels={vocabulary.LABEL_MANAGED_BY: vocabulary.MANAGED_BY})(owned_event)

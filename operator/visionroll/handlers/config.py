"""kopf configured for production.

- Progress and the diff base live in annotations only (`visionroll.io/…`): the VisionModel's status has a structural
  schema and would prune anything kopf wrote there.
- Handlers never fail: a failed tick is retried (or held, when permanent) by `runner.TickRunner` alone.
- Watches time out on both sides and reconnect when a stream goes silent (`inactivity_timeout`).
- Owned kinds are watched with a server-side label selector, so the operator never sees other people's objects.
- kopf's own per-handler Events are posted only for warnings; the reconcile layer posts the meaningful ones.
- Watching one namespace, kopf does not scan cluster-wide (Namespaces, CRDs): the namespaced RBAC does not allow it.
"""

from __future__ import annotations

import logging

import kopf

from visionroll.k8s import OWNED, Kind
from visionroll.settings import Settings
from visionroll.vocabulary import ANNOTATION_PREFIX, OWNED_SELECTOR


def _resource(kind: Kind) -> tuple[str, str, str]:
    group, _, version = kind.api_version.rpartition("/")
    return group, version, kind.plural


# (group, version, plural) of every owned kind but HTTPRoute: the Gateway API CRDs may not be installed.
OWNED_RESOURCES: tuple[tuple[str, str, str], ...] = tuple(_resource(k) for k in OWNED if k.kind != "HTTPRoute")


def configure(settings: kopf.OperatorSettings, config: Settings) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{ANNOTATION_PREFIX}/finalizer"  # no handler needs one; named if ever added
    settings.peering.standalone = True
    # Confined to one namespace, the operator has no cluster-wide permissions (the chart's namespaced Role): kopf need
    # not list Namespaces or watch CRDs, which it would retry for a minute at start-up and then keep failing to watch.
    settings.scanning.disabled = bool(config.namespace)
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 10
    settings.watching.inactivity_timeout = 120
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 10
    settings.networking.error_backoffs = (1, 2, 5, 10, 20, 30)
    settings.execution.max_workers = config.workers
    for group, version, plural in OWNED_RESOURCES:
        selector = (group, version, plural) if group else (version, plural)
        settings.watching.label_selectors[selector] = OWNED_SELECTOR

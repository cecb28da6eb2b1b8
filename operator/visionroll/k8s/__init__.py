"""The only code that talks to the Kubernetes API server (server-side apply).

`Kube` has the verbs (get, list, apply, delete, write_status, post_event) over a `Client` (one connection pool,
credentials from $KUBECONFIG or the service account); `resources` names the kinds; `compare.up_to_date` says when an
apply would change nothing, so it is skipped; `cache.OwnedCache` keeps what the watch streams last reported, so a
tick that changes nothing reads nothing.
"""

from __future__ import annotations

from visionroll.k8s.api import Kube, Obj
from visionroll.k8s.cache import OwnedCache
from visionroll.k8s.client import Client
from visionroll.k8s.compare import up_to_date
from visionroll.k8s.resources import OWNED, POD, PVC, VISIONMODEL, Kind

__all__ = [
    "OWNED",
    "POD",
    "PVC",
    "VISIONMODEL",
    "Client",
    "Kind",
    "Kube",
    "OwnedCache",
    "Obj",
    "up_to_date",
]

"""HTTP to the API server: one connection pool, JSON in and out, status codes mapped to the operator's errors.

Credentials come from $KUBECONFIG (or ~/.kube/config), or from the in-cluster service account. Only the transport of
the `kubernetes` package is used (its TLS and auth set-up); the request bodies are plain dicts, so no generated
model classes stand between the builders and the wire.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any
from urllib.parse import urlencode

import urllib3
from kubernetes import client as _k8s_client
from kubernetes import config as _k8s_config

from visionroll.errors import ApiRejected, ApiUnavailable

log = logging.getLogger(__name__)
# The kubernetes package is only partly typed; treat it as dynamic at this one seam.
k8s_client: Any = _k8s_client
k8s_config: Any = _k8s_config

FIELD_MANAGER = "visionroll"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON = "application/json"


class NotFound(Exception):
    """404: the object (or its kind) does not exist."""


class Conflict(Exception):
    """409: the object changed or already exists."""


class Client:
    """A thread-safe client: `request(method, path, ...)` returns the decoded JSON body."""

    def __init__(self, configuration: Any, *, timeout: float = 30.0) -> None:
        self._config = configuration
        self._rest = k8s_client.rest.RESTClientObject(configuration)
        self._timeout = timeout

    @classmethod
    def from_environment(cls, *, pool_size: int = 16, timeout: float = 30.0) -> Client:
        configuration = k8s_client.Configuration()
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            k8s_config.load_kube_config(client_configuration=configuration)
        configuration.connection_pool_maxsize = pool_size
        return cls(configuration, timeout=timeout)

    @property
    def host(self) -> str:
        return str(self._config.host)

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": JSON}
        if content_type:
            headers["Content-Type"] = content_type
        # The kubernetes package keeps a token (kubeconfig or in-cluster ServiceAccount) under "BearerToken", with its
        # "Bearer " prefix; older releases used "authorization".
        token = self._config.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            headers["Authorization"] = token
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        url = self.host + path + ("?" + urlencode(query) if query else "")
        try:
            response = self._rest.request(
                method,
                url,
                headers=self._headers(content_type or (JSON if body is not None else None)),
                body=body,
                _request_timeout=self._timeout,
            )
            status, raw = response.status, response.read()
        except k8s_client.exceptions.ApiException as exc:  # older transports raise on non-2xx themselves
            status, raw = int(exc.status or 0), (exc.body or "").encode()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ApiUnavailable(f"{method} {path}: {exc}") from exc
        if 200 <= status < 300:
            return dict(json.loads(raw)) if raw else {}
        message = _message(raw)
        if status == 404:
            raise NotFound(f"{method} {path}: {message}")
        if status == 409:
            raise Conflict(f"{method} {path}: {message}")
        if status == 429 or status >= 500 or status == 0:
            raise ApiUnavailable(f"{method} {path}: {status} {message}")
        raise ApiRejected(f"{method} {path}: {status} {message}")


def _message(raw: bytes) -> str:
    try:
        return str(json.loads(raw).get("message", ""))
    except (ValueError, AttributeError):
        return raw[:200].decode(errors="replace")

"""A small client for TorchServe's management API (describe, scale, readiness), on `requests`.

Errors, all raised from the calls below:

    TorchServeError
     ├── TorchServeUnreachable     connection refused, DNS failure, timeout
     └── TorchServeHTTPError       the server answered with an error status (.status, .message)
          ├── TorchServeUnauthorized   401/403, or TorchServe's 400 "Token Authorization failed": no or a wrong key
          └── TorchServeNotFound       404: no such model or version
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests


class TorchServeError(Exception):
    """Base of every error this client raises."""


class TorchServeUnreachable(TorchServeError):
    pass


class TorchServeHTTPError(TorchServeError):
    def __init__(self, status: int, message: str, url: str) -> None:
        super().__init__(f"{url}: HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.url = url


class TorchServeUnauthorized(TorchServeHTTPError):
    pass


class TorchServeNotFound(TorchServeHTTPError):
    pass


@dataclass(frozen=True)
class Worker:
    id: str
    status: str
    pid: int | None


@dataclass(frozen=True)
class ModelDescription:
    name: str
    version: str
    min_workers: int
    max_workers: int
    batch_size: int
    max_batch_delay_ms: int
    workers: tuple[Worker, ...]
    queue_remaining: int | None
    queue_pending: int | None
    is_default: bool

    @property
    def ready_workers(self) -> int:
        return sum(1 for worker in self.workers if worker.status == "READY")

    @property
    def ready(self) -> bool:
        return self.ready_workers >= max(1, self.min_workers)

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> ModelDescription:
        queue = raw.get("jobQueueStatus") or {}
        return cls(
            name=raw["modelName"],
            version=str(raw.get("modelVersion", "")),
            min_workers=int(raw.get("minWorkers", 0)),
            max_workers=int(raw.get("maxWorkers", 0)),
            batch_size=int(raw.get("batchSize", 1)),
            max_batch_delay_ms=int(raw.get("maxBatchDelay", 0)),
            workers=tuple(
                Worker(id=str(w.get("id", "")), status=str(w.get("status", "")), pid=w.get("pid"))
                for w in raw.get("workers", [])
            ),
            queue_remaining=queue.get("remainingCapacity"),
            queue_pending=queue.get("pendingRequests"),
            is_default=bool(raw.get("isDefaultVersion", False)),
        )


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...]  # one per model version short of its minimum workers; empty when ready


class TorchServeManagement:
    """`base_url` is the management address, e.g. http://127.0.0.1:8081. Pass `session` to control transport."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def list_models(self) -> list[str]:
        names: list[str] = []
        next_page: str | None = None
        while True:
            params = {"limit": "100", **({"next_page_token": next_page} if next_page else {})}
            page = self._request("GET", "/models", params=params)
            names.extend(model["modelName"] for model in page.get("models", []))
            next_page = page.get("nextPageToken")
            if not next_page:
                return names

    def describe(self, model: str, version: str | None = None) -> list[ModelDescription]:
        """Every loaded version of `model` (or just `version`), with workers and queue status."""
        path = f"/models/{model}/{version}" if version else f"/models/{model}/all"
        return [ModelDescription.from_api(raw) for raw in self._request("GET", path)]

    def scale(
        self,
        model: str,
        *,
        min_workers: int,
        max_workers: int | None = None,
        version: str | None = None,
        synchronous: bool = True,
        timeout: float = 120.0,
    ) -> str:
        """Sets the worker range; with `synchronous` TorchServe answers once the workers are up (within `timeout`)."""
        path = f"/models/{model}/{version}" if version else f"/models/{model}"
        params = {
            "min_worker": str(min_workers),
            "max_worker": str(max_workers if max_workers is not None else min_workers),
            "synchronous": "true" if synchronous else "false",
        }
        answer = self._request("PUT", path, params=params, timeout=timeout if synchronous else None)
        return str(answer.get("status", answer))

    def readiness(self) -> Readiness:
        """Ready when every loaded model version has at least its minimum (and at least one) READY worker."""
        reasons: list[str] = []
        models = self.list_models()
        if not models:
            return Readiness(False, ("no models loaded",))
        for name in models:
            for description in self.describe(name):
                if not description.ready:
                    reasons.append(
                        f"{name} {description.version}: {description.ready_workers} of"
                        f" {max(1, description.min_workers)} workers ready"
                    )
        return Readiness(not reasons, tuple(reasons))

    def _request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, timeout: float | None = None
    ) -> Any:
        url = self.base_url + path
        try:
            response = self._session.request(
                method, url, params=params, headers=self._headers, timeout=timeout or self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TorchServeUnreachable(f"{url}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code >= 400:
            message = _error_message(response)
            # TorchServe 0.12 answers a missing or wrong token with 400 "Token Authorization failed ...".
            if response.status_code in (401, 403) or "token authorization failed" in message.lower():
                raise TorchServeUnauthorized(response.status_code, message, url)
            if response.status_code == 404:
                raise TorchServeNotFound(response.status_code, message, url)
            raise TorchServeHTTPError(response.status_code, message, url)
        try:
            return response.json()
        except ValueError as exc:
            raise TorchServeHTTPError(response.status_code, f"answer is not JSON: {exc}", url) from exc


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)
    return str(body)

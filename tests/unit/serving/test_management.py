"""The management client's error mapping, against a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from localkube.procs import free_port
from visionroll_serving.management import (
    TorchServeManagement,
    TorchServeNotFound,
    TorchServeUnauthorized,
    TorchServeUnreachable,
)

MODELS: dict[str, Any] = {"models": [{"modelName": "digits", "modelUrl": "digits-1.0.mar"}]}
DIGITS: list[dict[str, Any]] = [
    {"modelName": "digits", "modelVersion": "1.0", "minWorkers": 2, "maxWorkers": 2, "batchSize": 1,
     "maxBatchDelay": 5, "isDefaultVersion": True, "jobQueueStatus": {"remainingCapacity": 100, "pendingRequests": 0},
     "workers": [{"id": "9000", "status": "READY", "pid": 11}, {"id": "9001", "status": "UNLOADING", "pid": 12}]},
]  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.headers.get("Authorization") != "Bearer right":
            self._send(401, {"code": 401, "type": "InvalidKeyException", "message": "Token Authorization failed"})
        elif self.path.startswith("/models?"):
            self._send(200, MODELS)
        elif self.path == "/models/digits/all":
            self._send(200, DIGITS)
        else:
            self._send(404, {"code": 404, "message": "Model not found: cats"})

    def _send(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_describe_and_readiness(server: str) -> None:
    client = TorchServeManagement(server, token="right")
    (digits,) = client.describe("digits")
    assert (digits.version, digits.ready_workers, digits.queue_remaining) == ("1.0", 1, 100)
    readiness = client.readiness()
    assert not readiness.ready and readiness.reasons == ("digits 1.0: 1 of 2 workers ready",)


def test_errors_are_typed(server: str) -> None:
    with pytest.raises(TorchServeUnauthorized, match="Token Authorization failed"):
        TorchServeManagement(server, token="wrong").list_models()
    with pytest.raises(TorchServeNotFound) as not_found:
        TorchServeManagement(server, token="right").describe("cats")
    assert not_found.value.status == 404
    with pytest.raises(TorchServeUnreachable):
        TorchServeManagement(f"http://127.0.0.1:{free_port()}", timeout=2).list_models()

"""A stand-in upstream on loopback for router tests: a stdlib HTTP server in a thread, stopped on the way out."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

from localkube.fileserver import serve_in_thread

TOP_ONE = json.dumps({"model": "digits", "version": "1.0", "top_k": [{"label": "7", "index": 7, "score": 0.9}]})


class TopOneUpstream(BaseHTTPRequestHandler):
    """A keep-alive stand-in TorchServe: every POST gets 200 and `TOP_ONE`, after `delay(path)` seconds (none here;
    a subclass may slow some paths)."""

    protocol_version = "HTTP/1.1"

    def delay(self, path: str) -> float:
        return 0.0

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if (seconds := self.delay(self.path)) > 0:
            time.sleep(seconds)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(TOP_ONE)))
        self.end_headers()
        self.wfile.write(TOP_ONE.encode())

    def log_message(self, *_: object) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port; yields its base URL."""
    with serve_in_thread(handler, host="127.0.0.1", name="stand-in-upstream") as url:
        yield url

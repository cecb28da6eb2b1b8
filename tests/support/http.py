"""A stand-in upstream on loopback for router tests: a stdlib HTTP server in a thread, stopped on the way out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

from localkube.fileserver import serve_in_thread


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port; yields its base URL."""
    with serve_in_thread(handler, host="127.0.0.1", name="stand-in-upstream") as url:
        yield url

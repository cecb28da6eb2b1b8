"""Serve a directory over HTTP on the node's address, so that pods can fetch files from the host (model archives
through a VisionModel's `storageUri`). Read-only, GET and HEAD only, in a thread of the calling process.
`serve_in_thread` is the server's life cycle alone, for any handler (the router tests' stand-in upstreams).

    with serve_directory(archives_dir, host=hostnet.NODE_IP) as base_url:
        ...  # base_url + "/digits-1.0.mar"
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def list_directory(self, path: str | Path) -> None:  # type: ignore[override]
        self.send_error(403, "directory listing is off")


@contextlib.contextmanager
def serve_directory(directory: Path, *, host: str, port: int = 0) -> Iterator[str]:
    """An HTTP server for ``directory`` on ``host`` (a free port unless ``port``); yields its base URL."""
    handler = functools.partial(_Handler, directory=str(directory))
    with serve_in_thread(handler, host=host, port=port, name="localkube-fileserver") as url:
        yield url


@contextlib.contextmanager
def serve_in_thread(
    handler: Callable[..., http.server.BaseHTTPRequestHandler], *, host: str, port: int = 0, name: str = "http-server"
) -> Iterator[str]:
    """A threading stdlib HTTP server for ``handler`` on ``host`` (a free port unless ``port``), served from a thread
    of the calling process; yields its base URL, then shuts it down, closes its socket and joins the thread."""
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

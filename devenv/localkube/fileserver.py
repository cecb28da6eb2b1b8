"""Serve a directory over HTTP on the node's address, so that pods can fetch files from the host (model archives
through a VisionModel's `storageUri`). Read-only, GET and HEAD only, in a thread of the calling process.

    with serve_directory(archives_dir, host=hostnet.NODE_IP) as base_url:
        ...  # base_url + "/digits-1.0.mar"
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
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
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="localkube-fileserver", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""The connection flood of the abuse run (`abuse_router.py`): many clients at once, each on its own connection with
one prediction request. Standard library only, so that the same code runs on this host (the loopback target) and
inside a pod (the cluster target pipes this file to the pod's Python):

    python flood.py URL CONNECTIONS BODY_BASE64 [SOURCE_ADDRESS]     (prints one line: what the router answered)

With `--on-go` it first prints "ready" and waits for a line on stdin: the caller starts it (a pod's `kubectl exec`,
whose own CPU is the cluster's and not the abuse's) before the window it measures, and fires it inside.
"""

from __future__ import annotations

import asyncio
import base64
import resource
import statistics
import sys
import time
from urllib.parse import urlsplit


def head(path: str, host: str, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n{extra}".encode()


async def connection_flood(url: str, connections: int, body: bytes, source: str | None) -> str:
    """`connections` clients at once, each on its own connection with one request (raw sockets: the abuser's own
    CPU stays small next to the router's), from the address `source` when given."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    request = head(parts.path, host, f"Content-Length: {len(body)}\r\n\r\n") + body
    outcomes: dict[str, int] = {}
    seconds: dict[str, list[float]] = {}

    async def one() -> None:
        try:
            local = (source, 0) if source else None
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, local_addr=local), 30)
            started = time.monotonic()  # from the request sent (connecting 2,000 at once is the client's own wait)
            try:
                writer.write(request)
                answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            finally:
                writer.close()
            key = answer[9:12].decode()
            if key == "503":
                key += " + Retry-After" if b"\r\nRetry-After: " in answer else " without Retry-After"
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            key = type(exc).__name__
            outcomes[key] = outcomes.get(key, 0) + 1
            return
        outcomes[key] = outcomes.get(key, 0) + 1
        seconds.setdefault(key[:3], []).append(time.monotonic() - started)

    await asyncio.gather(*(one() for _ in range(connections)))
    p50 = {k: f"{statistics.median(v) * 1000:.0f}" for k, v in sorted(seconds.items())}
    return f"{dict(sorted(outcomes.items()))}; answered p50 ms after the request was sent {p50}"


def open_files_for(connections: int) -> None:
    """Raises this process's open-file limit to its hard limit if `connections` sockets would not fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < connections + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    on_go = "--on-go" in sys.argv
    argv = [a for a in sys.argv if a != "--on-go"]
    url, count, body64 = argv[1], int(argv[2]), argv[3]
    open_files_for(count)
    if on_go:
        print("ready", flush=True)
        sys.stdin.readline()
    print(asyncio.run(connection_flood(url, count, base64.b64decode(body64), argv[4] if argv[4:] else None)))

"""python -m visionroll_serving.router: the router process (see docs/contracts.md for router.json)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from dataclasses import asdict
from pathlib import Path

from prometheus_client import disable_created_metrics

from visionroll_serving.router.app import Router, Settings, metrics_handler
from visionroll_serving.router.config import ConfigError, parse_config, parse_resolve
from visionroll_serving.router.metrics import RouterMetrics
from visionroll_serving.router.server import Server
from visionroll_serving.router.sources import ConfigMapSource, FileSource

log = logging.getLogger("visionroll_serving.router")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="visionroll-router", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config-file", type=Path, help="router.json on disk, reloaded when it changes")
    source.add_argument("--configmap", metavar="NAMESPACE/NAME", help="watch this ConfigMap's key router.json")
    parser.add_argument("--kubeconfig", help="kubeconfig for --configmap (default: $KUBECONFIG or in-cluster)")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--metrics-port", type=int, default=9090)
    parser.add_argument(
        "--resolve", action="append", default=[], metavar="HOST:PORT=IP:PORT", help="map an upstream; repeatable"
    )
    parser.add_argument("--max-body-bytes", type=int, default=Settings.max_body_bytes)
    parser.add_argument("--upstream-timeout", type=float, default=Settings.upstream_timeout)
    parser.add_argument("--shadow-queue", type=int, default=Settings.shadow_queue, help="copies queued")
    parser.add_argument(
        "--copy-queue-bytes",
        type=int,
        default=Settings.copy_queue_bytes,
        help="bytes of bodies held by copies (queued and being sent); beyond, copies are dropped and counted",
    )
    parser.add_argument("--copy-timeout", type=float, default=Settings.copy_timeout, help="a copy's round trip")
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=Settings.header_timeout,
        help="seconds to send a request head, from a connection's start or its previous answer; then it is closed",
    )
    parser.add_argument(
        "--body-timeout", type=float, default=Settings.body_timeout, help="seconds to send a body; then 408"
    )
    parser.add_argument(
        "--body-bytes",
        type=int,
        default=Settings.body_bytes,
        help="bytes the bodies of requests in progress may hold, by declared size; beyond, 503 with Retry-After",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=Settings.max_in_flight,
        help="client requests forwarded at once; beyond, 503 with Retry-After (once three quarters are taken, a client "
        "address holding its fair share is refused too)",
    )
    parser.add_argument("--retry-after", type=int, default=Settings.retry_after, help="seconds, in every 503")
    parser.add_argument(
        "--shadow-concurrency", type=int, default=Settings.shadow_concurrency, help="copies (shadow, paired) in flight"
    )
    parser.add_argument("--feedback-ttl", type=float, default=Settings.feedback_ttl, help="seconds an answer is kept")
    parser.add_argument("--feedback-entries", type=int, default=Settings.feedback_entries, help="answers kept at most")
    parser.add_argument("--feedback-bytes", type=int, default=Settings.feedback_bytes, help="their memory at most")
    parser.add_argument(
        "--feedback-classes", type=int, default=Settings.feedback_classes, help="distinct true classes counted"
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=0.0,
        help="after SIGTERM, keep accepting and serving this long before stopping (every answer closes its "
        "connection, /readyz says 503): time for the pod to leave its Service's endpoints, so that clients never "
        "reconnect to a router that no longer listens (the operator's Deployment sets it)",
    )
    parser.add_argument("--shutdown-timeout", type=float, default=10.0)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    settings = Settings(
        max_body_bytes=args.max_body_bytes,
        upstream_timeout=args.upstream_timeout,
        shadow_queue=args.shadow_queue,
        copy_queue_bytes=args.copy_queue_bytes,
        copy_timeout=args.copy_timeout,
        shadow_concurrency=args.shadow_concurrency,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        body_bytes=args.body_bytes,
        max_in_flight=args.max_in_flight,
        retry_after=args.retry_after,
        feedback_ttl=args.feedback_ttl,
        feedback_entries=args.feedback_entries,
        feedback_bytes=args.feedback_bytes,
        feedback_classes=args.feedback_classes,
    )
    resolve = parse_resolve(args.resolve)
    router = Router(settings, RouterMetrics())

    def apply_text(text: str, origin: str) -> None:
        try:
            router.apply(parse_config(text, resolve=resolve), origin)
        except ConfigError as exc:
            log.error("routing config from %s rejected, keeping the previous one: %s", origin, exc)

    loop = asyncio.get_running_loop()
    if args.config_file is not None:
        source: FileSource | ConfigMapSource = FileSource(args.config_file, apply_text)
    else:
        namespace, _, name = args.configmap.partition("/")
        if not namespace or not name:
            raise SystemExit("--configmap must be NAMESPACE/NAME")
        source = ConfigMapSource(namespace, name, apply_text, kubeconfig=args.kubeconfig, loop=loop)
    await router.start()
    source.start()

    server = Server(
        router.handle,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_body_bytes=settings.max_body_bytes,
        admission=router.admission,
    )
    metrics_server = Server(
        metrics_handler(router.metrics),
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_body_bytes=64 << 10,
    )
    await server.listen(args.host, args.port, backlog=settings.listen_backlog)
    await metrics_server.listen(args.host, args.metrics_port)
    log.info("router on %s:%d, metrics on :%d, settings %s", args.host, args.port, args.metrics_port, asdict(settings))
    # Everything made so far (modules, the app, the config) lives until exit: moved out of the collector's sight,
    # a full collection no longer walks ~40k start-up objects (about 8 ms each time, seen in the p99) between
    # client requests.
    gc.freeze()

    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    if args.drain_seconds > 0:
        log.info(
            "draining for %.0fs: still serving, answers close their connections, /readyz says 503", args.drain_seconds
        )
        router.draining = server.draining = True
        await asyncio.sleep(args.drain_seconds)
    log.info("shutting down: finishing requests in flight (up to %.0fs)", args.shutdown_timeout)
    await source.stop()
    await server.close(timeout=args.shutdown_timeout)  # stops accepting, waits for requests in progress
    await router.stop()  # drains the copy queue briefly, closes the upstream connections
    await metrics_server.close(timeout=1.0)
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        import uvloop  # a faster event loop when installed (the serving extra has it)
    except ImportError:
        asyncio.run(serve(args))
    else:
        uvloop.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Router benchmark: requests/s and client-side p50/p99 for the same bounded load sent

  1. directly to TorchServe,
  2. through the router (90/10 split, both to digits 1.0),
  3. through the router with 100% mirroring to digits 2.0,
  4. through the router with 100% mirroring to a no-op model that answers at once (the router's own share of the
     mirroring cost, apart from the shadow's inference competing for the CPUs),
  5. through nginx (split_clients, the peer),
  6. through nginx with 100% `mirror` to digits 2.0, and
  7. through the router, 90/10 split of digits 1.0 (stable) and 2.0 (candidate), with 0% and with 100% paired copies
     (every candidate-routed request copied to stable and every stable-routed one to the candidate, once the live
     answer is in: the most a paired comparison can cost),

then the ratios against direct side by side, and the router's (and nginx's) CPU seconds per 1,000 requests at the
fixed rate. The `shadow` column counts the digits 2.0 answers TorchServe gave during each row, which shows that a
mirror or a paired copy really reached it (the paired rows' candidate also answers 10% of the clients).

    .venv/bin/python bench/bench_router.py [--rounds 5] [--requests 3000] [--concurrency 8]

Every path is measured once per round, in a rotating order, and the tables give each figure's median over the
rounds (and the spread of the p99s), because one 2,000-request p99 on a shared 2-core machine moves by a
millisecond from run to run. Everything on loopback; every process is stopped by its PID, also when the run is
interrupted by SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import psutil  # type: ignore[import-untyped]
import requests

from localkube.procs import Proc, Supervisor, free_port, stop_on_signals, wait_until
from visionroll_serving import local
from visionroll_serving.samples import held_out_pngs

NOOP_ROW = "router + mirror to no-op"
PAIRED_OFF, PAIRED_ON = "router 1.0/2.0, 0% paired", "router 1.0/2.0, 100% paired"


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    shadow_answers: int = 0  # digits 2.0 inferences TorchServe counted during the row: proof a copy reached it
    cpu_ms_per_1k: float = float("nan")  # CPU of the proxy (router or nginx) per 1,000 requests, fixed-rate phase


async def load(url: str, bodies: list[bytes], *, requests: int, concurrency: int, warmup: int) -> Result:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int, record: bool) -> None:
            nonlocal errors
            started = time.perf_counter()
            async with session.post(url, data=bodies[i % len(bodies)], headers={"Content-Type": "image/png"}) as r:
                await r.read()
                ok = r.status == 200
            if record:
                latencies.append(time.perf_counter() - started)
                errors += not ok

        async def worker(indices: range, record: bool) -> None:
            for i in indices:
                await one(i, record)

        async def run(total: int, record: bool) -> float:
            started = time.perf_counter()
            share = total // concurrency
            await asyncio.gather(*(worker(range(w * share, (w + 1) * share), record) for w in range(concurrency)))
            return time.perf_counter() - started

        await run(warmup, False)
        elapsed = await run(requests, True)
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return Result("", len(latencies) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000, errors)


async def fixed_rate(url: str, bodies: list[bytes], *, requests: int, rate: float) -> Result:
    """Open loop: one request every 1/rate s whatever the answers do, so latency is measured below saturation."""
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def one(i: int) -> None:
            nonlocal errors
            started = time.perf_counter()
            async with session.post(url, data=bodies[i % len(bodies)], headers={"Content-Type": "image/png"}) as r:
                await r.read()
                errors += r.status != 200
            latencies.append(time.perf_counter() - started)

        tasks = []
        begin = time.perf_counter()
        for i in range(requests):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return Result("", len(latencies) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000, errors)


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  client_max_body_size 1m;
  client_body_buffer_size 64k;
  upstream stable {{ server {ts}; keepalive 32; }}
  upstream candidate {{ server {ts}; keepalive 32; }}
  split_clients "${{request_id}}" $variant {{ 90% stable; * candidate; }}
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  server {{
    listen 127.0.0.1:{port};
    location = /predictions/digits {{ proxy_pass http://$variant/predictions/digits/1.0; }}
  }}
  server {{
    listen 127.0.0.1:{mirror_port};
    location = /predictions/digits {{
      mirror /shadow;
      mirror_request_body on;
      proxy_pass http://$variant/predictions/digits/1.0;
    }}
    location = /shadow {{ internal; proxy_pass http://candidate/predictions/digits/2.0; }}
  }}
}}
"""


def settled_shadow_inferences(ts: local.TorchServe, *, quiet: float = 0.5, timeout: float = 30.0) -> int:
    """Requests TorchServe has answered for digits 2.0 (the shadow in the mirroring rows), once the count has stopped
    moving: mirrored copies still queued would otherwise load the next row."""

    def count() -> int:
        text = requests.get(ts.metrics_url + "/metrics", timeout=5).text
        samples = local.metric_samples(text, "ts_inference_requests_total")
        return int(sum(v for labels, v in samples if labels.get("model_version") == "2.0"))

    deadline = time.monotonic() + timeout
    last = count()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = count()
        if now == last:
            return now
        last = now
    raise RuntimeError(f"the shadow was still answering after {timeout:.0f}s")


def start_listener(sup: Supervisor, name: str, command: list[str], port: int) -> Proc:
    """Start ``command`` under ``sup`` (its own session, stopped with its children by ``sup.stop_all()``) and wait
    until it accepts connections on the loopback ``port``."""
    proc = sup.start(name, command)

    def accepting() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True

    wait_until(f"{name} on port {port}", accepting, timeout=10, interval=0.05, alive=proc.check_alive)
    return proc


def start_nginx(sup: Supervisor, torchserve: str, tmp: Path) -> tuple[int, int]:
    """nginx with two servers: split_clients only, and split_clients plus a 100% `mirror`."""
    port, mirror_port = free_port(), free_port()
    conf = NGINX_CONF.format(tmp=tmp, ts=torchserve, port=port, mirror_port=mirror_port)
    (tmp / "nginx.conf").write_text(conf)
    start_listener(sup, "nginx", ["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf")], port)
    return port, mirror_port


NOOP_ANSWER = b'{"top_k": [{"label": "0", "score": 1.0}]}'


def start_noop_model(sup: Supervisor) -> int:
    """An upstream that answers every POST at once without inference: mirroring to it shows the router's own cost."""
    port = free_port()
    start_listener(sup, "noop-model", [sys.executable, __file__, "--serve-noop-model", str(port)], port)
    return port


def serve_noop_model(port: int) -> None:
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=NOOP_ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of the process and its children (nginx's workers); NaN without a process."""
    if pid is None:
        return float("nan")
    root = psutil.Process(pid)
    total = 0.0
    for proc in (root, *root.children(recursive=True)):
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--rate", type=float, default=150.0, help="request rate of the fixed-rate rows")
    parser.add_argument("--paced-requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="TorchServe workers per model version")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the tables show medians")
    parser.add_argument("--serve-noop-model", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_noop_model:
        serve_noop_model(args.serve_noop_model)
        return

    stop_on_signals()
    archives = local.build_archives()
    bodies = [png for png, _ in held_out_pngs(200)]
    saturation: list[Result] = []
    latency: list[Result] = []
    tmp = Path(tempfile.mkdtemp(prefix="visionroll-bench-"))
    started = time.perf_counter()
    with local.TorchServe([archives.archive("1.0"), archives.archive("2.0")], workers=args.workers) as ts:
        ts.start()
        upstream = ts.inference_url
        variants = [
            local.variant("stable", "1.0", upstream, weight=90),
            local.variant("candidate", "1.0", upstream, weight=10),
        ]
        mirrored = [
            local.variant("stable", "1.0", upstream, weight=100),
            local.variant("candidate", "2.0", upstream, weight=0),
        ]
        plain_cfg = local.write_router_config(tmp / "plain.json", local.router_config(variants))
        mirror_cfg = local.write_router_config(
            tmp / "mirror.json", local.router_config(mirrored, shadow={"variant": "candidate", "percent": 100})
        )
        two_versions = [
            local.variant("stable", "1.0", upstream, weight=90),
            local.variant("candidate", "2.0", upstream, weight=10),
        ]
        unpaired_cfg = local.write_router_config(tmp / "unpaired.json", local.router_config(two_versions))
        paired_cfg = local.write_router_config(
            tmp / "paired.json",
            {**local.router_config(two_versions), "paired": {"candidatePercent": 100, "stablePercent": 100}},
        )
        sup = Supervisor(tmp, die_with_parent=True)
        try:
            noop_port = start_noop_model(sup)
            noop_cfg = local.write_router_config(
                tmp / "noop.json",
                local.router_config(
                    [mirrored[0], local.variant("candidate", "2.0", f"http://127.0.0.1:{noop_port}", weight=0)],
                    shadow={"variant": "candidate", "percent": 100},
                ),
            )
            nginx_port, nginx_mirror_port = start_nginx(sup, upstream.removeprefix("http://"), tmp)
            nginx_pid = sup.procs[-1].pid  # the nginx master; its worker is a child
            with (
                local.Router(config_file=plain_cfg, log_level="WARNING") as plain,
                local.Router(config_file=mirror_cfg, log_level="WARNING") as mirror,
                local.Router(config_file=noop_cfg, log_level="WARNING") as mirror_noop,
                local.Router(config_file=unpaired_cfg, log_level="WARNING") as unpaired,
                local.Router(config_file=paired_cfg, log_level="WARNING") as paired,
            ):
                for router in (plain, mirror, mirror_noop, unpaired, paired):
                    router.start()
                # (row, URL, the PID whose CPU is the proxy's cost)
                targets: list[tuple[str, str, Callable[[], int | None]]] = [
                    ("direct TorchServe", f"{upstream}/predictions/digits/1.0", lambda: None),
                    ("router", f"{plain.url}/predictions/digits", lambda: plain.pid),
                    ("router + 100% mirror", f"{mirror.url}/predictions/digits", lambda: mirror.pid),
                    (NOOP_ROW, f"{mirror_noop.url}/predictions/digits", lambda: mirror_noop.pid),
                    (PAIRED_OFF, f"{unpaired.url}/predictions/digits", lambda: unpaired.pid),
                    (PAIRED_ON, f"{paired.url}/predictions/digits", lambda: paired.pid),
                    ("nginx", f"http://127.0.0.1:{nginx_port}/predictions/digits", lambda: nginx_pid),
                    ("nginx + 100% mirror", f"http://127.0.0.1:{nginx_mirror_port}/predictions/digits",
                     lambda: nginx_pid),
                ]  # fmt: skip
                for round_ in range(args.rounds):  # interleaved, so drift in machine load hits every path alike
                    for name, url, pid in targets[round_ % len(targets) :] + targets[: round_ % len(targets)]:
                        before = settled_shadow_inferences(ts)
                        saturated = asyncio.run(
                            load(url, bodies, requests=args.requests, concurrency=args.concurrency, warmup=args.warmup)
                        )
                        middle = settled_shadow_inferences(ts)  # a copy backlog must not spill into the next row
                        cpu_before = cpu_seconds(pid())
                        paced = asyncio.run(fixed_rate(url, bodies, requests=args.paced_requests, rate=args.rate))
                        after = settled_shadow_inferences(ts)  # copies still in flight are the row's cost too
                        cpu = (cpu_seconds(pid()) - cpu_before) / args.paced_requests * 1e6  # ms per 1,000
                        saturation.append(replace(saturated, name=name, shadow_answers=middle - before))
                        latency.append(replace(paced, name=name, shadow_answers=after - middle, cpu_ms_per_1k=cpu))
                        print(f"  round {round_ + 1}/{args.rounds} {name}: {saturated.rps:.0f} req/s saturated,"
                              f" p99 {paced.p99_ms:.2f} ms at {args.rate:.0f} req/s,"
                              f" proxy CPU {cpu:.0f} ms per 1,000", flush=True)  # fmt: skip
        finally:
            sup.stop_all()
            shutil.rmtree(tmp, ignore_errors=True)
    report(args, saturation, latency, time.perf_counter() - started)


def medians(results: list[Result]) -> list[tuple[Result, float, float]]:
    """Per path, in first-seen order: the median of each figure over the rounds, and the lowest and highest p99."""
    by_name: dict[str, list[Result]] = {}
    for r in results:
        by_name.setdefault(r.name, []).append(r)
    rows = []
    for name, rounds in by_name.items():
        med = Result(
            name,
            statistics.median(r.rps for r in rounds),
            statistics.median(r.p50_ms for r in rounds),
            statistics.median(r.p99_ms for r in rounds),
            sum(r.errors for r in rounds),
            sum(r.shadow_answers for r in rounds),
            statistics.median(r.cpu_ms_per_1k for r in rounds),
        )
        rows.append((med, min(r.p99_ms for r in rounds), max(r.p99_ms for r in rounds)))
    return rows


def report(args: argparse.Namespace, saturation: list[Result], latency: list[Result], seconds: float) -> None:
    print(f"\n{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f} (shared machine); {args.workers} TorchServe"
          f" worker(s) per version; {args.rounds} interleaved rounds, medians; {seconds:.0f}s")  # fmt: skip
    sat, paced = medians(saturation), medians(latency)
    print(f"\nsaturation: {args.requests} requests per row after {args.warmup} warm-up, {args.concurrency} concurrent")
    print(f"{'path':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99 range':>13} {'errors':>6} {'rps/direct':>10}"
          f" {'shadow':>7}")  # fmt: skip
    for r, low, high in sat:
        print(f"{r.name:28} {r.rps:8.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {low:6.2f}-{high:6.2f} {r.errors:6d}"
              f" {r.rps / sat[0][0].rps:10.1%} {r.shadow_answers:7d}")  # fmt: skip
    print(f"\nfixed rate: {args.paced_requests} requests per row at {args.rate:.0f} req/s (open loop)")
    print(f"{'path':28} {'p50 ms':>8} {'p99 ms':>8} {'p99 range':>13} {'errors':>6} {'+p50 ms':>8} {'+p99 ms':>8}"
          f" {'shadow':>7} {'CPU ms/1k':>9}")  # fmt: skip
    base = paced[0][0]
    for r, low, high in paced:
        print(f"{r.name:28} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {low:6.2f}-{high:6.2f} {r.errors:6d}"
              f" {r.p50_ms - base.p50_ms:8.2f} {r.p99_ms - base.p99_ms:8.2f} {r.shadow_answers:7d}"
              f" {r.cpu_ms_per_1k:9.0f}")  # fmt: skip
    s = {r.name: r for r, _, _ in sat}
    f = {r.name: r for r, _, _ in paced}
    direct, router, mirror, nginx = (f[n] for n in ("direct TorchServe", "router", "router + 100% mirror", "nginx"))
    throughput = s["router"].rps / s["direct TorchServe"].rps
    added, nginx_added = router.p99_ms - direct.p99_ms, nginx.p99_ms - direct.p99_ms
    goals = [
        ("router throughput >= 95% of direct", throughput >= 0.95, f"{throughput:.1%}"),
        ("router added p99 <= nginx added p99 + 1 ms", added <= nginx_added + 1.0,
         f"{added:.2f} ms vs nginx {nginx_added:.2f} ms"),
        ("mirroring adds <= 10% to client p99", mirror.p99_ms <= router.p99_ms * 1.10,
         f"{mirror.p99_ms / router.p99_ms - 1:+.1%} at {args.rate:.0f} req/s (nginx's mirror:"
         f" {f['nginx + 100% mirror'].p99_ms / nginx.p99_ms - 1:+.1%});"
         f" saturated {s['router + 100% mirror'].p99_ms / s['router'].p99_ms - 1:+.1%}"
         f" (nginx's: {s['nginx + 100% mirror'].p99_ms / s['nginx'].p99_ms - 1:+.1%});"
         f" the router's own share, mirroring to a no-op: {f[NOOP_ROW].p99_ms / router.p99_ms - 1:+.1%}"),
        ("100% paired copies add <= 10% to client p99", f[PAIRED_ON].p99_ms <= f[PAIRED_OFF].p99_ms * 1.10,
         f"{f[PAIRED_ON].p99_ms / f[PAIRED_OFF].p99_ms - 1:+.1%} at {args.rate:.0f} req/s"
         f" ({f[PAIRED_OFF].p99_ms:.2f} -> {f[PAIRED_ON].p99_ms:.2f} ms; direct {direct.p99_ms:.2f} ms);"
         f" router CPU {f[PAIRED_OFF].cpu_ms_per_1k:.0f} -> {f[PAIRED_ON].cpu_ms_per_1k:.0f} ms per 1,000 requests"
         f" (nginx {nginx.cpu_ms_per_1k:.0f})"),
    ]  # fmt: skip
    print()
    for goal, met, value in goals:
        print(f"{'MET ' if met else 'MISS'} {goal}: {value}")


if __name__ == "__main__":
    main()

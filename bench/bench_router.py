"""Router benchmark: requests/s and client-side p50/p99 for the same bounded load sent

  1. directly to TorchServe,
  2. through the router (90/10 split, both to digits 1.0),
  3. through the router with 100% mirroring to digits 2.0,
  4. through the router with 100% mirroring to a no-op model that answers at once (nginx's `return`: the router's
     own share of the mirroring cost, apart from the shadow's inference competing for the CPUs),
  5. through nginx (split_clients, the peer),
  6. through nginx with 100% `mirror` to digits 2.0, and
  7. through the router, 90/10 split of digits 1.0 (stable) and 2.0 (candidate), with 0% and with 100% paired copies
     (every candidate-routed request copied to stable and every stable-routed one to the candidate, once the live
     answer is in: the most a paired comparison can cost),

then the ratios against direct side by side, the router's (and nginx's) CPU seconds per 1,000 requests at the
fixed rate, and the router's resident memory. The `shadow` column counts the digits 2.0 answers TorchServe gave
during each row, which shows that a mirror or a paired copy really reached it (the paired rows' candidate also
answers 10% of the clients). Last, issue #18's goals, each with its median over the rounds and the spread of its
per-round values (each round measures every path, so a round's difference is a like-for-like one).

    .venv/bin/python bench/bench_router.py [--rounds 7] [--requests 3000] [--concurrency 8]
    flock /tmp/visionroll-node.lock .venv/bin/python bench/bench_router.py --target cluster

Targets:
- `loopback` (the default): every process on this machine's loopback, as above.
- `cluster`: the stack `make demo` brings up on the real node (visionroll_demo.stack.running_stack: helm install,
  digits 1.0 applied as a VisionModel), so the router is the operator's Deployment (its pods, the serving image) and
  TorchServe is the stable's pod; the load comes from the host: directly to the stable's Service, through the
  router's front Service, and through nginx on the host in front of the stable's Service (nginx has no image here).
  The router's CPU and memory are its pods' processes, found by the pods' cgroups. Mirroring rows are loopback-only:
  mirroring is the router Deployment's state, which a rollout changes in tens of seconds, so it cannot be
  interleaved with the other rows round by round.

Every path is measured once per round, in a rotating order. The p50 and p99 are taken over the requests of all
rounds pooled (one 2,000-request p99 on a shared 2-core machine moves by tens of ms when one stall hits it), the
other figures are medians over the rounds, and each goal is judged with its 90% interval from resampling whole
rounds (verdicts.py): MET or MISSED only when the whole interval says so, else OPEN. A request that failed counts
as the slowest answer (infinite): a path that sheds load with quick 503s gets no better p99 for them, a p99 is
infinite when more than 1% of the requests failed (a difference with a base that failed cannot be told, and a path
that failed where its base did not misses its goal), and the throughput counts answers only. In the cluster the
router pods' CPU at rest is measured first and reported. Every process is stopped by its PID, and the cluster's
objects deleted, also when the run is interrupted by SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import psutil  # type: ignore[import-untyped]
import requests
from verdicts import Goal, difference, judge, percentile, relative_change

from localkube import local
from localkube.procs import Proc, Supervisor, free_port, stop_on_signals, wait_until
from visionroll_serving.samples import held_out_pngs

DIRECT, ROUTER, NGINX = "direct TorchServe", "router", "nginx"
MIRROR_ROW, NGINX_MIRROR = "router + 100% mirror", "nginx + 100% mirror"
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
    rss_mb: float = float("nan")  # the proxy's resident memory after the row (summed over its processes)
    round: int = 0
    latencies: tuple[float, ...] = field(default=(), repr=False)  # seconds, inf for an error: pooled over rounds


@dataclass(frozen=True)
class Target:
    """A path measured: its name, the URL clients post to, and the proxy's processes (none for direct)."""

    name: str
    url: str
    pids: Callable[[], list[int]] = lambda: []


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
                latencies.append(time.perf_counter() - started if ok else math.inf)  # as in fixed_rate
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
    answered = len(latencies) - errors  # throughput counts answers, not refusals
    return Result("", answered / elapsed, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000, errors,
                  latencies=tuple(latencies))  # fmt: skip


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
                ok = r.status == 200
            errors += not ok
            # An error is an answer the client never got: the slowest of all, whatever its own speed (a router that
            # sheds load with quick 503s must not look faster for it).
            latencies.append(time.perf_counter() - started if ok else math.inf)

        tasks = []
        begin = time.perf_counter()
        for i in range(requests):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    return Result("", len(latencies) / elapsed, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000,
                  errors, latencies=tuple(latencies))  # fmt: skip


# One nginx process (one worker, its files under `home`) with the given `http` directives and servers.
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {home}/body; proxy_temp_path {home}/proxy; fastcgi_temp_path {home}/fcgi;
  uwsgi_temp_path {home}/uwsgi; scgi_temp_path {home}/scgi;
  client_max_body_size 1m;
{http}
}}
"""

PEER = """
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
"""

NOOP_ANSWER = '{"top_k": [{"label": "0", "score": 1.0}]}'

NOOP = """
  server {{
    listen 127.0.0.1:{port};
    default_type application/json;
    location / {{ return 200 '{answer}'; }}
  }}
"""


def start_nginx_with(sup: Supervisor, name: str, home: Path, http: str, port: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "nginx.conf").write_text(NGINX_CONF.format(home=home, http=http))
    start_listener(sup, name, ["nginx", "-p", str(home), "-c", str(home / "nginx.conf")], port)


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
    start_nginx_with(sup, "nginx", tmp / "nginx", PEER.format(ts=torchserve, port=port, mirror_port=mirror_port), port)
    return port, mirror_port


def start_noop_model(sup: Supervisor, tmp: Path) -> int:
    """An upstream that answers every request at once with a fixed top-1, without inference: nginx's `return`, whose
    own CPU per request is a fraction of any Python server's, so that mirroring to it shows the router's cost and
    not the no-op's."""
    port = free_port()
    start_nginx_with(sup, "noop-model", tmp / "noop-model", NOOP.format(port=port, answer=NOOP_ANSWER), port)
    return port


def processes(pids: list[int]) -> list[psutil.Process]:
    """The processes and their children (nginx's worker)."""
    found = []
    for pid in pids:
        root = psutil.Process(pid)
        found += [root, *root.children(recursive=True)]
    return list({p.pid: p for p in found}.values())


def cpu_seconds(pids: list[int] | int | None) -> float:
    """User + system CPU time of the processes and their children; NaN without a process."""
    pids = [pids] if isinstance(pids, int) else pids or []
    if not pids:
        return float("nan")
    return float(sum(t.user + t.system for t in (p.cpu_times() for p in processes(pids))))


def cpu_at_rest(pids: list[int], *, seconds: float) -> float:
    """Milliseconds of CPU per second the processes use while no request comes."""
    before = cpu_seconds(pids)
    time.sleep(seconds)
    return (cpu_seconds(pids) - before) / seconds * 1000


def resident_mb(pids: list[int]) -> float:
    if not pids:
        return float("nan")
    return float(sum(p.memory_info().rss for p in processes(pids))) / 1e6


def measure(
    targets: list[Target], bodies: list[bytes], args: argparse.Namespace, shadow_count: Callable[[], int]
) -> tuple[list[Result], list[Result]]:
    """Every target once per round, in a rotating order: saturated, then at the fixed rate."""
    saturation: list[Result] = []
    latency: list[Result] = []
    for round_ in range(args.rounds):  # interleaved, so drift in machine load hits every path alike
        for target in targets[round_ % len(targets) :] + targets[: round_ % len(targets)]:
            url = target.url
            before = shadow_count()
            saturated = asyncio.run(
                load(url, bodies, requests=args.requests, concurrency=args.concurrency, warmup=args.warmup)
            )
            middle = shadow_count()  # a copy backlog must not spill into the next row
            cpu_before = cpu_seconds(target.pids())
            paced = asyncio.run(fixed_rate(url, bodies, requests=args.paced_requests, rate=args.rate))
            after = shadow_count()  # copies still in flight are the row's cost too
            cpu = (cpu_seconds(target.pids()) - cpu_before) / args.paced_requests * 1e6  # ms per 1,000
            rss = resident_mb(target.pids())
            saturation.append(replace(saturated, name=target.name, shadow_answers=middle - before, round=round_))
            latency.append(replace(paced, name=target.name, shadow_answers=after - middle, cpu_ms_per_1k=cpu,
                                   rss_mb=rss, round=round_))  # fmt: skip
            print(f"  round {round_ + 1}/{args.rounds} {target.name}: {saturated.rps:.0f} req/s saturated,"
                  f" p99 {paced.p99_ms:.2f} ms at {args.rate:.0f} req/s, proxy CPU {cpu:.0f} ms per 1,000,"
                  f" load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    return saturation, latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("loopback", "cluster"), default="loopback")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--rate", type=float, default=150.0, help="request rate of the fixed-rate rows")
    parser.add_argument("--paced-requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="TorchServe workers per model version")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; goals judged over them")
    args = parser.parse_args()
    stop_on_signals()
    bodies = [png for png, _ in held_out_pngs(200)]
    started = time.perf_counter()
    if args.target == "cluster":
        saturation, latency, where = in_cluster(args, bodies)
    else:
        saturation, latency, where = on_loopback(args, bodies)
    report(args, saturation, latency, time.perf_counter() - started, where)


def on_loopback(args: argparse.Namespace, bodies: list[bytes]) -> tuple[list[Result], list[Result], str]:
    archives = local.build_archives()
    tmp = Path(tempfile.mkdtemp(prefix="visionroll-bench-"))
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
            noop_port = start_noop_model(sup, tmp)
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

                def through(name: str, router: local.Router) -> Target:
                    return Target(name, f"{router.url}/predictions/digits", lambda: [router.pid] if router.pid else [])

                targets = [
                    Target(DIRECT, f"{upstream}/predictions/digits/1.0"),
                    through(ROUTER, plain),
                    through(MIRROR_ROW, mirror),
                    through(NOOP_ROW, mirror_noop),
                    through(PAIRED_OFF, unpaired),
                    through(PAIRED_ON, paired),
                    Target(NGINX, f"http://127.0.0.1:{nginx_port}/predictions/digits", lambda: [nginx_pid]),
                    Target(NGINX_MIRROR, f"http://127.0.0.1:{nginx_mirror_port}/predictions/digits",
                           lambda: [nginx_pid]),
                ]  # fmt: skip
                saturation, latency = measure(targets, bodies, args, lambda: settled_shadow_inferences(ts))
        finally:
            sup.stop_all()
            shutil.rmtree(tmp, ignore_errors=True)
    return saturation, latency, "every process on loopback"


def reachable(address: str, *, seconds: float) -> bool:
    host, _, port = address.partition(":")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            time.sleep(1)
    return False


def in_cluster(args: argparse.Namespace, bodies: list[bytes]) -> tuple[list[Result], list[Result], str]:
    """The router Deployment and the stable's TorchServe pod on the real node, the load from this host; everything
    torn down on the way out (stack.running_stack), also on SIGINT or SIGTERM."""
    from abuse_router import pod_pids

    from localkube.build import cache_root
    from visionroll import vocabulary
    from visionroll_demo.stack import NAME, running_stack

    tmp = Path(tempfile.mkdtemp(prefix="visionroll-bench-"))
    sup = Supervisor(tmp, die_with_parent=True)
    try:
        with running_stack(cache_root() / "run" / "bench-router", namespace="bench-router") as stack:
            cluster = stack.cluster
            configmap = cluster.kubectl_json(
                "get", "configmap", vocabulary.routing_configmap_name(NAME), "-n", stack.namespace
            )
            [stable] = [v for v in json.loads(configmap["data"]["router.json"])["variants"] if v["name"] == "stable"]
            host, _, port = urlsplit(stable["upstream"]).netloc.partition(":")
            service = cluster.kubectl_json("get", "service", host.split(".")[0], "-n", stack.namespace)
            torchserve = f"{service['spec']['clusterIP']}:{port or 80}"
            # The chart lets only the routers reach TorchServe's inference port (a NetworkPolicy, so that clients
            # cannot bypass the router); the direct and nginx rows come from the host, so this throwaway stack's
            # policies go. The router's path is the same with or without them.
            cluster.kubectl("delete", "networkpolicy", "--all", "-n", stack.namespace)
            pods = cluster.kubectl_json("get", "pods", "-n", stack.namespace)["items"]
            router_uids = [
                p["metadata"]["uid"]
                for p in pods
                if p["metadata"]["name"].startswith(vocabulary.router_name(NAME) + "-")
            ]
            router_pids = [pid for uid in router_uids for pid in pod_pids(uid)]
            at_rest = cpu_at_rest(router_pids, seconds=20.0)
            targets = [Target(ROUTER, stack.predictions_url, lambda: router_pids)]
            if reachable(torchserve, seconds=30):
                nginx_port, _ = start_nginx(sup, torchserve, tmp)
                nginx_pid = sup.procs[-1].pid
                targets = [
                    Target(DIRECT, f"http://{torchserve}/predictions/digits/1.0"),
                    *targets,
                    Target(NGINX, f"http://127.0.0.1:{nginx_port}/predictions/digits", lambda: [nginx_pid]),
                ]
            else:
                print(f"TorchServe's Service {torchserve} refuses the host (its NetworkPolicy holds): the router alone")
            saturation, latency = measure(targets, bodies, args, lambda: 0)
            where = (
                f"the router Deployment ({len(router_uids)} pods) and TorchServe (digits 1.0) in pods on the real node,"
                " load from the host; nginx on the host in front of the same TorchServe Service. With no traffic the"
                f" router's pods use {at_rest:.1f} ms of CPU per second (probes, scrapes, the ConfigMap watch):"
                f" {at_rest * 1000 / args.rate:.0f} ms of their CPU per 1,000 requests at {args.rate:.0f} req/s"
            )
    finally:
        sup.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return saturation, latency, where


def by_path(results: list[Result]) -> dict[str, dict[int, Result]]:
    """Each path's results by round, paths in first-seen order."""
    paths: dict[str, dict[int, Result]] = {}
    for r in results:
        paths.setdefault(r.name, {})[r.round] = r
    return paths


def pooled(rounds_of: dict[int, Result], rounds: Sequence[int], q: float) -> float:
    """The q-th percentile in ms of every request of the rounds drawn (a round drawn twice counts twice)."""
    return percentile([t for r in rounds for t in rounds_of[r].latencies], q) * 1000


def summary(results: list[Result]) -> list[tuple[Result, float, float]]:
    """Per path: the median of each figure over the rounds, except the p50 and p99, taken over the requests of all
    rounds pooled; and the lowest and highest per-round p99."""
    rows = []
    for name, rounds_of in by_path(results).items():
        rounds = list(rounds_of.values())
        med = Result(
            name,
            statistics.median(r.rps for r in rounds),
            pooled(rounds_of, list(rounds_of), 50),
            pooled(rounds_of, list(rounds_of), 99),
            sum(r.errors for r in rounds),
            sum(r.shadow_answers for r in rounds),
            statistics.median(r.cpu_ms_per_1k for r in rounds),
            max(r.rss_mb for r in rounds),
        )
        rows.append((med, min(r.p99_ms for r in rounds), max(r.p99_ms for r in rounds)))
    return rows


def goals(saturation: list[Result], latency: list[Result]) -> list[Goal]:
    """Issue #18's goals, each a figure over a draw of rounds (verdicts.judge resamples them)."""
    sat, paced = by_path(saturation), by_path(latency)

    def p99(path: str) -> Callable[[Sequence[int]], float]:
        return lambda rounds: pooled(paced[path], rounds, 99)

    def added(path: str, base: str) -> Callable[[Sequence[int]], float]:
        return lambda rounds: difference(p99(path)(rounds), p99(base)(rounds))

    def relative(path: str, base: str) -> Callable[[Sequence[int]], float]:
        return lambda rounds: relative_change(p99(path)(rounds), p99(base)(rounds))

    def throughput(rounds: Sequence[int]) -> float:
        return sum(sat[ROUTER][r].rps for r in rounds) / sum(sat[DIRECT][r].rps for r in rounds) * 100

    def cpu_ratio(rounds: Sequence[int]) -> float:
        return sum(paced[ROUTER][r].cpu_ms_per_1k for r in rounds) / sum(paced[NGINX][r].cpu_ms_per_1k for r in rounds)

    found = [
        Goal("router throughput >= 95% of direct (%)", throughput, 95.0, at_least=True),
        Goal("router added p99 <= 1 ms (ms)", added(ROUTER, DIRECT), 1.0),
        Goal("router added p99 <= nginx's (router - nginx, ms)", added(ROUTER, NGINX), 0.0),
        Goal("router CPU per 1,000 requests <= 1.5 x nginx's (x)", cpu_ratio, 1.5),
    ]
    if MIRROR_ROW in paced:
        found += [
            Goal("100% mirroring adds <= 10% to client p99 (%)", relative(MIRROR_ROW, ROUTER), 10.0),
            Goal("the router's own share (mirror to a no-op) adds <= 1 ms to p99 (ms)", added(NOOP_ROW, ROUTER), 1.0),
            Goal("100% paired copies add <= 10% to client p99 (%)", relative(PAIRED_ON, PAIRED_OFF), 10.0),
            Goal("for comparison, not a goal: nginx's 100% mirror adds <= 10% (%)", relative(NGINX_MIRROR, NGINX),
                 10.0),
        ]  # fmt: skip
    return found


def report(
    args: argparse.Namespace, saturation: list[Result], latency: list[Result], seconds: float, where: str
) -> None:
    print(f"\n{os.cpu_count()} CPUs, load avg {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min, shared"
          f" machine); {where}; {args.rounds} interleaved rounds; {seconds:.0f}s")  # fmt: skip
    print("p50 and p99 over the requests of all rounds pooled; req/s, CPU and RSS: medians over the rounds")
    sat, paced = summary(saturation), summary(latency)
    print(f"\nsaturation: {args.requests} requests per row after {args.warmup} warm-up, {args.concurrency} concurrent")
    print(f"{'path':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'round p99s':>13} {'errors':>6} {'rps/direct':>10}"
          f" {'shadow':>7}")  # fmt: skip
    for r, low, high in sat:
        print(f"{r.name:28} {r.rps:8.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {low:6.2f}-{high:6.2f} {r.errors:6d}"
              f" {r.rps / sat[0][0].rps:10.1%} {r.shadow_answers:7d}")  # fmt: skip
    print(f"\nfixed rate: {args.paced_requests} requests per row at {args.rate:.0f} req/s (open loop)")
    print(f"{'path':28} {'p50 ms':>8} {'p99 ms':>8} {'round p99s':>13} {'errors':>6} {'+p50 ms':>8} {'+p99 ms':>8}"
          f" {'shadow':>7} {'CPU ms/1k':>9} {'RSS MB':>7}")  # fmt: skip
    base = paced[0][0]
    for r, low, high in paced:
        print(f"{r.name:28} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {low:6.2f}-{high:6.2f} {r.errors:6d}"
              f" {r.p50_ms - base.p50_ms:8.2f} {r.p99_ms - base.p99_ms:8.2f} {r.shadow_answers:7d}"
              f" {r.cpu_ms_per_1k:9.0f} {r.rss_mb:7.0f}")  # fmt: skip
    names = {r.name for r, _, _ in paced}
    if DIRECT not in names or NGINX not in names:
        return  # the goals compare with both
    rounds = sorted({r.round for r in latency})
    verdicts = [judge(goal, rounds) for goal in goals(saturation, latency)]
    # At the fixed rate an error counts as the slowest answer (fixed_rate): a p99 is judged with the errors in it, and
    # is infinite when more than 1% of the requests failed.
    overloaded = sorted(f"{r.name} ({r.errors})" for r, _, _ in paced if r.errors)
    print(
        f"\ngoals: the value over all {len(rounds)} rounds, and its 90% interval from resampling whole rounds"
        " (MET or MISSED: all of the interval is on that side of the limit; OPEN: these rounds cannot tell)"
    )
    for v in verdicts:
        print(f"{v.word:6} {v.goal.text}: {v.value:+.2f}, interval {v.low:+.2f} to {v.high:+.2f}")
    if overloaded:
        print(f"errors at {args.rate:.0f} req/s, counted as the slowest answers: {', '.join(overloaded)}")


if __name__ == "__main__":
    main()

"""Abuse run: an abusive client against the router, fault by fault, while a well-behaved client sends a steady rate
of real digit images; prints fault -> expected -> observed, the router's memory (resident and high-water) before,
during and after each fault, and the well-behaved clients' p99 during each fault against an unabused baseline
measured in the same run (goal: within 10%).

    .venv/bin/python bench/abuse_router.py [--target cluster|loopback] [--rate 40]      (make abuse)

Targets:
- `cluster` (what `make abuse` runs, under the real node's lock): the stack `make demo` brings up
  (visionroll_demo.stack.running_stack: the real node, helm install, digits 1.0 applied as a VisionModel), so the
  router is the operator's Deployment (2 pods, the serving image) and clients reach it through its Service from the
  host. For the shadow faults digits 2.0 is applied as a shadow rollout at 100% mirroring, and its TorchServe pod
  is made slow (its processes stopped 500 ms of every 600 ms: this kernel has no netem) or made to hang (stopped
  with SIGSTOP), and continued afterwards.
- `loopback`: the router process (`visionroll-router` from the router image, default settings) in front of a real
  TorchServe serving digits 1.0; the shadows (one that never answers, one that answers after 0.5 s) are small
  servers inside this process.

Faults: slowloris heads and bodies, a 100 MB chunked body, non-image bytes, JSON without an image, 2,000 concurrent
connections (to the predictions, and to a path with no route: the router's own share of the flood, nothing
forwarded), and 100% mirroring to the slow and to the hanging shadow (with digits padded to 680 KiB, so the copy
queue reaches its byte bound). Each fault runs `--rounds` times (3), each round a window without it and then one
with it, interleaved; the fault's windows are pooled and judged against the pooled windows just before them (goal:
p99 within 10%; one 8 s window's p99 alone swings by more than that on a shared machine), with a 90% interval from
resampling whole rounds (verdicts.py): MET or MISSED only when the whole interval says so, else OPEN; a well-behaved
request that failed counts as the slowest answer in the verdict. For the slow shadow the
window before mirrors the same traffic to a healthy shadow, since mirroring itself, a second inference per request
on the same cores, is the rollout's cost and not the fault's; for the hanging shadow it is the same 680 KiB images
sent with no shadow. The pooled baseline is the well-behaved clients' latency in the windows before the other
faults. `--only TEXT` runs the faults whose name contains TEXT.

The abusive client runs at the lowest CPU priority (nice 19), as if it were another machine, so that its own CPU on
this shared one is not counted against the router. The flood (`flood.py`) comes from another client address than
the well-behaved clients', as another machine's would (the router shares its forwarding slots fairly between client
addresses): on loopback from 127.0.0.2; in the cluster from a pod of its own, whose address kube-proxy keeps (it
masquerades the host's clients to the node's address), started and made ready before the window it is measured
in, so that a pod's start and stop on this shared node are not counted as the flood's. Everything started is
stopped (processes by PID, the cluster's objects; stopped processes are continued), also on SIGINT, SIGTERM or an
exception.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import requests
from aiohttp import web
from flood import connection_flood, head, open_files_for
from verdicts import Goal, Verdict, judge, percentile, relative_change

import visionroll_demo.stack as stack_module
from localkube import images, local
from localkube.build import cache_root
from localkube.procs import stop_on_signals, wait_until
from visionroll import vocabulary
from visionroll.traffic.router import ROUTER_METRICS_PORT
from visionroll.workloads.security import container_security_context, pod_security_context
from visionroll_demo.stack import Stack, running_stack
from visionroll_serving.samples import held_out_pngs

MODEL = "digits"
ANSWER = json.dumps({"model": MODEL, "version": "2.0", "top_k": [{"label": "7", "index": 7, "score": 0.9}]})
SLOW_SHADOW_SECONDS = 0.5
MI = 1 << 20
BASELINE = "none (baseline: the windows before each fault, pooled)"


@dataclass
class Row:
    fault: str
    expected: str
    observed: str = ""
    p99_ms: float = float("nan")  # well-behaved clients during the fault
    p50_ms: float = float("nan")
    router_cpu_s: float = float("nan")  # the router's CPU seconds during the fault
    ok: int = 0  # their 200s
    not_ok: int = 0  # their other answers and failures
    rss_mb: tuple[float, float, float] = (float("nan"),) * 3  # before, highest during, after
    latencies: list[float] = field(default_factory=list)
    peak_mb: float = float("nan")  # VmHWM after the fault
    rounds: list[tuple[Row, Row]] = field(default_factory=list)  # each round's windows: (before, during)

    @property
    def quiet_p99_ms(self) -> float:
        """The well-behaved clients' p99 in the windows just before the fault, pooled over its rounds."""
        return percentile_ms([t for before, _ in self.rounds for t in before.latencies], 99)


def pooled(fault: str, expected: str, windows: list[Row]) -> Row:
    """One row for a fault's rounds: their latencies and counts pooled, memory from the first round's start to the
    last one's end, the router's CPU per window (mean), and what each round observed."""
    row = Row(fault, expected)
    for w in windows:
        row.latencies += w.latencies
        row.ok, row.not_ok = row.ok + w.ok, row.not_ok + w.not_ok
    row.latencies.sort()
    row.p50_ms, row.p99_ms = percentile_ms(row.latencies, 50), percentile_ms(row.latencies, 99)
    row.rss_mb = (windows[0].rss_mb[0], max(w.rss_mb[1] for w in windows), windows[-1].rss_mb[2])
    row.peak_mb = windows[-1].peak_mb
    row.router_cpu_s = statistics.mean(w.router_cpu_s for w in windows)
    seen = [w.observed for w in windows if w.observed]
    if len(seen) > 1:
        row.observed = "; ".join(f"round {i}: {o}" for i, o in enumerate(seen, 1))
    elif seen:
        row.observed = seen[0]
    return row


# --- the well-behaved client: its own process, so the abusers' CPU in this one does not skew its clock ---------


def well_behaved(url: str, rate: float, seconds: float) -> None:
    """Sends held-out digits at a fixed rate on a few keep-alive connections; prints one JSON line of results."""
    bodies = [png for png, _ in held_out_pngs(200)]

    async def run() -> dict[str, list[float] | int]:
        latencies: list[float] = []
        failures = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

            async def one(i: int) -> None:
                nonlocal failures
                started = time.perf_counter()
                try:
                    body = bodies[i % len(bodies)]
                    async with session.post(url, data=body, headers={"Content-Type": "image/png"}) as response:
                        await response.read()
                        if response.status == 200:
                            latencies.append(time.perf_counter() - started)
                        else:
                            failures += 1
                except (aiohttp.ClientError, TimeoutError):
                    failures += 1

            tasks = []
            start = time.perf_counter()
            for i in range(int(rate * seconds)):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
        return {"latencies": latencies, "failures": failures}

    print(json.dumps(asyncio.run(run())))


@contextmanager
def well_behaved_process(url: str, rate: float, seconds: float) -> Iterator[Callable[[], dict[str, Any]]]:
    command = [sys.executable, __file__, "--well-behaved", url, "--rate", str(rate), "--seconds", str(seconds)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:

        def result() -> dict[str, Any]:
            out, _ = process.communicate(timeout=seconds + 60)
            return dict(json.loads(out))

        yield result
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# --- the router's memory, sampled from its metrics while a fault runs --------------------------------------------


class MemoryWatch:
    def __init__(self, metrics_urls: list[str]) -> None:
        self.metrics_urls = metrics_urls
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> tuple[float, float, dict[str, float]]:
        """(resident MB, high-water MB, the copy queue's and other figures), summed over the routers."""
        rss = peak = 0.0
        queue: dict[str, float] = {}
        for url in self.metrics_urls:
            text = requests.get(url, timeout=5).text
            queue["cpu"] = queue.get("cpu", 0.0) + sum(
                v for _, v in local.metric_samples(text, "process_cpu_seconds_total")
            )
            rss += sum(v for _, v in local.metric_samples(text, "process_resident_memory_bytes"))
            peak += sum(v for _, v in local.metric_samples(text, "visionroll_router_resident_memory_peak_bytes"))
            for name in ("copy_queue_bytes", "copy_queue_bytes_high_water", "copy_queue_bytes_limit", "refused_total"):
                for labels, value in local.metric_samples(text, f"visionroll_router_{name}"):
                    key = name + "".join(f":{v}" for v in labels.values())
                    queue[key] = queue.get(key, 0.0) + value
            for labels, value in local.metric_samples(text, "visionroll_router_shadow_dropped_total"):
                key = f"dropped:{labels['reason']}"
                queue[key] = queue.get(key, 0.0) + value
        return rss / MI, peak / MI, queue

    def __enter__(self) -> MemoryWatch:
        rss, _, figures = self.read()
        self._samples = [rss]
        self._cpu = figures["cpu"]

        def sample() -> None:
            while not self._stop.wait(0.5):
                with suppress(requests.RequestException):  # a busy router misses a sample, not the run
                    self._samples.append(self.read()[0])

        self._stop.clear()
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def figures(self) -> tuple[tuple[float, float, float], float, float]:
        """((RSS before, max during, after), high-water, CPU seconds since __enter__)."""
        after, peak, figures = self.read()
        return (self._samples[0], max(self._samples + [after]), after), peak, figures["cpu"] - self._cpu


# --- the shadows: servers in this process, on their own event loop ------------------------------------------------


class Shadows:
    """`hang`: accepts connections and reads forever without answering; `slow`: answers after 0.5 s; `prompt`: answers
    at once (the healthy shadow each shadow fault is compared with)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._runners: list[web.AppRunner] = []
        self.hang_url = self._call(self._start_hang())
        self.slow_url = self._call(self._start_answering(SLOW_SHADOW_SECONDS))
        self.prompt_url = self._call(self._start_answering(0.0))

    def _call(self, coro: Awaitable[str]) -> str:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)  # type: ignore[arg-type]

    async def _start_hang(self) -> str:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await reader.read(65536):
                pass
            writer.close()

        self._hang = await asyncio.start_server(hold, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._hang.sockets[0].getsockname()[1]}"

    async def _start_answering(self, delay: float) -> str:
        async def answer(request: web.Request) -> web.Response:
            await request.read()
            if delay:
                await asyncio.sleep(delay)
            return web.Response(text=ANSWER, content_type="application/json")

        app = web.Application(client_max_size=2 * MI)
        app.router.add_post("/predictions/{model}/{version}", answer)
        runner = web.AppRunner(app, access_log=None)
        self._runners.append(runner)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    def close(self) -> None:
        async def stop() -> None:
            self._hang.close()
            for runner in self._runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


# --- the abusive client -------------------------------------------------------------------------------------------


async def slow_connection(host: str, port: int, first: bytes, trickle: bytes, limit: float) -> tuple[bytes, float]:
    """Sends `first`, then `trickle` every second, until the router closes or answers; (answer, seconds)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    answer = b""
    try:
        writer.write(first)
        while time.monotonic() - started < limit:
            try:
                data = await asyncio.wait_for(reader.read(65536), 1.0)
            except TimeoutError:
                writer.write(trickle)
                continue
            if not data:
                break
            answer += data
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return answer, time.monotonic() - started


async def slowloris(url: str, *, connections: int, body: bool, limit: float) -> str:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if body:
        first = head(parts.path, host, "Content-Length: 100000\r\n\r\n") + b"\x89PNG\r\n\x1a\n"
        trickle = b"\0"
    else:
        first, trickle = head(parts.path, host), b"X-Slow: a\r\n"
    results = await asyncio.gather(
        *(slow_connection(host, port, first, trickle, limit) for _ in range(connections)), return_exceptions=True
    )
    done = [r for r in results if isinstance(r, tuple)]
    statuses: dict[str, int] = {}
    for answer, _ in done:
        status = answer.split(b"\r\n", 1)[0].decode(errors="replace")[9:12] or "closed"
        statuses[status] = statuses.get(status, 0) + 1
    seconds = sorted(s for _, s in done)
    held = sum(1 for s in seconds if s >= limit)
    with_reason = sum(1 for answer, _ in done if b"not received within" in answer)
    median = statistics.median(seconds) if seconds else float("nan")
    return (
        f"{len(done)}/{connections} ended: {statuses}, median {median:.1f}s, max {max(seconds, default=0):.1f}s; "
        f"held to the end {held}" + (f"; 408 with reason {with_reason}" if body else "")
    )


async def chunked_100mb(url: str) -> str:
    """Streams 100 MiB of chunks, reading the answer while sending (as curl does): a router that answers early and
    closes would otherwise reset the connection and the answer with it."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    answering = asyncio.ensure_future(reader.read(65536))
    chunk = b"\0" * MI
    sent = 0
    try:
        writer.write(head(parts.path, host, "Transfer-Encoding: chunked\r\n\r\n"))
        while sent < 100 * MI and not answering.done():
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            sent += len(chunk)
        if not answering.done():
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    answer = b""
    with suppress(TimeoutError, ConnectionError, OSError):
        answer = await asyncio.wait_for(answering, 10)
    writer.close()
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    reason = answer.partition(b"\r\n\r\n")[2][:90].decode(errors="replace").strip()
    return f"{status[9:] or 'no answer'} {reason} ({sent // MI} MiB sent, {time.monotonic() - started:.1f}s)"


def junk(url: str, body: bytes, content_type: str) -> str:
    response = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=10)
    return f"{response.status_code} {response.text[:100]}"


def large_png(digit_png: bytes, padding: int = 680 * 1024) -> bytes:
    """A held-out digit whose PNG carries `padding` bytes in a private ancillary chunk (`vrAp`, which decoders skip):
    a large body for the router to hold and copy that costs TorchServe no more than the digit, so the fault under
    test is the shadow, not the live variant's load."""
    chunk_type = b"vrAp"
    data = b"\0" * padding
    chunk = struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", zlib.crc32(chunk_type + data))
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR's length and type, its 13 bytes, its CRC
    return digit_png[:ihdr_end] + chunk + digit_png[ihdr_end:]


async def large_images(url: str, body: bytes, *, rate: float, seconds: float) -> str:
    """Large images at a fixed rate (a load the stable variant keeps up with: the fault is the shadow, not load)."""
    statuses: dict[int | str, int] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def one() -> None:
            key: int | str
            try:
                async with session.post(url, data=body, headers={"Content-Type": "image/png"}) as response:
                    await response.read()
                    key = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                key = type(exc).__name__
            statuses[key] = statuses.get(key, 0) + 1

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return f"{len(tasks)} images of {len(body) // 1024} KiB at {rate:g}/s answered {statuses}"


# --- the targets: where the router runs, and how its shadow is made to hang or to answer slowly --------------


class Target(Protocol):
    predictions_url: str
    metrics_urls: list[str]

    def healthy_shadow(self) -> AbstractContextManager[str]: ...  # 100% mirrored to a shadow that answers at once
    def slow_shadow(self) -> AbstractContextManager[str]: ...  # (inside healthy_shadow) yields how it was made slow
    def hanging_shadow(self) -> AbstractContextManager[str]: ...  # (inside healthy_shadow) ... made to hang
    def mirroring(self) -> str: ...  # the routers' mirror percentage now, as their config says
    # `connections` at once to `url` from another client address: made ready outside the windows, fired by what it
    # yields
    def flooder(self, connections: int, body: bytes, url: str) -> AbstractContextManager[Callable[[], str]]: ...


@dataclass
class Loopback:
    """The real router and a real TorchServe on loopback; the router's config names the shadow of each phase."""

    router: local.Router
    config_path: Path
    upstream: str
    shadows: Shadows
    predictions_url: str = ""
    metrics_urls: list[str] = field(default_factory=list)

    def mirroring(self) -> str:
        shadow = json.loads(self.config_path.read_text()).get("shadow") or {}
        return f"{shadow.get('percent', 0):g}%"

    @contextmanager
    def flooder(self, connections: int, body: bytes, url: str) -> Iterator[Callable[[], str]]:
        """From 127.0.0.2, another address than the well-behaved clients', as another machine's would be: the router
        shares its forwarding slots fairly between the addresses clients come from."""
        open_files_for(connections)
        yield lambda: asyncio.run(connection_flood(url, connections, body, "127.0.0.2"))

    def mirror_to(self, shadow_url: str | None) -> None:
        variants = [local.variant("stable", "1.0", self.upstream, weight=100)]
        shadow = None
        if shadow_url is not None:
            variants.append(local.variant("candidate", "2.0", shadow_url, weight=0))
            shadow = {"variant": "candidate", "percent": 100}
        local.write_router_config(self.config_path, local.router_config(variants, shadow=shadow))
        time.sleep(1.5)  # the router polls its file every 0.5 s

    @contextmanager
    def _mirroring(self, shadow_url: str, how: str, after: str | None) -> Iterator[str]:
        """Mirrors to `shadow_url` inside the block, then to `after` (None: no shadow)."""
        self.mirror_to(shadow_url)
        try:
            yield how
        finally:
            self.mirror_to(after)

    def healthy_shadow(self) -> AbstractContextManager[str]:
        return self._mirroring(self.shadows.prompt_url, "a server on loopback answering at once", None)

    def slow_shadow(self) -> AbstractContextManager[str]:
        how = f"a server on loopback answering after {SLOW_SHADOW_SECONDS:g} s"
        return self._mirroring(self.shadows.slow_url, how, self.shadows.prompt_url)

    def hanging_shadow(self) -> AbstractContextManager[str]:
        how = "a server on loopback that accepts and never answers"
        return self._mirroring(self.shadows.hang_url, how, self.shadows.prompt_url)


@dataclass
class InCluster:
    """The router Deployment the operator made for digits 1.0 on the real node (2 pods; clients reach it through its
    front Service's cluster IP, as a client on the node does). For the shadow faults digits 2.0 is applied as a
    shadow rollout at 100% mirroring; its TorchServe pod is then made slow (its processes stopped most of the time)
    or made to hang (stopped)."""

    stack: Stack
    predictions_url: str = ""
    metrics_urls: list[str] = field(default_factory=list)

    def routers(self) -> None:
        router = vocabulary.router_name(stack_module.NAME)
        pods = self.stack.cluster.kubectl_json("get", "pods", "-n", self.stack.namespace)["items"]
        ips = [p["status"]["podIP"] for p in pods if p["metadata"]["name"].startswith(router + "-")]
        self.metrics_urls = [f"http://{ip}:{ROUTER_METRICS_PORT}/metrics" for ip in ips]
        self.predictions_url = self.stack.predictions_url

    @contextmanager
    def healthy_shadow(self) -> Iterator[str]:
        """digits 2.0 applied as a shadow rollout at 100% mirroring, its pod left alone; it stays for the rest of the
        run (the stack's teardown deletes it)."""
        stack = self.stack
        # No analysis during the run (interval 1h): the operator would rightly roll back a shadow that hangs, and
        # the run is about the router's bounds while it mirrors. It still stops mirroring to a candidate whose pods
        # are not ready (DESIGN rule 2), which a stopped pod becomes after ~10 s of failed probes.
        rollout = {
            "strategy": "shadow",
            "shadow": {"mirrorPercent": 100, "duration": "30m", "thenPromote": "direct"},
            "analysis": {"interval": "1h"},
        }
        stack.apply(stack.manifest("2.0", rollout))
        wait_until("the routers to mirror 100% to digits 2.0", lambda: self.mirroring() == "100%", 300, interval=2)
        time.sleep(3)  # the routers' ConfigMap watch
        yield "digits 2.0's TorchServe pod"

    @contextmanager
    def flooder(self, connections: int, body: bytes, url: str) -> Iterator[Callable[[], str]]:
        """From a pod of its own (the serving image's Python running `flood.py`, at nice 19: an abuser's CPU is
        someone else's machine's), through the routers' Service as the well-behaved clients go. kube-proxy keeps a
        pod's address where it masquerades the host's clients to the node's, so the routers see the flood as another
        client, as they would another workload of the cluster. Clients behind one address (an ingress, a NAT)
        share one client's share of the slots. The pod is started, its Python run and made ready (`--on-go`), before
        the window, and deleted after it: a pod's start and stop are this shared node's CPU, not the flood's."""
        cluster, namespace = self.stack.cluster, self.stack.namespace
        cluster.apply(abuser_pod(), namespace=namespace)
        flood: subprocess.Popen[str] | None = None
        try:
            cluster.kubectl("wait", "--for=condition=Ready", f"pod/{ABUSER_POD}", "-n", namespace,
                            "--timeout=120s", timeout=130)  # fmt: skip
            script = (Path(__file__).parent / "flood.py").read_text()
            flood = process = cluster.kubectl_process("exec", "-i", ABUSER_POD, "-n", namespace, "--", "nice", "-n",
                                                      str(ABUSER_NICE), "python", "-c", script, url,
                                                      str(connections), base64.b64encode(body).decode(),
                                                      "--on-go")  # fmt: skip
            assert process.stdin is not None and process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the flood in pod {ABUSER_POD} did not start: {process.communicate(timeout=10)}")

            def fire() -> str:
                out, err = process.communicate("go\n", timeout=180)
                if process.returncode != 0:
                    raise RuntimeError(f"the flood in pod {ABUSER_POD} exited {process.returncode}: {err.strip()}")
                return f"from a pod: {out.strip()}"

            yield fire
        finally:
            if flood is not None and flood.poll() is None:
                flood.kill()
                flood.wait(timeout=10)
            cluster.kubectl("delete", "pod", ABUSER_POD, "-n", namespace, "--ignore-not-found", "--timeout=60s",
                            timeout=70)  # fmt: skip

    def mirroring(self) -> str:
        configmap = vocabulary.routing_configmap_name(stack_module.NAME)
        stack = self.stack
        data = stack.cluster.kubectl_json("get", "configmap", configmap, "-n", stack.namespace)["data"]
        shadow = json.loads(data["router.json"]).get("shadow") or {}
        return f"{shadow.get('percent', 0):g}%"

    def _candidate_pods(self) -> list[dict[str, Any]]:
        revision = self.stack.revision("2.0")
        selector = f"{vocabulary.LABEL_REVISION}={revision}"
        pods = self.stack.cluster.kubectl_json("get", "pods", "-n", self.stack.namespace, "-l", selector)["items"]
        return list(pods)

    @contextmanager
    def slow_shadow(self) -> Iterator[str]:
        """The candidate's processes stopped 500 ms of every 600 ms (this kernel has no netem for a network delay):
        each answer waits up to 0.5 s and is computed at a sixth of the speed; its probes (3 s timeout) still pass."""
        pids = [pid for p in self._candidate_pods() for pid in pod_pids(p["metadata"]["uid"])]
        done = threading.Event()

        def cycle() -> None:
            while not done.is_set():
                signal_all(pids, signal.SIGSTOP)
                done.wait(SLOW_SHADOW_SECONDS)
                signal_all(pids, signal.SIGCONT)
                done.wait(0.1)

        thread = threading.Thread(target=cycle, daemon=True)
        thread.start()
        try:
            yield f"digits 2.0's TorchServe stopped {SLOW_SHADOW_SECONDS * 1000:.0f} ms of every 600 ms"
        finally:
            done.set()
            thread.join(timeout=5)
            signal_all(pids, signal.SIGCONT)

    @contextmanager
    def hanging_shadow(self) -> Iterator[str]:
        pids = [pid for p in self._candidate_pods() for pid in pod_pids(p["metadata"]["uid"])]
        try:
            signal_all(pids, signal.SIGSTOP)
            yield "digits 2.0's TorchServe stopped (SIGSTOP)"
        finally:
            signal_all(pids, signal.SIGCONT)


ABUSER_POD = "abuser"


def abuser_pod() -> dict[str, Any]:
    """A pod that idles until the flood is run in it; Pod Security "restricted" like every pod of the stack."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": ABUSER_POD, "labels": {"app.kubernetes.io/name": "visionroll-abuser"}},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "securityContext": pod_security_context(),
            "containers": [
                {
                    "name": "flood",
                    "image": images.SERVING_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", "import time; time.sleep(3600)"],
                    "securityContext": container_security_context(),
                }
            ],
        },
    }


def signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signum)


def pod_pids(uid: str) -> list[int]:
    """The host PIDs of a pod's processes on this node, found by the pod UID in their cgroup paths."""
    marks = (uid, uid.replace("-", "_"))
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with suppress(OSError):
            cgroups = (proc / "cgroup").read_text()
            if any(mark in cgroups for mark in marks):
                found.append(int(proc.name))
    if not found:
        raise RuntimeError(f"no process of pod {uid} on this node")
    return sorted(found)


def phase(
    target: Target, row: Row, seconds: float, rate: float, abuse: Callable[[], Awaitable[str] | str] | None
) -> Row:
    watch = MemoryWatch(target.metrics_urls)
    with watch, well_behaved_process(target.predictions_url, rate, seconds) as result:
        time.sleep(min(2.0, seconds / 4))  # the well-behaved clients are under way first
        if abuse is not None:
            row.observed = as_another_machine(abuse)
        measured = result()
    row.latencies = sorted(measured["latencies"])
    row.ok, row.not_ok = len(row.latencies), int(measured["failures"])
    row.p50_ms, row.p99_ms = percentile_ms(row.latencies, 50), percentile_ms(row.latencies, 99)
    row.rss_mb, row.peak_mb, row.router_cpu_s = watch.figures()
    print(f"  {row.fault}: {row.observed or '-'} | p50 {row.p50_ms:.1f} p99 {row.p99_ms:.1f} ms | "
          f"rss {row.rss_mb} | router cpu {row.router_cpu_s:.1f}s", flush=True)  # fmt: skip
    return row


ABUSER_NICE = 19


def as_another_machine(abuse: Callable[[], Awaitable[str] | str]) -> str:
    """Runs the abuse in a thread of its own at the lowest CPU priority (nice 19, Linux niceness is per thread): an
    abusive client is someone else's machine, so on this shared one it must not take the CPU the router, TorchServe
    and the well-behaved clients need, or the run would measure the abuser's own CPU and not what the router does
    with its connections. What the router does for it (accepting, reading, answering) is still the router's CPU."""
    result: list[str] = []
    failure: list[BaseException] = []

    def work() -> None:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ABUSER_NICE)
        try:
            outcome = abuse()
            result.append(asyncio.run(outcome) if asyncio.iscoroutine(outcome) else str(outcome))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=work, name="abuser", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def percentile_ms(latencies: list[float], q: float) -> float:
    return percentile(latencies, q) * 1000


def within_10_percent(row: Row) -> Verdict:
    """The goal "the well-behaved clients' p99 during the fault is within 10% of theirs in the windows before it",
    judged over the fault's rounds (verdicts.judge: their p99s pooled over the rounds drawn, the interval from
    resampling whole rounds, each round's two windows kept together). Their failures count as the slowest answers:
    a well-behaved request refused during a fault is not one answered fast."""

    def with_failures(window: Row) -> list[float]:
        return window.latencies + [math.inf] * window.not_ok

    def change(rounds: Sequence[int]) -> float:
        before = [t for r in rounds for t in with_failures(row.rounds[r][0])]
        during = [t for r in rounds for t in with_failures(row.rounds[r][1])]
        return relative_change(percentile(during, 99), percentile(before, 99))

    return judge(Goal(f"{row.fault}: well-behaved p99 vs the windows before (%)", change, 10.0), range(len(row.rounds)))


def run(target: Target, args: argparse.Namespace) -> tuple[list[Row], dict[str, float]]:
    url = target.predictions_url
    rate = args.rate
    pngs = [png for png, _ in held_out_pngs(8)]
    big = large_png(pngs[2])
    phase(target, Row("warm-up (not reported)", ""), 8, rate, None)
    # The baseline: quiet windows before every fault, pooled, so that it sees the same background load as the
    # faults do on a shared machine.
    baseline_windows: list[Row] = []  # pooled into the BASELINE row
    rows: list[Row] = []

    def wanted(name: str) -> bool:
        return not args.only or args.only in name

    def fault(
        name: str,
        expected: str,
        seconds: float,
        abuse: Callable[[], Awaitable[str] | str] | None,
        *,
        armed: Callable[[], AbstractContextManager[Callable[[], str]]] | None = None,
        condition: Callable[[], AbstractContextManager[str]] | None = None,
        before: list[Row] | None = None,
    ) -> None:
        """`--rounds` times, a window without the fault, then one with it, interleaved (on a shared machine one
        window's p99 swings more than the 10% judged); the fault's windows are pooled, and so are the windows
        before it. `armed`, in place of `abuse`: the abuse made ready between the two windows (an abuser's pod
        started) and fired in the window by what it yields. `condition` is the fault when it is a state of the
        system (a shadow made slow): entered between the two windows. `before`: the windows to compare with,
        measured earlier (with load that goes with the fault but is not it); they stay out of the pooled baseline."""
        if not wanted(name):
            return
        quiets, during = [], []
        for r in range(args.rounds):
            label = f" (round {r + 1} of {args.rounds})"
            quiet = before[r] if before else phase(target, Row(f"window before: {name}{label}", ""),
                                                   args.quiet_seconds, rate, None)  # fmt: skip
            if before is None:
                baseline_windows.append(quiet)
            with (
                condition() if condition is not None else nullcontext("") as how,
                armed() if armed is not None else nullcontext(abuse) as fire,
            ):
                window = phase(target, Row(name + label, expected), seconds, rate, fire)
            if how:
                window.observed = f"{how}; {window.observed}"
            quiets.append(quiet)
            during.append(window)
        row = pooled(name, expected, during)
        row.rounds = list(zip(quiets, during, strict=True))
        rows.append(row)

    fault("500 slowloris heads", "closed at the head deadline (10 s), no answer", 16,
          lambda: slowloris(url, connections=500, body=False, limit=30))  # fmt: skip
    fault("200 slowloris bodies", "408 + reason at the body deadline (10 s), closed", 16,
          lambda: slowloris(url, connections=200, body=True, limit=30))  # fmt: skip
    fault("100 MB chunked body", "413 + reason, without reading 100 MB into memory", 8, lambda: chunked_100mb(url))
    fault("non-image bytes", "400 + reason", 6, lambda: junk(url, b"MZ\x90\x00\x03 an executable", "image/png"))
    fault("JSON without an image", "400 + reason", 6,
          lambda: junk(url, json.dumps({"instances": [[0, 1, 2]]}).encode(), "application/json"))  # fmt: skip
    fault(f"{args.connections:,} concurrent connections", "200, or 503 + Retry-After at once; no hang", 20,
          None, armed=lambda: target.flooder(args.connections, pngs[0], url))  # fmt: skip
    # The same flood to a path with no route: the router reads and answers every request itself (404 + reason) and
    # forwards none. This is the router's own share of the flood; the rest of the flood's cost above is the admitted
    # predictions' inference, which the well-behaved clients wait behind at the same model server.
    no_route = url.split("/predictions/")[0] + "/no-such-route"
    fault(f"{args.connections:,} concurrent connections to a path with no route (the router's own share)",
          "404 + reason at once; no hang", 20, None,
          armed=lambda: target.flooder(args.connections, pngs[0], no_route))  # fmt: skip

    def copies(abuse: Callable[[], Coroutine[Any, Any, str]] | None) -> Callable[[], str]:
        """The abuse (if any), then what the copy queue did meanwhile and whether the routers still mirror."""

        def run_it() -> str:
            before = MemoryWatch(target.metrics_urls).read()[2]
            mirrored_at_start = target.mirroring()
            said = asyncio.run(abuse()) if abuse is not None else "the well-behaved clients' requests, mirrored"
            after = MemoryWatch(target.metrics_urls).read()[2]
            dropped = after.get("dropped:queue_full", 0) - before.get("dropped:queue_full", 0)
            return (
                f"{said}; mirroring {mirrored_at_start} at the start, {target.mirroring()} at the end; copy queue "
                f"high-water {after.get('copy_queue_bytes_high_water', 0) / MI:.1f} MiB of "
                f"{after.get('copy_queue_bytes_limit', 0) / MI:.0f} MiB, {dropped:.0f} copies dropped"
            )

        return run_it

    # The slow shadow is compared with the same traffic mirrored 100% to a healthy shadow: mirroring itself is the
    # rollout's cost (a second inference per request on the same cores), not the fault's. The hanging shadow is
    # compared with the same 680 KiB images sent with no shadow at all (a healthy shadow would spend the node's CPU
    # on them, which a hanging one does not): the difference is what the hanging shadow costs.
    def big_images() -> Coroutine[Any, Any, str]:
        return large_images(url, big, rate=15, seconds=14)

    slow, hang = "shadow answers slowly, 100% mirrored", "shadow hangs, 100% mirrored, digits padded to 680 KiB"
    no_shadow = None
    if wanted(hang):
        no_shadow = [
            phase(target, Row(f"window before: {hang} (the same images, no shadow), {r + 1}", ""), 20, rate, big_images)
            for r in range(args.rounds)
        ]
    with target.healthy_shadow() if wanted(slow) or wanted(hang) else nullcontext(""):
        fault(slow, "clients unaffected (vs a healthy shadow)", 20, copies(None), condition=target.slow_shadow)
        fault(hang, "clients unaffected (vs the same images, no shadow); copy queue <= its bytes, drops counted",
              20, copies(big_images), condition=target.hanging_shadow, before=no_shadow)  # fmt: skip
    _, _, hang_queue = MemoryWatch(target.metrics_urls).read()
    # Copies still queued for the hanging shadow once it runs again are dropped as expired when a sender takes them
    # (they waited longer than the copy timeout): the queue empties in about one copy timeout, not in minutes.
    started = time.monotonic()
    while (
        held := MemoryWatch(target.metrics_urls).read()[2].get("copy_queue_bytes", 0)
    ) and time.monotonic() < started + 120:
        time.sleep(1)
    print(f"  copy queue holds {held / MI:.1f} MiB before the last window, "
          f"{time.monotonic() - started:.0f} s after the hanging shadow", flush=True)  # fmt: skip
    rows.append(phase(target, Row("none (after)", "memory back near the start"), 8, rate, None))
    if baseline_windows:
        rows.insert(0, pooled(BASELINE, "", baseline_windows))
    return rows, hang_queue


def report(rows: list[Row], queue: dict[str, float], started: float, where: str, routers: int) -> None:
    """Memory, CPU and the copy queue's figures are summed over the router pods (`routers`)."""
    baseline = rows[0].p99_ms if rows[0].fault == BASELINE else float("nan")
    summed = f" (sum of {routers} pods)" if routers > 1 else ""
    print(f"\nAbuse run against {where} ({time.monotonic() - started:.0f} s in all); well-behaved clients at a fixed "
          "rate, latency of their 200s, each fault's rounds pooled")  # fmt: skip
    print("| fault | expected | observed | well-behaved p50 / p99 ms (p99 vs pooled baseline) | their p99 in the "
          "windows before, ms | p99 within 10% of those windows: verdict, change (90% interval over rounds) | p99 per "
          "round, before → during, ms | their non-200 | "
          f"router RSS MB before / max during / after{summed} | router CPU s per window{summed} |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = row.p99_ms / baseline if baseline == baseline and baseline else float("nan")
        before_ms = row.quiet_p99_ms
        within = "-"
        if row.rounds:
            verdict = within_10_percent(row)
            within = f"{verdict.word} {verdict.value:+.0f}% ({verdict.low:+.0f}% to {verdict.high:+.0f}%)"
        per_round = ", ".join(f"{b.p99_ms:.0f} → {d.p99_ms:.0f}" for b, d in row.rounds) or "-"
        before, during, after = row.rss_mb
        observed = " ".join((row.observed or "-").split())  # one table row, whatever an answer's body held
        print(f"| {row.fault} | {row.expected} | {observed} | {row.p50_ms:.1f} / {row.p99_ms:.1f} "
              f"({ratio:.2f}x) | {before_ms:.0f} | {within} | {per_round} | {row.not_ok} of {row.ok + row.not_ok} | "
              f"{before:.0f} / {during:.0f} / {after:.0f} | {row.router_cpu_s:.1f} |")  # fmt: skip
    print(f"\nrouter resident high-water (VmHWM) at the end{summed}: {rows[-1].peak_mb:.0f} MB")
    print("copy queue after the hanging shadow: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(queue.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40.0, help="well-behaved requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help=argparse.SUPPRESS)
    parser.add_argument("--quiet-seconds", type=float, default=8.0, help="each quiet window of the baseline")
    parser.add_argument("--rounds", type=int, default=3, help="windows before and during each fault, interleaved")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--only", metavar="TEXT", help="run only the faults whose name contains TEXT")
    parser.add_argument("--target", choices=("loopback", "cluster"), default="loopback")
    parser.add_argument("--well-behaved", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.well_behaved:
        well_behaved(args.well_behaved, args.rate, args.seconds)
        return

    stop_on_signals()
    if args.target == "cluster":
        in_cluster(args)
    else:
        on_loopback(args)


def on_loopback(args: argparse.Namespace) -> None:
    started = time.monotonic()
    archives = local.build_archives()
    tmp = Path(tempfile.mkdtemp(prefix="visionroll-abuse-"))
    shadows = Shadows()
    try:
        with local.TorchServe([archives.archive("1.0")], batch_size=4, max_batch_delay_ms=2) as torchserve:
            torchserve.start()
            config_path = tmp / "router.json"
            with local.Router(config_file=config_path, log_level="WARNING") as router:
                target = Loopback(router, config_path, torchserve.inference_url, shadows)
                target.mirror_to(None)
                router.start()
                target.predictions_url = f"{router.url}/predictions/{MODEL}"
                target.metrics_urls = [router.metrics_url + "/metrics"]
                rows, queue = run(target, args)
        report(rows, queue, started, "the router and TorchServe as processes on loopback", 1)
    finally:
        shadows.close()


def in_cluster(args: argparse.Namespace) -> None:
    """Everything up as `make demo` brings it up (stack.running_stack: the real node, helm install, digits 1.0), and
    down again on the way out, on SIGINT, SIGTERM or an exception."""
    started = time.monotonic()
    with running_stack(cache_root() / "run" / "abuse", namespace="abuse") as stack:
        target = InCluster(stack)
        target.routers()
        rows, queue = run(target, args)
    where = f"the router Deployment ({len(target.metrics_urls)} pods) and TorchServe pods on the real node"
    report(rows, queue, started, where, len(target.metrics_urls))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as interrupted:  # everything started was stopped on the way out (the `with` blocks)
        print(f"\ninterrupted ({interrupted or 'Ctrl-C'}); everything the run started is stopped", file=sys.stderr)
        sys.exit(130)

"""Where the router spends its CPU per request: Go's CPU profile of the router (`--pprof`, on its metrics port) while
a fixed-rate load goes through it to a no-op upstream (nginx answering at once, so nothing but the router's own
work is profiled), once per mode: plain forwarding, 100% shadow mirroring, 100% paired copies. Prints,
per mode, the router's CPU per request and `go tool pprof -top`, by self time and by inclusive time.

Then, side by side in the same run, what the router, nginx (the peer, `split_clients` to the same no-op) and two
bare proxies with no routing at all (bench/floor: Go on fasthttp, the router's HTTP stack, and Rust on tokio's
current-thread runtime with hyper; each built here, skipped without its toolchain) cost per request at the same
rate, all of their threads counted: CPU, context switches (from /proc), and system calls by name (`strace -c -f`,
in a second pass of the same load, since tracing slows what it traces; skipped without strace). Interleaved over
`--rounds`; medians. The router over the Go floor is the router's own work; the Go floor over the Rust floor is
what the Go runtime costs at this rate. `--modes` with no mode runs only this part.

    .venv/bin/python bench/profile_router.py [--seconds 20] [--rate 400] [--top 15] [--rounds 3]

Every process started is stopped by its PID, also on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests
from bench_router import cpu_seconds, fixed_rate, processes, start_listener, start_nginx, start_noop_model

from localkube import images, local
from localkube.build import BuildError, cache_root, go_executable
from localkube.procs import Supervisor, free_port, stop_on_signals
from visionroll_serving.samples import held_out_pngs

MODES: dict[str, dict[str, object]] = {
    "plain": {},
    "100% shadow": {"shadow": {"variant": "candidate", "percent": 100}},
    "100% paired": {"paired": {"candidatePercent": 100, "stablePercent": 100}},
}


def router_config(mode: str, upstream: str) -> dict[str, object]:
    weights = (100, 0) if mode == "100% shadow" else (50, 50)
    variants = [
        local.variant("stable", "1.0", upstream, weight=weights[0]),
        local.variant("candidate", "2.0", upstream, weight=weights[1]),
    ]
    return {**local.router_config(variants), **MODES[mode]}


def top(profile: Path, limit: int, *, cumulative: bool) -> str:
    """`go tool pprof -top` of the profile, the router's binary for its symbols."""
    command = [go_executable(), "tool", "pprof", "-top", f"-nodecount={limit}", *(["-cum"] if cumulative else [])]
    done = subprocess.run([*command, str(images.router_binary()), str(profile)], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("flat"))
    return "\n".join("  " + line for line in lines[start - 1 :])


def threads(pids: list[int]) -> list[Path]:
    """/proc/PID/task/TID of every thread of the processes and of their children (nginx's worker)."""
    return [task for process in processes(pids) for task in Path(f"/proc/{process.pid}/task").iterdir()]


def context_switches(pids: list[int]) -> int:
    """Voluntary and involuntary context switches of all the threads (/proc/PID/status counts one thread only)."""
    total = 0
    for task in threads(pids):
        for line in (task / "status").read_text().splitlines():
            if "ctxt_switches:" in line:
                total += int(line.split()[-1])
    return total


def traced_calls(pids: list[int], load: Callable[[], None], out: Path) -> dict[str, int]:
    """System calls by name of the processes (every thread, children too) while `load` runs: `strace -c -f`."""
    targets = [a for task in threads(pids) for a in ("-p", task.name)]
    tracer = subprocess.Popen(["strace", "-c", "-f", "-o", str(out), *targets], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # attached
        load()
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
    calls: dict[str, int] = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if len(parts) in (5, 6) and parts[0][0].isdigit() and parts[-1] != "total":
            calls[parts[-1]] = calls.get(parts[-1], 0) + int(parts[3])
    return calls


FLOOR = Path(__file__).parent / "floor"


def floor_proxies(sup: Supervisor, upstream: str) -> dict[str, tuple[str, list[int]]]:
    """The bare proxies of bench/floor, built (into the cache) and started before the same upstream: Go's on
    fasthttp, as the router's HTTP stack, and Rust's on tokio's current-thread runtime and hyper. Each is skipped,
    and said so, when its toolchain is missing."""
    built = cache_root() / "floor"
    try:
        go: list[str] | None = [go_executable(), "build", "-o", str(built / "floor-go"), "."]
    except BuildError:
        go = None
    cargo = shutil.which("cargo") or next((str(c) for c in [Path.home() / ".cargo/bin/cargo"] if c.exists()), None)
    rust = [cargo, "build", "--release", "--locked", "--target-dir", str(built / "rust")] if cargo else None
    floors = {  # name: (the build command, where it runs, the binary it makes)
        "Go floor": (go, FLOOR / "go", built / "floor-go"),
        "Rust floor": (rust, FLOOR / "rust", built / "rust" / "release" / "floor-rust"),
    }
    started: dict[str, tuple[str, list[int]]] = {}
    for name, (command, where, binary) in floors.items():
        if command is None:
            print(f"  ({name} skipped: its toolchain is not installed)")
            continue
        done = subprocess.run(command, cwd=where, timeout=900, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} (in {where}) exited {done.returncode}: {done.stderr[-2000:]}")
        port = free_port()
        proc = start_listener(sup, name, [str(binary), f"127.0.0.1:{port}", upstream], port)
        started[name] = (f"http://127.0.0.1:{port}/predictions/digits", [proc.pid])
    return started


def costs_side_by_side(
    sup: Supervisor, tmp: Path, upstream: str, bodies: list[bytes], args: argparse.Namespace
) -> None:
    """The router, nginx and the bare proxies before the same no-op at the same rate: CPU, context switches and
    system calls per request, medians over interleaved rounds (each round in another order), and each over nginx's."""
    nginx_port, _ = start_nginx(sup, upstream.removeprefix("http://"), tmp)
    nginx_pid = sup.procs[-1].pid  # the master; its worker is a child
    path = local.write_router_config(tmp / "router.json", router_config("plain", upstream))
    n = int(args.seconds * args.rate)
    with local.Router(config_file=path, log_level="WARNING") as router:
        router.start()
        assert router.pid is not None
        paths: dict[str, tuple[str, list[int]]] = {
            "router": (f"{router.url}/predictions/digits", [router.pid]),
            "nginx": (f"http://127.0.0.1:{nginx_port}/predictions/digits", [nginx_pid]),
            **floor_proxies(sup, upstream),
        }
        names = list(paths)
        figures: dict[str, dict[str, list[float]]] = {name: {} for name in names}
        for round_ in range(args.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                url, pids = paths[name]

                def load(to: str = url) -> None:
                    asyncio.run(fixed_rate(to, bodies, requests=n, rate=args.rate))

                asyncio.run(fixed_rate(url, bodies, requests=200, rate=args.rate))  # warm-up
                cpu, switches = cpu_seconds(pids), context_switches(pids)
                load()
                row = figures[name]
                row.setdefault("CPU ms per 1,000", []).append((cpu_seconds(pids) - cpu) / n * 1e6)
                row.setdefault("context switches", []).append((context_switches(pids) - switches) / n)
                if shutil.which("strace"):
                    calls = traced_calls(pids, load, tmp / f"strace-{name}.txt")
                    row.setdefault("system calls", []).append(sum(calls.values()) / n)
                    for call, count in calls.items():
                        row.setdefault(f"  {call}", []).append(count / n)
    medians = {name: {k: statistics.median(v) for k, v in row.items()} for name, row in figures.items()}
    keys = sorted(
        {k for m in medians.values() for k in m}, key=lambda k: (k.startswith(" "), -medians["router"].get(k, 0))
    )
    print(f"\n== per request at {args.rate:.0f} req/s, {n} requests x {args.rounds} rounds (medians), all threads;"
          " in brackets: over nginx's")  # fmt: skip
    print(f"  {'':24}" + "".join(f" {name:>18}" for name in names))
    for key in keys:
        values = [medians[name].get(key, 0.0) for name in names]
        peer = medians["nginx"].get(key, 0.0)
        if key.startswith(" ") and max(values) < 0.05:
            continue
        cells = (f"{v:9.2f} ({v / peer:5.2f}x)" if peer and name != "nginx" else f"{v:18.2f}" for v, name in
                 zip(values, names, strict=True))  # fmt: skip
        print(f"  {key:24}" + "".join(f" {cell:>18}" for cell in cells))
    ratios = {name: [a / b for a, b in zip(figures[name]["CPU ms per 1,000"], figures["nginx"]["CPU ms per 1,000"],
                                             strict=True)] for name in names if name != "nginx"}  # fmt: skip
    for name, per_round in ratios.items():
        print(f"  {name} CPU over nginx's, per round: " + ", ".join(f"{r:.2f}x" for r in per_round))
    if not shutil.which("strace"):
        print("  (system calls not counted: strace is not installed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="profiled per mode")
    parser.add_argument("--rate", type=float, default=400.0, help="requests/s through the router")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of the router beside nginx and the floors"
    )
    args = parser.parse_args()
    stop_on_signals()
    bodies = [png for png, _ in held_out_pngs(200)]
    tmp = Path(tempfile.mkdtemp(prefix="visionroll-profile-"))
    sup = Supervisor(tmp, die_with_parent=True)
    try:
        upstream = f"http://127.0.0.1:{start_noop_model(sup, tmp)}"
        for mode in args.modes:
            path = local.write_router_config(tmp / "router.json", router_config(mode, upstream))
            with local.Router(config_file=path, log_level="WARNING", extra_args=["--pprof"]) as router:
                router.start()
                url = f"{router.url}/predictions/digits"
                asyncio.run(fixed_rate(url, bodies, requests=500, rate=args.rate))  # warm-up
                n = int(args.seconds * args.rate)
                profile = tmp / "cpu.pprof"

                def fetch(to: Path = profile) -> None:
                    answer = requests.get(f"{router.metrics_url}/debug/pprof/profile?seconds={args.seconds}",
                                          timeout=args.seconds + 30)  # fmt: skip
                    answer.raise_for_status()
                    to.write_bytes(answer.content)

                profiling = threading.Thread(target=fetch)
                profiling.start()
                before = cpu_seconds(router.pid)
                asyncio.run(fixed_rate(url, bodies, requests=n, rate=args.rate))
                cpu = cpu_seconds(router.pid) - before
                profiling.join()
            print(f"\n== {mode}: router CPU {cpu / n * 1e3:.3f} ms per request at {args.rate:.0f} req/s")
            print("  self time:")
            print(top(profile, args.top, cumulative=False))
            print("  inclusive time:")
            print(top(profile, args.top, cumulative=True))
        costs_side_by_side(sup, tmp, upstream, bodies, args)
    finally:
        sup.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

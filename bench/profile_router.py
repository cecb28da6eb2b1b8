"""Where the router spends its CPU per request: py-spy samples the router process while a fixed-rate load goes
through it to a no-op upstream (an aiohttp server that answers at once, so nothing but the router's own work is
sampled), once per mode: plain forwarding, 100% shadow mirroring, 100% paired copies. Prints, per mode, the router's
CPU per request and the functions with the most samples, by self time and by inclusive time.

    .venv/bin/pip install py-spy          # ad hoc, not a project dependency
    .venv/bin/python bench/profile_router.py [--seconds 20] [--rate 400] [--top 15]

py-spy attaches to a running process by PID, which needs ptrace rights (root, or kernel.yama.ptrace_scope 0).
Every process started is stopped by its PID, also on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from bench_router import cpu_seconds, fixed_rate, start_noop_model

from localkube import local
from localkube.procs import Supervisor, stop_on_signals
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


# The innermost Python frame while uvloop's C code runs: waiting in epoll, or reading sockets and running callbacks
# before they reach Python. py-spy cannot tell waiting apart there, so these samples are left out of the shares.
EVENT_LOOP = "Runner.run (asyncio/runners.py)"


def top_frames(raw: str, limit: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """From py-spy's collapsed stacks ("frame;frame;... count" per line): the frames with the most samples by self
    time (the innermost frame) and by inclusive time (anywhere on the stack, once per stack), and the total, all
    without the samples in the event loop's own C code (EVENT_LOOP)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        # One entry per function, whatever the line (py-spy names frames "function (file:line)").
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        if frames[-1] == EVENT_LOOP:
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    return own.most_common(limit), inclusive.most_common(limit), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="sampled per mode")
    parser.add_argument("--rate", type=float, default=400.0, help="requests/s through the router")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--native", dest="spy_args", action="store_const", const=["--native"], default=[],
                        help="sample C frames too (uvloop, the kernel calls)")  # fmt: skip
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(__import__("sys").executable).parent / "py-spy")
    stop_on_signals()
    bodies = [png for png, _ in held_out_pngs(200)]
    tmp = Path(tempfile.mkdtemp(prefix="visionroll-profile-"))
    sup = Supervisor(tmp, die_with_parent=True)
    try:
        upstream = f"http://127.0.0.1:{start_noop_model(sup)}"
        for mode in args.modes:
            path = local.write_router_config(tmp / "router.json", router_config(mode, upstream))
            with local.Router(config_file=path, log_level="WARNING") as router:
                router.start()
                url = f"{router.url}/predictions/digits"
                asyncio.run(fixed_rate(url, bodies, requests=500, rate=args.rate))  # warm-up
                requests = int(args.seconds * args.rate)
                raw = tmp / "stacks.txt"
                spy = subprocess.Popen(
                    [py_spy, "record", "--pid", str(router.pid), "--duration", str(int(args.seconds)), "--rate",
                     "500", "--format", "raw", "--output", str(raw), *(args.spy_args or ["--nonblocking"])],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                try:
                    before = cpu_seconds(router.pid)
                    asyncio.run(fixed_rate(url, bodies, requests=requests, rate=args.rate))
                    cpu = cpu_seconds(router.pid) - before
                finally:
                    spy.wait(timeout=args.seconds + 30)
            own, inclusive, total = top_frames(raw.read_text(), args.top)
            print(f"\n== {mode}: router CPU {cpu / requests * 1e3:.3f} ms per request at {args.rate:.0f} req/s;"
                  f" {total} samples in Python code (shares below are of these)")  # fmt: skip
            print("  self time:")
            for frame, n in own:
                print(f"  {n / total:6.1%}  {frame}")
            print("  inclusive time:")
            for frame, n in inclusive:
                if frame.startswith(("<module>", "_run_", "main (", "run (uvloop", "Runner.run")):
                    continue
                print(f"  {n / total:6.1%}  {frame}")
    finally:
        sup.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Where the router spends its CPU per request: Go's CPU profile of the router (`--pprof`, on its metrics port) while
a fixed-rate load goes through it to a no-op upstream (nginx answering at once, so nothing but the router's own
work is profiled), once per mode: plain forwarding, 100% shadow mirroring, 100% paired copies. Prints,
per mode, the router's CPU per request and `go tool pprof -top`, by self time and by inclusive time.

    .venv/bin/python bench/profile_router.py [--seconds 20] [--rate 400] [--top 15]

Every process started is stopped by its PID, also on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import requests
from bench_router import cpu_seconds, fixed_rate, start_noop_model

from localkube import images, local
from localkube.build import go_executable
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


def top(profile: Path, limit: int, *, cumulative: bool) -> str:
    """`go tool pprof -top` of the profile, the router's binary for its symbols."""
    command = [go_executable(), "tool", "pprof", "-top", f"-nodecount={limit}", *(["-cum"] if cumulative else [])]
    done = subprocess.run([*command, str(images.router_binary()), str(profile)], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("flat"))
    return "\n".join("  " + line for line in lines[start - 1 :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="profiled per mode")
    parser.add_argument("--rate", type=float, default=400.0, help="requests/s through the router")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
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
    finally:
        sup.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

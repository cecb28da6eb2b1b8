"""python -m localkube build | up | down | status

build   build the pinned binaries into ~/.cache/visionroll/bin (a warm cache does nothing)
up      start a persistent control plane + Prometheus in ~/.cache/visionroll/run/default and print
        `export KUBECONFIG=...` on stdout (so `eval "$(python -m localkube up)"` works)
down    stop every process recorded in the run directory, by PID
status  show what runs there
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from localkube import build, versions
from localkube.cluster import LocalCluster, default_run_dir, http_get
from localkube.procs import Supervisor
from localkube.prometheus import Prometheus


def _err(msg: str) -> None:
    print(f"[localkube] {msg}", file=sys.stderr, flush=True)


def _exports(run_dir: Path) -> str:
    lines = [f"export KUBECONFIG={run_dir / 'kubeconfig'}"]
    prom_state = run_dir / "prometheus" / "state.json"
    if prom_state.exists():
        lines.append(f"export VISIONROLL_PROMETHEUS_URL={json.loads(prom_state.read_text())['url']}")
    return "\n".join(lines)


def _healthy(run_dir: Path) -> bool:
    if not (run_dir / "state.json").exists():
        return False
    cluster = LocalCluster.attach(run_dir)
    if not cluster.supervisor.procs or not all(cluster.running().values()):
        return False
    return cluster.kubectl("get", "--raw=/readyz", check=False, timeout=10).returncode == 0


def cmd_build(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    paths = build.build_all(force=args.force)
    _err(f"build step took {time.monotonic() - t0:.1f} s")
    for name, value in vars(paths).items():
        print(f"{name}: {value}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if _healthy(run_dir):
        _err(f"already running in {run_dir}")
        print(_exports(run_dir))
        return 0
    _stop(run_dir)
    t0 = time.monotonic()
    cluster = LocalCluster.start(run_dir, persistent=True, nodes=args.nodes)
    k8s = versions.KUBERNETES
    _err(f"control plane (Kubernetes {k8s}) up in {cluster.start_seconds:.1f} s; logs in {cluster.log_dir}")
    _err("ready after (s): " + ", ".join(f"{k} {v}" for k, v in cluster.phases.items()))
    if not args.no_prometheus:
        prom = Prometheus.start(run_dir / "prometheus", scrape_interval=args.scrape_interval, persistent=True)
        _err(f"prometheus at {prom.url} (config {prom.config_path})")
    _err(f"all up in {time.monotonic() - t0:.1f} s; stop with `python -m localkube down`")
    print(_exports(run_dir))
    return 0


def _stop(run_dir: Path) -> bool:
    stopped = False
    for d in (run_dir / "prometheus", run_dir):
        sup = Supervisor.load(d)
        if sup.procs:
            names = ", ".join(f"{p.name}[{p.pid}]" for p in sup.procs if p.running())
            sup.stop_all()
            if names:
                _err(f"stopped {names}")
                stopped = True
    return stopped


def cmd_down(args: argparse.Namespace) -> int:
    if not _stop(args.run_dir):
        _err(f"nothing running in {args.run_dir}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    ok = True
    for d in (run_dir, run_dir / "prometheus"):
        for p in Supervisor.load(d).procs:
            alive = p.running()
            ok &= alive
            print(f"{p.name:24} pid {p.pid:<8} {'running' if alive else 'STOPPED'}  log {p.log}")
    if not (run_dir / "state.json").exists() or not Supervisor.load(run_dir).procs:
        print(f"no cluster running in {run_dir} (start one with `python -m localkube up`)")
        return 1
    healthy = _healthy(run_dir)
    print(f"apiserver /readyz: {'ok' if healthy else 'FAILING'}")
    prom_state = run_dir / "prometheus" / "state.json"
    if prom_state.exists():
        url = json.loads(prom_state.read_text())["url"]
        try:
            http_get(f"{url}/-/ready")
            print(f"prometheus {url}: ready")
        except OSError:
            print(f"prometheus {url}: NOT READY")
            ok = False
    print(_exports(run_dir))
    return 0 if ok and healthy else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localkube", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build the pinned binaries (cached by version)")
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p.set_defaults(func=cmd_build)
    for name, func, helptext in (
        ("up", cmd_up, "start a persistent control plane + Prometheus"),
        ("down", cmd_down, "stop it by the recorded PIDs"),
        ("status", cmd_status, "show its processes and health"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--run-dir", type=Path, default=default_run_dir())
        p.set_defaults(func=func)
        if name == "up":
            p.add_argument("--nodes", type=int, default=2, help="fake kwok nodes")
            p.add_argument("--no-prometheus", action="store_true")
            p.add_argument("--scrape-interval", default="2s")
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

"""python -m localkube build | images | bins | preload | up | down | status

build   build the pinned binaries into ~/.cache/visionroll/bin (a warm cache does nothing)
images  build the images pods run (operator, serving, pause) with buildah, cached by their inputs
bins    both at once, and preload as soon as the images and containerd are built (what `make` runs)
preload import the built images into the node's containerd root, so that a node's first start imports nothing
up      start a persistent control plane with a real node (or kwok's fake ones: --mode kwok) + Prometheus in
        ~/.cache/visionroll/run/default and print `export KUBECONFIG=...` on stdout
        (so `eval "$(python -m localkube up)"` works)
down    stop every process recorded in the run directory, by PID, and remove what a node leaves behind
status  show what runs there
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from localkube import build, versions
from localkube.cluster import MODES, STATE_FILE, LocalCluster, default_run_dir, stop_run_dir
from localkube.procs import Supervisor, http_get, stop_on_signals, stop_popens
from localkube.prometheus import STATE_FILE as PROMETHEUS_STATE_FILE
from localkube.prometheus import Prometheus


def _err(msg: str) -> None:
    print(f"[localkube] {msg}", file=sys.stderr, flush=True)


def _cluster(run_dir: Path) -> LocalCluster | None:
    """The cluster started in ``run_dir``, or None when none was."""
    return LocalCluster.attach(run_dir) if (run_dir / STATE_FILE).exists() else None


def _prometheus(run_dir: Path) -> Prometheus | None:
    """The Prometheus started beside the cluster in ``run_dir``, or None when none was."""
    prom_dir = run_dir / "prometheus"
    return Prometheus.attach(prom_dir) if (prom_dir / PROMETHEUS_STATE_FILE).exists() else None


def _exports(run_dir: Path, prom: Prometheus | None) -> str:
    lines = [f"export KUBECONFIG={run_dir / 'kubeconfig'}"]
    if prom is not None:
        lines.append(f"export VISIONROLL_PROMETHEUS_URL={prom.url}")
    return "\n".join(lines)


def _healthy(local: LocalCluster | None, running: dict[str, bool] | None = None) -> bool:
    """Every recorded process of ``local`` runs (``running``: their states, when already checked) and its API server
    answers /readyz."""
    if local is None:
        return False
    running = local.running() if running is None else running
    if not running or not all(running.values()):
        return False
    return local.kubectl("get", "--raw=/readyz", check=False, timeout=10).returncode == 0


def cmd_build(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    paths = build.build_all(force=args.force)
    _err(f"build step took {time.monotonic() - t0:.1f} s")
    for name, value in vars(paths).items():
        print(f"{name}: {value}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if _healthy(_cluster(run_dir)):
        _err(f"already running in {run_dir}")
        print(_exports(run_dir, _prometheus(run_dir)))
        return 0
    _stop(run_dir)
    t0 = time.monotonic()
    cluster = LocalCluster.start(run_dir, persistent=True, nodes=args.nodes, mode=args.mode)
    k8s = versions.KUBERNETES
    _err(f"control plane (Kubernetes {k8s}) up in {cluster.start_seconds:.1f} s; logs in {cluster.log_dir}")
    _err("ready after (s): " + ", ".join(f"{k} {v}" for k, v in cluster.phases.items()))
    if args.no_prometheus:
        prom = _prometheus(run_dir)
    else:
        prom = Prometheus.start(run_dir / "prometheus", scrape_interval=args.scrape_interval, persistent=True)
        _err(f"prometheus at {prom.url} (config {prom.config_path})")
    _err(f"all up in {time.monotonic() - t0:.1f} s; stop with `python -m localkube down`")
    print(_exports(run_dir, prom))
    return 0


def _stop(run_dir: Path) -> bool:
    names = Supervisor.load(run_dir / "prometheus").procs
    running = [f"{p.name}[{p.pid}]" for p in names if p.running()]
    Supervisor.load(run_dir / "prometheus").stop_all()
    running += stop_run_dir(run_dir)
    if running:
        _err(f"stopped {', '.join(running)}")
    return bool(running)


def cmd_down(args: argparse.Namespace) -> int:
    if not _stop(args.run_dir):
        _err(f"nothing running in {args.run_dir}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    local, prom = _cluster(run_dir), _prometheus(run_dir)
    cluster_sup = local.supervisor if local else Supervisor.load(run_dir)
    prom_sup = prom.supervisor if prom else Supervisor.load(run_dir / "prometheus")
    cluster_running = {p.name: p.running() for p in cluster_sup.procs}
    prom_running = {p.name: p.running() for p in prom_sup.procs}
    for sup, running in ((cluster_sup, cluster_running), (prom_sup, prom_running)):
        for p in sup.procs:
            print(f"{p.name:24} pid {p.pid:<8} {'running' if running[p.name] else 'STOPPED'}  log {p.log}")
    ok = all(cluster_running.values()) and all(prom_running.values())
    if local is None or not cluster_running:
        print(f"no cluster running in {run_dir} (start one with `python -m localkube up`)")
        return 1
    healthy = _healthy(local, cluster_running)
    print(f"apiserver /readyz: {'ok' if healthy else 'FAILING'}")
    if prom is not None:
        try:
            http_get(f"{prom.url}/-/ready")
            print(f"prometheus {prom.url}: ready")
        except OSError:
            print(f"prometheus {prom.url}: NOT READY")
            ok = False
    print(_exports(run_dir, prom))
    return 0 if ok and healthy else 1


def cmd_images(args: argparse.Namespace) -> int:
    from localkube import images

    images.cmd_images()
    return 0


def cmd_preload(args: argparse.Namespace) -> int:
    """Import the built images into the node's containerd root (localkube.node.preload_images)."""
    from localkube import images, node
    from localkube.procs import PIDS_FILE, reset_run_dir

    if os.geteuid() != 0:
        _err("preload: skipped (containerd needs root; a node start imports the images)")
        return 0
    t0 = time.monotonic()
    infos = images.ensure_images()  # built by now: nothing builds
    run_dir = build.cache_root() / "run" / "preload"
    reset_run_dir(run_dir, [PIDS_FILE, "node"])

    def import_images(ctr: Path, address: str) -> None:
        images.import_into_containerd(ctr, address, images=infos)

    if not node.preload_images(run_dir, import_images, images.PAUSE_IMAGE):
        _err("preload: skipped (a node's containerd runs; it imports the images itself)")
        return 0
    _err(f"preload: the images are in the node's containerd ({time.monotonic() - t0:.1f} s)")
    return 0


def cmd_bins(args: argparse.Namespace) -> int:
    """`build` and `images` at once, each a process of its own, then `preload` beside the rest of the build: from cold,
    the Go builds keep the two cores ~88% busy for ~25 minutes, and the image builds (~7-11 minutes) wait on downloads
    and the disk about half of theirs. containerd is the build's first binary, so that once the images are built they
    are imported into the node's containerd (a 6.7 GB serving image: minutes of disk) while Go still compiles, and not
    at the first node start. All run to the end, so that every failure is shown; on an interrupt all are stopped
    (their own SIGTERM handling stops what they started)."""
    t0 = time.monotonic()
    steps = {
        name: subprocess.Popen([sys.executable, "-m", "localkube", name], start_new_session=True)
        for name in ("build", "images")
    }
    try:
        if steps["images"].wait() == 0:
            containerd = build.bin_paths().containerd
            while not containerd.exists() and steps["build"].poll() is None:
                time.sleep(1)
            if containerd.exists():
                steps["preload"] = subprocess.Popen(
                    [sys.executable, "-m", "localkube", "preload"], start_new_session=True
                )
        codes = {name: proc.wait() for name, proc in steps.items()}
    finally:
        stop_popens(*steps.values())
    failed = [f"{name} (exit {code})" for name, code in codes.items() if code != 0]
    if failed:
        _err(f"bins: {' and '.join(failed)} failed; their errors are above")
        return 1
    _err(f"bins step ({', '.join(steps)} at once) took {time.monotonic() - t0:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    stop_on_signals()  # a start interrupted by SIGTERM stops what it had started, like one interrupted by Ctrl-C
    parser = argparse.ArgumentParser(prog="python -m localkube", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build the pinned binaries (cached by version)")
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("images", help="build the images pods run (cached by their inputs)")
    p.set_defaults(func=cmd_images)
    p = sub.add_parser("bins", help="build and images at once, then preload beside the build")
    p.set_defaults(func=cmd_bins)
    p = sub.add_parser("preload", help="import the built images into the node's containerd (no node starts)")
    p.set_defaults(func=cmd_preload)
    for name, func, helptext in (
        ("up", cmd_up, "start a persistent control plane + Prometheus"),
        ("down", cmd_down, "stop it by the recorded PIDs"),
        ("status", cmd_status, "show its processes and health"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--run-dir", type=Path, default=default_run_dir())
        p.set_defaults(func=func)
        if name == "up":
            p.add_argument("--mode", choices=MODES, default="node", help="a real node, or kwok's fake nodes")
            p.add_argument("--nodes", type=int, default=2, help="fake kwok nodes (with --mode kwok)")
            p.add_argument("--no-prometheus", action="store_true")
            p.add_argument("--scrape-interval", default="2s")
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

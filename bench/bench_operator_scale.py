"""Benchmark: 200 VisionModels created at once against a real control plane; how long until every one is Ready,
and what the operator costs (peak resident memory, CPU seconds).

Ready means: every owned object exists and the stable serving pods and the router pods are Running and Ready
(kwok plays the kubelet). The operator runs as a child process (`python -m visionroll`) watching the benchmark's
namespace; /proc is sampled for its memory and CPU time. Goal: all Ready in under 60 s, peak RSS under 250 MB.

    .venv/bin/python bench/bench_operator_scale.py [--count 200] [--nodes 8]

$KUBECONFIG, when set, names the cluster to use; otherwise a fresh localkube cluster is started (and stopped).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from localkube.cluster import Cluster, LocalCluster, env_or_local
from localkube.operator_process import OperatorProcess, install_crd
from localkube.procs import stop_on_signals


@contextlib.contextmanager
def a_cluster(base: Path, nodes: int) -> Iterator[Cluster]:
    t0 = time.monotonic()
    with env_or_local(base / "cluster", nodes=nodes, mode="kwok") as cluster:
        if isinstance(cluster, LocalCluster):
            print(f"control plane started in {time.monotonic() - t0:.1f} s ({nodes} kwok nodes)", flush=True)
        yield cluster


def visionmodel(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "visionroll.io/v1alpha1",
        "kind": "VisionModel",
        "metadata": {"name": f"vm-{i:03d}"},
        "spec": {
            "model": {"name": "digits", "version": "1.0", "storageUri": f"https://models.example.com/{i}/digits.mar"},
            "serving": {"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}},
            "rollout": {"strategy": "immediate"},
        },
    }


def count_ready(cluster: Cluster, namespace: str) -> int:
    items = cluster.kubectl_json("get", "visionmodels", "-n", namespace)["items"]
    ready = 0
    for vm in items:
        conditions = {c["type"]: c["status"] for c in vm.get("status", {}).get("conditions", [])}
        ready += conditions.get("Ready") == "True"
    return ready


def count_applied(cluster: Cluster, namespace: str) -> int:
    """VisionModels whose last owned object (the front Service, applied last) exists: the operator's part done."""
    names = cluster.kubectl("get", "services", "-n", namespace, "-o", "name").stdout.split()
    return sum(1 for n in names if n.count("-") == 1)  # service/vm-007 (variant Services are vm-007-<revision>)


def count_ready_deployments(cluster: Cluster, namespace: str) -> int:
    """Deployments (serving and router) whose status already says a replica is ready: the controllers' part."""
    items = cluster.kubectl_json("get", "deployments", "-n", namespace)["items"]
    return sum(1 for d in items if (d.get("status", {}).get("readyReplicas") or 0) > 0)


def operator_summary(metrics: str) -> str:
    values = {}
    for line in metrics.splitlines():
        if line.startswith(("visionroll_reconcile_total", "visionroll_reconcile_duration_seconds_sum")):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    ok = values.get('visionroll_reconcile_total{result="ok"}', 0)
    errors = values.get('visionroll_reconcile_total{result="error"}', 0)
    seconds = values.get("visionroll_reconcile_duration_seconds_sum", 0)
    mean = seconds / max(ok + errors, 1) * 1000
    return f"{ok:.0f} ticks ok, {errors:.0f} failed, mean tick {mean:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--nodes", type=int, default=8, help="kwok nodes of a fresh cluster (110 pods each)")
    parser.add_argument("--workers", type=int, default=8, help="VISIONROLL_WORKERS of the operator")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    stop_on_signals()
    with tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp, a_cluster(Path(tmp), args.nodes) as cluster:
        install_crd(cluster.kubectl)
        namespace = cluster.create_namespace("bench-operator")
        log = Path(tmp) / "operator.log"
        op = OperatorProcess(
            cluster.kubeconfig, namespace=namespace, log_path=log, resync_seconds=60, workers=args.workers
        )
        try:
            op.start()
            op.wait_healthy()
            cpu0 = op.cpu_seconds()
            t0 = time.monotonic()
            manifest = {"apiVersion": "v1", "kind": "List", "items": [visionmodel(i) for i in range(args.count)]}
            cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest), timeout=300)
            created = time.monotonic() - t0
            print(f"{args.count} VisionModels created in {created:.1f} s", flush=True)
            ready, applied, last_print = 0, 0, 0.0
            applied_at: float | None = None
            while ready < args.count:
                if time.monotonic() - t0 > args.timeout:
                    print(f"TIMEOUT: {ready}/{args.count} Ready after {args.timeout:.0f} s; log {log}")
                    print(op.log_tail(40))
                    return 1
                op.check_alive()
                ready = count_ready(cluster, namespace)
                if applied_at is None:
                    applied = count_applied(cluster, namespace)
                    if applied >= args.count:
                        applied_at = time.monotonic() - t0
                if time.monotonic() - last_print > 5:
                    deployments_ready = count_ready_deployments(cluster, namespace)
                    print(
                        f"  {time.monotonic() - t0:5.1f} s: {applied}/{args.count} applied, "
                        f"{deployments_ready}/{2 * args.count} Deployments ready, {ready}/{args.count} Ready",
                        flush=True,
                    )
                    last_print = time.monotonic()
                time.sleep(1.0)
            elapsed = time.monotonic() - t0
            cpu = op.cpu_seconds() - cpu0
            deployments = len(cluster.kubectl_json("get", "deployments", "-n", namespace)["items"])
            pods = cluster.kubectl_json("get", "pods", "-n", namespace, "--field-selector=status.phase=Running")
            time.sleep(5)  # the settled state: what does an idle operator cost
            idle_cpu = op.cpu_seconds() - cpu0 - cpu
            print()
            print(f"VisionModels            {args.count}")
            applied_text = f"{applied_at:.1f} s" if applied_at is not None else "n/a"
            print(f"all objects applied     {applied_text}   (the operator's part; pods follow via the controllers)")
            print(f"all Ready after         {elapsed:.1f} s   (goal < 60 s)")
            print(f"operator peak RSS       {op.peak_rss_mb:.0f} MB   (goal < 250 MB)")
            print(f"operator CPU seconds    {cpu:.1f} s until all Ready, {idle_cpu:.2f} s in the next 5 s")
            print(f"deployments / running pods in the namespace: {deployments} / {len(pods['items'])}")
            print(f"operator ticks          {operator_summary(op.metrics())}")
            return 0
        finally:
            op.stop()
            with contextlib.suppress(Exception):
                cluster.delete_namespace(namespace, wait=False)


if __name__ == "__main__":
    sys.exit(main())

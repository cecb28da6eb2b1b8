"""Time to roll back a failing candidate, and false rollbacks of healthy ones, on the real analysis path.

Real TorchServe (one server holding 1.0 = stable, 4.0 'faulty', 2.0 healthy; the router asks for a version), the
real router, a real Prometheus scraping it every second, the real `PrometheusProvider` and the rollout core. The
reconcile is played in-process by a small driver (the reconcile's own `step`: measure when due, then decide, and a
router config file), so the figure is the detection path without the API server: from the candidate's first traffic
to the config with 100% on stable.

    .venv/bin/python bench/bench_rollback.py --failing 5 --healthy 10      # analysis interval 5 s
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from localkube import local
from localkube.procs import stop_on_signals
from localkube.prometheus import Prometheus
from visionroll.api import Revision, VisionModelSpec, VisionModelStatus
from visionroll.api.status import Replicas
from visionroll.metrics import PrometheusProvider
from visionroll.rollout import step
from visionroll.rollout.types import Context, Observed
from visionroll_serving.samples import held_out_pngs

NAMESPACE, VISIONMODEL = "bench", "digits"


def make_spec(interval: str) -> VisionModelSpec:
    return VisionModelSpec.model_validate(
        {
            "model": {"name": "digits", "version": "2.0", "storageUri": "https://example.com/digits.mar"},
            "rollout": {
                "strategy": "canary",
                "canary": {"steps": [20, 100], "stepDuration": "10s"},
                "analysis": {
                    "interval": interval,
                    "minSamples": 30,
                    "failureLimit": 2,
                    "inconclusiveLimit": 4,
                    "gates": {"errorRate": {"max": 0.01}, "latencyP99": {"maxMs": 2000}, "drift": {"max": 0.2}},
                },
            },
        }
    )


class Load:
    """Closed-loop clients posting held-out digits to the router until stopped."""

    def __init__(self, url: str, *, clients: int = 3) -> None:
        self.url, self.stop_flag = url + "/predictions/digits", threading.Event()
        self.bodies = [png for png, _ in held_out_pngs(200)]
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]
        self.sent = 0

    def _run(self, offset: int) -> None:
        session = requests.Session()
        session.trust_env = False
        for body in itertools.islice(itertools.cycle(self.bodies), offset, None):
            if self.stop_flag.is_set():
                return
            try:
                session.post(self.url, data=body, headers={"Content-Type": "image/png"}, timeout=10)
                self.sent += 1
            except requests.RequestException:
                time.sleep(0.05)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=15)


def router_config(status: VisionModelStatus, upstreams: dict[str, str]) -> dict[str, Any]:
    variants = []
    for role, rev in (("stable", status.stable), ("candidate", status.candidate)):
        if rev is not None:
            weight = status.weights.stable if role == "stable" else status.weights.candidate
            variants.append(
                local.variant(role, rev.version, upstreams[rev.revision], weight=weight, revision=rev.revision)
            )
    shadow = {"variant": "candidate", "percent": status.mirror_percent} if status.mirror_percent else None
    return local.router_config(variants, shadow=shadow, namespace=NAMESPACE, visionmodel=VISIONMODEL)


def one_rollout(
    spec: VisionModelSpec,
    stable: Revision,
    candidate_url: str,
    stable_url: str,
    config_path: Path,
    provider: PrometheusProvider,
    *,
    version: str,
    timeout: float = 180.0,
) -> tuple[str, float]:
    """Drive one rollout to its end; (outcome, seconds from first candidate traffic to 100% on stable or promotion)."""
    cand = Revision(version=version, revision=f"{version.replace('.', '-')}-{uuid.uuid4().hex[:6]}")
    upstreams = {stable.revision: stable_url, cand.revision: candidate_url}
    status = VisionModelStatus(phase="Stable", stable=stable, replicas=Replicas(stable=1))
    first_traffic: float | None = None
    deadline = time.monotonic() + timeout
    generation = 1
    while time.monotonic() < deadline:
        ctx = Context(
            spec=spec,
            status=status,
            generation=generation,
            desired=cand,
            now=datetime.now(UTC),
            observed=Observed(ready={stable.revision: 1, cand.revision: 1}),
        )
        decision = step(
            ctx,
            lambda c: provider.measure(
                namespace=NAMESPACE, visionmodel=VISIONMODEL, spec=c.spec, status=c.status, now=c.now
            ),
        )
        new = decision.status.model_copy(update={"replicas": Replicas(stable=1, candidate=1)})
        if new.weights != status.weights or new.stable != status.stable or new.candidate != status.candidate:
            local.write_router_config(config_path, router_config(new, upstreams))
            if first_traffic is None and new.weights.candidate > 0:
                first_traffic = time.monotonic()
        status = new
        if decision.outcome in ("rolled-back", "promoted"):
            assert first_traffic is not None
            return decision.outcome, time.monotonic() - first_traffic
        time.sleep(0.25)
    return "timeout", timeout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--failing", type=int, default=5)
    parser.add_argument("--healthy", type=int, default=10)
    parser.add_argument("--interval", default="5s")
    args = parser.parse_args()
    stop_on_signals()
    spec = make_spec(args.interval)
    archives = local.build_archives()
    work = Path(tempfile.mkdtemp(prefix="bench-rollback-"))
    stable = Revision(version="1.0", revision=f"1-0-{uuid.uuid4().hex[:6]}")
    prom = Prometheus.start(work / "prometheus")
    try:
        with local.TorchServe([archives.archive(v) for v in ("1.0", "2.0", "4.0")]).start() as ts:
            config_path = work / "router.json"
            status = VisionModelStatus(phase="Stable", stable=stable)
            local.write_router_config(config_path, router_config(status, {stable.revision: ts.inference_url}))
            with local.Router(config_file=config_path).start() as router, Load(router.url) as load:
                prom.add_scrape_target("router", f"127.0.0.1:{router.metrics_port}")
                provider = PrometheusProvider.from_url(prom.url, min_window_seconds=20)
                results: dict[str, list[tuple[str, float]]] = {"failing": [], "healthy": []}
                for kind, version, runs in (("failing", "4.0", args.failing), ("healthy", "2.0", args.healthy)):
                    for i in range(runs):
                        outcome, seconds = one_rollout(
                            spec, stable, ts.inference_url, ts.inference_url, config_path, provider, version=version
                        )
                        results[kind].append((outcome, seconds))
                        print(f"{kind} run {i + 1}/{runs}: {outcome} after {seconds:.1f} s (load sent {load.sent})")
                        time.sleep(2)
    finally:
        prom.stop()
    report(results, args.interval)


def report(results: dict[str, list[tuple[str, float]]], interval: str) -> None:
    failing = [s for o, s in results["failing"] if o == "rolled-back"]
    missed = [o for o, _ in results["failing"] if o != "rolled-back"]
    false_rollbacks = [o for o, _ in results["healthy"] if o != "promoted"]
    print(f"analysis interval {interval}")
    if failing:
        print(
            f"rollback: {len(failing)} runs, median {statistics.median(failing):.1f} s, "
            f"min {min(failing):.1f} s, max {max(failing):.1f} s (goal: median <= 15 s); not rolled back: {missed}"
        )
    print(
        f"healthy: {len(results['healthy'])} rollouts, "
        f"false rollbacks/timeouts: {len(false_rollbacks)} {false_rollbacks}"
    )


if __name__ == "__main__":
    main()

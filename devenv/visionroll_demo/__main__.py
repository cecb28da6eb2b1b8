"""`make demo`: the whole system on this machine, three real rollouts, a timeline picture and a JSON record.

Usage: python -m visionroll_demo [--keep] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localkube.build import cache_root
from localkube.procs import stop_on_signals
from visionroll_demo import timeline
from visionroll_demo.scenarios import SCENARIOS, Recorder, Result, play, thresholds
from visionroll_demo.stack import REPO, Stack, running_stack
from visionroll_demo.traffic import TrafficDriver

BURST_CLIENTS = 4
BURST_RATE = 100.0


def log(message: str) -> None:
    print(message, flush=True)


def load_burst(stack: Stack, recorder: Recorder, log: Callable[[str], None], seconds: float = 90.0) -> dict[str, Any]:
    """A burst of client traffic until the stable's HPA adds a pod (bounded in time); it shows in `kubectl get hpa`
    and in the timeline's replicas row."""
    vm = stack.get()
    stable = (vm.get("status") or {}).get("stable") or {}
    minimum = int(vm["spec"]["autoscaling"]["minReplicas"])
    before = stack.ready_replicas(stable["revision"])
    if before > minimum:
        # The steady client traffic alone has already made the HPA add pods (the replicas row shows when).
        log(f"\n=== load burst: not needed, the client traffic already scaled the stable {minimum} -> {before} pods")
        log(stack.hpas().rstrip())
        return {"replicas_before": minimum, "replicas_peak": before, "scaled": True, "by": "client traffic"}
    log(f"\n=== load burst: {BURST_CLIENTS} clients as fast as they can, until the stable's HPA scales up")
    drivers = [
        TrafficDriver(stack.predictions_url, rate_per_second=BURST_RATE, max_seconds=seconds).start()
        for _ in range(BURST_CLIENTS)
    ]
    peak, deadline = before, time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and peak <= before:
            time.sleep(2)
            peak = max(peak, stack.ready_replicas(stable["revision"]))
    finally:
        for d in drivers:
            d.stop()
    log(f"=== load burst: stable replicas {before} -> {peak}\n{stack.hpas().rstrip()}")
    return {"replicas_before": before, "replicas_peak": peak, "scaled": peak > before, "by": "load burst"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="visionroll_demo", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--keep", action="store_true", help="leave everything running at the end")
    parser.add_argument("--out", type=Path, default=REPO / "out", help="where the PNG and JSON go")
    parser.add_argument("--rate", type=float, default=40.0, help="client requests per second")
    args = parser.parse_args(argv)
    stop_on_signals()
    run_dir = cache_root() / "run" / "demo"
    results: list[Result] = []
    failed = False
    with running_stack(run_dir, log=log) as stack:
        traffic = TrafficDriver(stack.predictions_url, rate_per_second=args.rate).start()
        recorder = Recorder(stack, log).start()
        try:
            time.sleep(5)  # a little stable-only traffic before the first rollout
            for scenario in SCENARIOS:
                result = play(stack, scenario, recorder, log)
                results.append(result)
                failed |= result.outcome != scenario.expect
                time.sleep(5)
            burst = load_burst(stack, recorder, log)
            failed |= not burst["scaled"]
        finally:
            recorder.stop()
            traffic.stop()
        record = {
            "title": "visionroll demo: three rollouts of the digits model, judged by Prometheus",
            "scenarios": [
                {
                    "title": r.scenario.title,
                    "short": r.scenario.short,
                    "version": r.scenario.version,
                    "strategy": r.scenario.rollout["strategy"],
                    "expected": r.scenario.expect,
                    "outcome": r.outcome,
                    "reason": r.reason,
                    "seconds": round(r.seconds, 1),
                    "start": round(r.start, 1),
                    "end": round(r.end, 1),
                    "stable_after": r.stable_version,
                }
                for r in results
            ],
            "client_answers": dict(traffic.codes),
            "load_burst": burst,
            "thresholds": thresholds(),
            "samples": recorder.samples,
            "markers": recorder.markers,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "demo-record.json").write_text(json.dumps(record, indent=2))
        png = timeline.render(record, args.out / "demo-timeline.png")
        log("\n=== summary")
        for r in results:
            mark = "as expected" if r.outcome == r.scenario.expect else f"EXPECTED {r.scenario.expect}"
            log(f"  {r.scenario.title:<46} {r.outcome:<12} in {r.seconds:4.0f}s ({mark}) stable now {r.stable_version}")
        log(f"  client answers by status: {dict(traffic.codes)}")
        log(
            f"  autoscaling: stable scaled {burst['replicas_before']} -> {burst['replicas_peak']} pods"
            f" by {burst['by']} "
            f"({'as expected' if burst['scaled'] else 'EXPECTED a scale-up'})"
        )
        log("\n$ kubectl get visionmodels -n " + stack.namespace + "\n" + stack.visionmodels().rstrip())
        log("\n$ kubectl get pods -n " + stack.namespace + "\n" + stack.pods().rstrip())
        log("\n$ kubectl get hpa -n " + stack.namespace + "\n" + stack.hpas().rstrip())
        log(f"  wrote {png} and {args.out / 'demo-record.json'}")
        if args.keep:
            log(f"\nkept running. export KUBECONFIG={stack.cluster.kubeconfig}   Prometheus: {stack.prometheus.url}")
            log("press Ctrl-C to tear everything down")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupted:  # everything started was stopped on the way out (the `with` blocks)
        print(f"\ninterrupted ({interrupted or 'Ctrl-C'}); everything the demo started is stopped", file=sys.stderr)
        sys.exit(130)
